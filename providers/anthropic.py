"""``api: anthropic``: Anthropic's Messages API (``POST /v1/messages``).

* key: ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_API_KEY_<model>``), sent as ``x-api-key`` with
  ``anthropic-version: 2023-06-01``;
* base URL: ``endpoint.base_url``, else ``ANTHROPIC_BASE_URL``, else ``https://api.anthropic.com``;
* parameters: Anthropic's own names (``max_tokens``, ``temperature``, ``top_k``, ``stop_sequences``...).
  ``max_tokens`` is required by the API: when a prompt does not set it, :data:`DEFAULT_MAX_TOKENS` is sent;
* system messages go to the top-level ``system`` field;
* media: images and PDF documents, by URL (``source.type: url``) or inline base64; a part's options
  are kept on its content block where the block defines them (``cache_control``, an image's
  ``transformations``, a document's ``citations``, ``context``, ``title``); others (OpenAI's ``detail``)
  are dropped with a warning, once per option and run: the blocks are closed objects;
* reasoning, response_schema, tools and tool_choice: :mod:`providers._anthropic.features`; ``stream``:
  :mod:`providers._anthropic.stream`. ``thinking`` blocks are the reply's ``reasoning`` (a
  ``redacted_thinking`` block is noted there, its encrypted data never), ``tool_use`` blocks its tool
  calls; ``usage.output_tokens_details.thinking_tokens`` its reasoning tokens; the ``request-id`` header
  and ``usage.service_tier`` its provenance. ``stop_reason: max_tokens`` with nothing to show is an
  ``output_limit`` naming ``max_tokens``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, ClassVar

import httpx

from providers._anthropic.features import feature_problems, media_options, render_features
from providers._anthropic.stream import complete_streamed
from providers._base import ProviderContext
from providers._errors import ProviderError, QuotaExhausted, SafetyBlocked, excerpt
from providers._features import ToolCall, output_limit
from providers._json_api import JsonApiProvider, JsonObject, body_excerpt, malformed
from providers._json_fields import object_at, str_at, token_count
from providers._line_stream import StreamClients
from providers._ratelimit import anthropic_rate_limit, throttled
from providers._reply import Completion, Usage
from providers._types import ChatRequest, MediaKind, MediaPart, Message, TextPart
from providers.http._pool import json_or_none, parse_retry_after, status_error

logger = logging.getLogger("prompto_run")

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent when a prompt's parameters lack it: the API requires one, and 4096 fits every
current model's output cap while staying far below the SDK's ten-minute non-streaming limit."""

_QUOTA_CODES = {"enforced_spend_limit_reached", "billing_error"}


