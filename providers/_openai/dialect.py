"""The OpenAI Chat Completions dialect, shared by every API that speaks it.

``openai``, ``azure-openai``, ``huggingface-tgi`` and ``openai-compatible`` subclass
:class:`OpenAIDialectProvider`; each override there says which quirk of its server it answers.

Request: ``POST {base}/chat/completions`` with ``model``, ``messages`` and the prompt's
``parameters`` at the top level under OpenAI's own names (``max_tokens``, ``temperature``...), and
the neutral features (reasoning, response_schema, tools, stream) in the dialect's shape
(:mod:`providers._openai.features`). System messages stay messages; media parts become ``image_url``
parts whose ``url`` is the image's URL or a ``data:`` URI, with the part's options (``detail``) beside it.

Reply: ``choices[0].message``: its text, tool calls, thinking text (:mod:`providers._openai.reply`);
a streamed reply is merged into the same (:mod:`providers._openai.stream`). A reply with no text and no
tool calls that stopped at its token limit is an :class:`~providers.OutputLimit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import httpx

from providers._base import ProviderContext
from providers._errors import BadRequest, ProviderError, QuotaExhausted, SafetyBlocked, excerpt
from providers._features import RequestFeatures, output_limit
from providers._json_api import JsonApiProvider, JsonObject, body_excerpt, malformed
from providers._json_fields import list_at, object_at, str_at
from providers._line_stream import StreamClients
from providers._openai import features, reply
from providers._openai.stream import complete_streamed
from providers._ratelimit import exhausted_reset, openai_rate_limit, retry_hint, throttled
from providers._reply import Completion
from providers._types import ChatRequest, MediaKind, MediaPart, Message, TextPart
from providers.http._pool import json_or_none, parse_retry_after, status_error


class OpenAIDialectProvider(JsonApiProvider):
    """Chat Completions: render messages, parse ``choices[0]``, classify ``{"error": {...}}`` bodies."""

    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    error_statuses: ClassVar[Mapping[str, int]] = {
        "invalid_request_error": 400,
        "invalid_api_key": 401,
        "authentication_error": 401,
        "permission_error": 403,
        "model_not_found": 404,
        "not_found_error": 404,
        "insufficient_quota": 429,
        "rate_limit_exceeded": 429,
        "server_error": 500,
        "api_error": 500,
    }

    reasoning_by_name: ClassVar[bool] = False
    """Whether OpenAI's reasoning models are known by name here (:func:`~providers._openai.features.
    is_reasoning_model`): ``max_tokens`` sent as ``max_completion_tokens``, refused sampling parameters
    reported before the run. A compatible server's names are its own."""
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    """The reply headers that carry the server's request id, first found wins."""
    image_options: ClassVar[frozenset[str] | None] = None
    """The ``image_url`` options the API defines (``detail``), sent from a media part's options; the
    others are dropped, with a notice once per run. ``None``: all sent (a compatible server's own)."""

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._streams = StreamClients(self)

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Media the dialect cannot send, and what the API would refuse of the request's features and
        parameters (a reasoning model's sampling parameters...)."""
        problems = super().check_request(request)
        return problems + features.request_problems(cls.api, request, reasoning_by_name=cls.reasoning_by_name)

    def request_path(self, request: ChatRequest) -> str:
        """``chat/completions`` under the base URL (which carries the version, e.g. ``…/v1``)."""
        return "chat/completions"

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``model`` and ``messages``, the prompt's own parameters, then the features in this API's shape
        (the unstreamed body: a batch line is this too)."""
        messages = [await render_message(message, self.image_options) for message in request.messages]
        parameters = self.vendor_parameters(request)
        return {
            **parameters,
            **self.feature_fields(request.features),
            "model": request.model_name,
            "messages": messages,
        }

    def vendor_parameters(self, request: ChatRequest) -> dict[str, Any]:
        """The prompt's parameters as sent: as given, ``max_tokens`` renamed for a reasoning model."""
        if self.reasoning_by_name and features.is_reasoning_model(request.model_name):
            return features.for_reasoning_model(request.vendor_parameters)
        return request.vendor_parameters

    def feature_fields(self, requested: RequestFeatures) -> JsonObject:
        """The neutral features as request fields (OpenAI's shapes)."""
        return features.feature_fields(requested)

    def max_tokens_name(self, model: str) -> str:
        """The setting that caps a reply's tokens, for the ``output_limit`` message."""
        reasoning_model = self.reasoning_by_name and features.is_reasoning_model(model)
        return "max_completion_tokens" if reasoning_model else "max_tokens"

    async def complete(self, request: ChatRequest) -> Completion:
        """The reply, read as server-sent events when the request asks for ``stream: true``."""
        if not request.features.stream:
            return await super().complete(request)
        return await self._streams.complete(request, partial(complete_streamed, self))

    def outcome_of(self, response: httpx.Response) -> Completion:
        """A 2xx reply (a stream's chunks merged into one) parsed as :meth:`complete` parses one."""
        return self._parse(response)

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """``choices[0].message.content``; a content filter or refusal is a :class:`SafetyBlocked`."""
        choices = list_at(payload, "choices")
        if not choices or not isinstance(choices[0], dict):
            raise malformed("reply has no choices", payload)
        choice = choices[0]
        message = object_at(choice, "message")
        finish_reason = str_at(choice, "finish_reason")
        if finish_reason == "content_filter":
            filtered = _filtered_categories(choice)
            raise SafetyBlocked(
                f"the content filter stopped the reply{filtered} (finish_reason 'content_filter')"
            )
        if refusal := message.get("refusal"):
            raise SafetyBlocked(f"the model refused: {excerpt(str(refusal))}")
        content, calls, usage = message.get("content"), reply.tool_calls(message), reply.usage(payload)
        if not content and not calls and finish_reason == "length":
            named = self.max_tokens_name(self.model_name)  # the deployment's name, else the served one's
            if named == "max_tokens":
                named = self.max_tokens_name(str_at(payload, "model") or "")
            raise output_limit(finish_reason, usage.reasoning_tokens, named)
        if content is None and calls:
            content = ""  # a reply that holds only tool calls
        if not isinstance(content, str):
            raise malformed(f"reply has no text content (finish_reason {finish_reason!r})", payload)
        return Completion(
            text=content,
            finish_reason=finish_reason,
            usage=usage,
            model=str_at(payload, "model"),
            rate_limit=openai_rate_limit(response.headers),
            reasoning=reply.reasoning(message),
            tool_calls=calls,
            provenance=reply.provenance(payload, response.headers, self.request_id_headers),
        )

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """Status first, refined by the body: quota and "Request too large" 429s, content-filter 400s."""
        status = response.status_code
        message, codes = error_details(response)
        label = f"HTTP {status}" + (f" ({', '.join(sorted(codes))})" if codes else "") + f": {message}"
        retry_after = parse_retry_after(response.headers)
        if retry_after is None:
            retry_after = retry_hint(message)
        if "insufficient_quota" in codes:
            return QuotaExhausted(label, status=status)
        if status == 429:
            if "request too large" in message.lower():  # bigger than the whole TPM limit: never succeeds
                return BadRequest(label, status=status)
            if retry_after is None:
                retry_after = exhausted_reset(openai_rate_limit(response.headers))
            return throttled(label, status=status, retry_after=retry_after)
        if "content_filter" in codes:  # Azure (and proxies in front of it) refuse a filtered prompt with 400
            return SafetyBlocked(label, status=status)
        return status_error(status, label, retry_after=retry_after)


async def render_message(message: Message, image_options: frozenset[str] | None = None) -> JsonObject:
    """One message: a string stays a string; parts become ``text`` / ``image_url`` parts, each image
    with the options ``image_options`` names (all, when ``None``)."""
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    parts = [
        {"type": "text", "text": part.text}
        if isinstance(part, TextPart)
        else await _image_part(part, image_options)
        for part in message.content
    ]
    return {"role": message.role, "content": parts}


async def _image_part(part: MediaPart, keep: frozenset[str] | None) -> JsonObject:
    options = part.options if keep is None else features.kept_options(part.options, keep)
    return {"type": "image_url", "image_url": {"url": await part.data_uri(), **options}}


def error_details(response: httpx.Response) -> tuple[str, set[str]]:
    """The message and the machine-readable codes of an error reply, in any of the dialect's shapes.

    OpenAI ``{"error": {"message", "type", "code"}}`` (vLLM: ``code`` is the status as an int),
    TGI ``{"error": "...", "error_type": "..."}``, old vLLM ``{"object": "error", "message": ...}``,
    and bodies that are not JSON at all (a proxy's HTML page).
    """
    body = json_or_none(response)
    if not isinstance(body, dict):
        return body_excerpt(response), set()
    error = body.get("error")
    if isinstance(error, dict):
        fields, message = error, error.get("message")
    elif isinstance(error, str):
        fields, message = body, error
    else:
        fields, message = body, body.get("message")
    codes = {fields.get("type"), fields.get("code"), body.get("error_type")}
    return (
        excerpt(str(message)) if message else body_excerpt(response),
        {code for code in codes if isinstance(code, str) and code and not code.isdigit()},  # Azure: "429"
    )


def _filtered_categories(choice: JsonObject) -> str:
    """Azure's ``content_filter_results`` categories that fired, as `` (hate, violence)``."""
    results = object_at(choice, "content_filter_results")
    fired = sorted(
        name for name, result in results.items() if isinstance(result, dict) and result.get("filtered")
    )
    return f" ({', '.join(fired)})" if fired else ""
