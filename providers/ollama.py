"""``api: ollama``: Ollama's native chat API, ``POST {endpoint}/api/chat`` with ``"stream": false``.

* endpoint: ``endpoint.base_url``, else ``OLLAMA_API_ENDPOINT`` (e.g. ``http://localhost:11434``);
* no key (a local server has no auth);
* parameters go under ``options`` as given (``num_predict``, ``temperature``, ``num_ctx``, ``seed``...),
  except the request-level fields ``format``, ``keep_alive``, ``think`` and ``tools``;
* media: images from local files, sent as raw base64 in the message's ``images`` (Ollama takes no URLs).
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from providers._errors import BadRequest, ProviderError
from providers._http import json_or_none, parse_retry_after, status_error
from providers._json_api import JsonApiProvider, JsonObject, body_excerpt, malformed
from providers._json_fields import str_at, token_count
from providers._reply import Completion, Usage
from providers._types import ChatRequest, MediaKind, MediaPart, Message

REQUEST_LEVEL = frozenset({"format", "keep_alive", "think", "tools", "stream"})
"""Parameters that are fields of the request rather than model ``options`` (``stream`` is forced off)."""


class OllamaProvider(JsonApiProvider):
    """``/api/chat``: messages with ``images``, ``options``, ``done_reason`` and eval counts."""

    api: ClassVar[str] = "ollama"
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    endpoint_env: ClassVar[str | None] = "OLLAMA_API_ENDPOINT"
    key_required: ClassVar[bool] = False

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Images must be local files: ``/api/chat`` takes base64 only, not URLs."""
        problems = super().check_request(request)
        problems += [
            f"api 'ollama' cannot fetch media from a URL ({part.url}): save it under media/ and name the file"
            for part in request.media
            if part.url is not None
        ]
        return problems

    def request_path(self, request: ChatRequest) -> str:
        """The native chat endpoint."""
        return "api/chat"

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``stream: false`` always: Ollama streams NDJSON unless told not to."""
        options = {name: value for name, value in request.parameters.items() if name not in REQUEST_LEVEL}
        body: JsonObject = {
            name: value for name, value in request.parameters.items() if name in REQUEST_LEVEL
        }
        body |= {"model": request.model_name, "messages": [await _render(m) for m in request.messages]}
        body["stream"] = False
        if options:
            body["options"] = options
        return body

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """``message.content``, ``done_reason``, ``prompt_eval_count`` / ``eval_count``."""
        message = payload.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise malformed("reply has no message content", payload)
        return Completion(
            text=message["content"],
            finish_reason=str_at(payload, "done_reason"),
            usage=Usage(
                token_count(payload.get("prompt_eval_count")), token_count(payload.get("eval_count"))
            ),
            model=str_at(payload, "model"),
        )

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """``{"error": "model 'x' not found"}`` and the like, classified by status (503: queue full)."""
        status = response.status_code
        return status_error(
            status,
            f"HTTP {status}: {_error_message(response)}",
            retry_after=parse_retry_after(response.headers),
        )


async def _render(message: Message) -> JsonObject:
    rendered: JsonObject = {"role": message.role, "content": message.text}
    if not isinstance(message.content, str):
        images = [part for part in message.content if isinstance(part, MediaPart)]
        if any(part.url is not None for part in images):
            raise BadRequest("api 'ollama' takes images as base64 only, not URLs")
        if images:
            rendered["images"] = [await part.read_base64() for part in images]
    return rendered


def _error_message(response: httpx.Response) -> str:
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if error else body_excerpt(response)