class AnthropicProvider(JsonApiProvider):
    """Messages API: top-level ``system``, content blocks, ``stop_reason``."""

    api: ClassVar[str] = "anthropic"
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "document"})
    endpoint_env: ClassVar[str | None] = "ANTHROPIC_BASE_URL"
    default_endpoint: ClassVar[str | None] = "https://api.anthropic.com"
    key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    batch_api: ClassVar[str | None] = "providers.batch.anthropic:AnthropicBatch"
    error_statuses: ClassVar[Mapping[str, int]] = {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "billing_error": 402,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "rate_limit_error": 429,
        "api_error": 500,
        "overloaded_error": 529,
    }

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._streams = StreamClients(self)
        self._warned: set[str] = set()

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Unsupported media, and what Anthropic refuses with thinking or on Claude 4.7+ (sampling)."""
        return super().check_request(request) + feature_problems(request)

    def static_headers(self, api_key: str | None) -> dict[str, str]:
        """``x-api-key`` and the (still only) API version."""
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def request_path(self, request: ChatRequest) -> str:
        """The Messages endpoint."""
        return "v1/messages"

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``model``, ``max_tokens`` (defaulted), ``system`` when present, the turns, the parameters and
        the features in Anthropic's shape."""
        body: JsonObject = {"max_tokens": DEFAULT_MAX_TOKENS, **request.vendor_parameters}
        body["model"] = request.model_name
        if request.system is not None:
            body["system"] = request.system
        body["messages"] = [await _render_turn(turn, self._drop_option) for turn in request.turns]
        asked = render_features(body, request, request.features)
        if asked is not None:
            self._warn_once(
                "max_tokens",
                f"api 'anthropic': max_tokens {asked} is not above the thinking budget: sent as "
                f"{body['max_tokens']} (budget + {asked}), as Anthropic requires max_tokens above "
                "budget_tokens (this warning shows once per run)",
            )
        return body

    def _drop_option(self, key: str) -> None:
        self._warn_once(
            f"option {key}",
            f"api 'anthropic': media option {key!r} is not a field of its content block: dropped (this "
            "warning shows once per run)",
        )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("%s", message)

    async def complete(self, request: ChatRequest) -> Completion:
        """One request; a streamed one is read as server-sent events and merged into the same reply."""
        if not request.features.stream:
            return await super().complete(request)
        return await self._streams.complete(request, partial(complete_streamed, self))

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """The ``text`` blocks joined, ``thinking`` blocks as reasoning, ``tool_use`` blocks as tool calls;
        ``stop_reason: refusal`` is a :class:`SafetyBlocked`."""
        stop_reason = str_at(payload, "stop_reason")
        if stop_reason == "refusal":
            raise SafetyBlocked("the model's safety classifier refused the reply (stop_reason 'refusal')")
        content = payload.get("content")
        if not isinstance(content, list):
            raise malformed("reply has no content list", payload)
        blocks = [block for block in content if isinstance(block, dict)]
        text = "".join(_texts(blocks, "text", "text"))
        calls = tuple(
            ToolCall(str(block["name"]), block.get("input"), str_at(block, "id"))
            for block in blocks
            if block.get("type") == "tool_use" and isinstance(block.get("name"), str)
        )
        usage = object_at(payload, "usage")
        thinking_tokens = token_count(object_at(usage, "output_tokens_details").get("thinking_tokens"))
        if stop_reason == "max_tokens" and not text and not calls:
            raise output_limit(stop_reason, thinking_tokens, "max_tokens")
        return Completion(
            text=text,
            finish_reason=stop_reason,
            usage=Usage(
                _input_tokens(usage),
                token_count(usage.get("output_tokens")),
                cached_input_tokens=token_count(usage.get("cache_read_input_tokens")),
                cache_write_tokens=token_count(usage.get("cache_creation_input_tokens")),
                reasoning_tokens=thinking_tokens,
            ),
            model=str_at(payload, "model"),
            rate_limit=anthropic_rate_limit(response.headers),
            reasoning=_reasoning(blocks),
            tool_calls=calls,
            provenance={
                "request_id": response.headers.get("request-id"),
                "service_tier": str_at(usage, "service_tier"),
            },
        )

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """Spend caps (``enforced_spend_limit_reached``) and 402 billing are quotas; 529 is a server error."""
        status = response.status_code
        message, codes = _error_details(response)
        label = f"HTTP {status}" + (f" ({', '.join(sorted(codes))})" if codes else "") + f": {message}"
        if status == 402 or codes & _QUOTA_CODES:
            return QuotaExhausted(label, status=status)
        retry_after = parse_retry_after(response.headers)
        if status == 429:
            return throttled(label, status=status, retry_after=retry_after)
        return status_error(status, label, retry_after=retry_after)


async def _render_turn(message: Message, drop: Callable[[str], None]) -> JsonObject:
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    blocks = [
        {"type": "text", "text": part.text} if isinstance(part, TextPart) else await _media_block(part, drop)
        for part in message.content
    ]
    return {"role": message.role, "content": blocks}


async def _media_block(part: MediaPart, drop: Callable[[str], None]) -> JsonObject:
    if part.url is not None:
        source: JsonObject = {"type": "url", "url": part.url}
    else:
        source = {"type": "base64", "media_type": part.resolved_mime_type, "data": await part.read_base64()}
    kind = "image" if part.kind == "image" else "document"
    options, dropped = media_options(kind, part.options)
    for key in dropped:
        drop(key)
    return {"type": kind, "source": source, **options}


def _texts(blocks: list[JsonObject], kind: str, name: str) -> list[str]:
    return [block[name] for block in blocks if block.get("type") == kind and isinstance(block.get(name), str)]


def _reasoning(blocks: list[JsonObject]) -> str | None:
    """The thinking text; redacted blocks (encrypted by Anthropic's safety systems) noted, not shown."""
    parts = _texts(blocks, "thinking", "thinking")
    if redacted := sum(1 for block in blocks if block.get("type") == "redacted_thinking"):
        parts.append(f"[{redacted} redacted_thinking block(s): encrypted, not readable]")
    return "\n\n".join(parts) if parts else None


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """``input_tokens`` excludes cached tokens: the prompt's size is the sum of all three."""
    counts = [
        token_count(usage.get(name))
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    return None if counts[0] is None else sum(count or 0 for count in counts)


def _error_details(response: httpx.Response) -> tuple[str, set[str]]:
    """``{"type": "error", "error": {"type", "message", "details": {"error_code"}}}``, or an excerpt."""
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return body_excerpt(response), set()
    details = object_at(error, "details")
    codes = {error.get("type"), details.get("error_code")}
    message = error.get("message")
    return (
        excerpt(str(message)) if message else body_excerpt(response),
        {code for code in codes if isinstance(code, str) and code},
    )
