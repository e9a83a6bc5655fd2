"""The OpenAI Chat Completions dialect, shared by every API that speaks it.

``openai``, ``azure-openai``, ``huggingface-tgi`` and ``openai-compatible`` subclass
:class:`OpenAIDialectProvider`; each override there says which quirk of its server it answers.

Request: ``POST {base}/chat/completions`` with ``model``, ``messages`` and the prompt's
``parameters`` at the top level under OpenAI's own names (``max_tokens``, ``temperature``...).
System messages stay messages; media parts become ``image_url`` parts whose ``url`` is the
image's URL or a ``data:`` URI, with the part's options (``detail``) beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx

from providers._errors import BadRequest, ProviderError, QuotaExhausted, SafetyBlocked, excerpt
from providers._http import json_or_none, parse_retry_after, status_error
from providers._json_api import JsonApiProvider, JsonObject, body_excerpt, malformed
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._ratelimit import exhausted_reset, openai_rate_limit, retry_hint, throttled
from providers._reply import Completion, Usage
from providers._types import ChatRequest, MediaKind, MediaPart, Message, TextPart


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

    def request_path(self, request: ChatRequest) -> str:
        """``chat/completions`` under the base URL (which carries the version, e.g. ``…/v1``)."""
        return "chat/completions"

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``model`` and ``messages``, then the prompt's parameters as given."""
        messages = [await render_message(message) for message in request.messages]
        return {**request.parameters, "model": request.model_name, "messages": messages}

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
        content = message.get("content")
        if not isinstance(content, str):
            raise malformed(f"reply has no text content (finish_reason {finish_reason!r})", payload)
        return Completion(
            text=content,
            finish_reason=finish_reason,
            usage=_usage(object_at(payload, "usage")),
            model=str_at(payload, "model"),
            rate_limit=openai_rate_limit(response.headers),
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


def _usage(usage: JsonObject) -> Usage:
    """``prompt_tokens`` (cached ones included) and ``completion_tokens`` (reasoning included), with
    ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``."""
    return Usage(
        token_count(usage.get("prompt_tokens")),
        token_count(usage.get("completion_tokens")),
        cached_input_tokens=token_count(object_at(usage, "prompt_tokens_details").get("cached_tokens")),
        reasoning_tokens=token_count(object_at(usage, "completion_tokens_details").get("reasoning_tokens")),
    )


async def render_message(message: Message) -> JsonObject:
    """One message: a string stays a string; parts become ``text`` / ``image_url`` parts."""
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    parts = [
        {"type": "text", "text": part.text} if isinstance(part, TextPart) else await _image_part(part)
        for part in message.content
    ]
    return {"role": message.role, "content": parts}


async def _image_part(part: MediaPart) -> JsonObject:
    return {"type": "image_url", "image_url": {"url": await part.data_uri(), **part.options}}


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
