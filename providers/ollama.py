"""``api: ollama``: Ollama's native chat API, ``POST {endpoint}/api/chat``; a plain-string prompt on
``POST {endpoint}/api/generate``, as prompto sends it (:mod:`providers._ollama.generate`).

* endpoint: ``endpoint.base_url``, else ``OLLAMA_API_ENDPOINT`` (e.g. ``http://localhost:11434``);
* no key (a local server has no auth);
* parameters go under ``options`` as given (``num_predict``, ``temperature``, ``num_ctx``, ``seed``...),
  except the fields of Ollama's chat request itself (``format``, ``keep_alive``, ``think``, ``logprobs``,
  ``top_logprobs``, ``truncate``, ``shift``...: :data:`providers._ollama.options.REQUEST_LEVEL`), sent at
  the top level;
* ``stream: false`` unless the request streams (Ollama streams NDJSON by default):
  :mod:`providers._ollama.stream`;
* reasoning, response_schema, tools and tool_choice: :mod:`providers._ollama.options`. ``message.thinking``
  is the reply's ``reasoning``, ``message.tool_calls`` its tool calls (arguments already an object);
  ``done_reason: length`` with nothing to show is an ``output_limit`` naming ``options.num_predict``;
* media: images from local files, sent as raw base64 in the message's ``images`` (Ollama takes no URLs).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, ClassVar

import httpx

from providers._base import ProviderContext
from providers._errors import BadRequest, ProviderError
from providers._features import ToolCall, output_limit
from providers._json_api import JsonApiProvider, JsonObject, body_excerpt, malformed
from providers._json_fields import str_at, token_count
from providers._line_stream import StreamClients
from providers._ollama.generate import (
    NUM_PREDICT,
    generate_body,
    is_generate_reply,
    parse_generate,
    uses_generate,
)
from providers._ollama.options import feature_problems, render_features, split
from providers._ollama.stream import complete_streamed
from providers._reply import Completion, Usage
from providers._types import ChatRequest, MediaKind, MediaPart, Message
from providers.http._pool import json_or_none, parse_retry_after, status_error

logger = logging.getLogger("prompto_run")


class OllamaProvider(JsonApiProvider):
    """``/api/chat``: messages with ``images``, ``options``, ``done_reason`` and eval counts; a plain
    string on ``/api/generate``."""

    api: ClassVar[str] = "ollama"
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    endpoint_env: ClassVar[str | None] = "OLLAMA_API_ENDPOINT"
    key_required: ClassVar[bool] = False

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._streams = StreamClients(self)
        self._warned_budget = False

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Images must be local files: ``/api/chat`` takes base64 only, not URLs; features it lacks."""
        problems = super().check_request(request)
        problems += [
            f"api 'ollama' cannot fetch media from a URL ({part.url}): save it under media/ and name the file"
            for part in request.media
            if part.url is not None
        ]
        return problems + feature_problems(request)

    def request_path(self, request: ChatRequest) -> str:
        """``api/generate`` for a plain-string prompt (as prompto), the native chat endpoint otherwise."""
        return "api/generate" if uses_generate(request) else "api/chat"

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """The request-level fields, the messages (or the prompt), ``stream``, the features, ``options``."""
        features = request.features
        if uses_generate(request):
            body, budget = generate_body(request, features)
            self._warn_budget(budget)
            return body
        top, options = split(request.vendor_parameters)
        body = {**top, "model": request.model_name}
        body["messages"] = [await _render(m) for m in request.messages]
        body["stream"] = features.stream
        self._warn_budget(render_features(body, request, features))
        if options:
            body["options"] = options
        return body

    def _warn_budget(self, budget: bool) -> None:
        if budget and not self._warned_budget:
            self._warned_budget = True
            logger.warning(
                "api 'ollama': think takes no token budget: reasoning.budget_tokens is sent as think: "
                "true (use reasoning.effort for gpt-oss models; this warning shows once per run)"
            )

    async def complete(self, request: ChatRequest) -> Completion:
        """One request; a streamed one is read as JSON lines and merged into the same reply."""
        if not request.features.stream:
            return await super().complete(request)
        return await self._streams.complete(request, partial(complete_streamed, self))

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """``message.content``, ``thinking`` and ``tool_calls``, ``done_reason``, the eval counts (a
        ``/api/generate`` reply: ``response``)."""
        if is_generate_reply(payload):
            return parse_generate(payload)
        message = payload.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise malformed("reply has no message content", payload)
        calls = tuple(_tool_call(call) for call in message.get("tool_calls") or () if _is_call(call))
        done_reason = str_at(payload, "done_reason")
        if done_reason == "length" and not message["content"] and not calls:
            raise output_limit(done_reason, None, NUM_PREDICT)
        thinking = message.get("thinking")
        return Completion(
            text=message["content"],
            finish_reason=done_reason,
            usage=Usage(
                token_count(payload.get("prompt_eval_count")), token_count(payload.get("eval_count"))
            ),
            model=str_at(payload, "model"),
            reasoning=thinking if isinstance(thinking, str) and thinking else None,
            tool_calls=calls,
        )

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """``{"error": "model 'x' not found"}`` and the like, classified by status (503: queue full)."""
        status = response.status_code
        return status_error(
            status,
            f"HTTP {status}: {_error_message(response)}",
            retry_after=parse_retry_after(response.headers),
        )


def _is_call(call: Any) -> bool:
    return isinstance(call, dict) and isinstance(call.get("function"), dict) and "name" in call["function"]


def _tool_call(call: JsonObject) -> ToolCall:
    """``{id?, function: {index, name, arguments}}``: arguments an object (a string is decoded)."""
    function = call["function"]
    return ToolCall.from_json_arguments(str(function["name"]), function.get("arguments"), str_at(call, "id"))


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
