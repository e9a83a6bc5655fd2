"""Google's ``generateContent`` dialect, shared by ``gemini`` (API key) and ``vertexai`` (OAuth token).

Request: ``systemInstruction`` for system messages, ``contents`` with roles ``user`` / ``model``;
parameters under prompto's snake_case names (``max_output_tokens``, ``temperature``, ``top_k``...)
are sent camelCased inside ``generationConfig``, except the request-level fields
(``safety_settings``, ``tools``, ``tool_config``, ``cached_content``, ``labels``) which stay top-level.
prompto's ``safety_filter`` (``none|few|some|default|most``) becomes ``safetySettings`` for the four
harm categories. Nested values are sent as given: the API accepts snake_case inside them too.

Media: a URL becomes ``fileData.fileUri`` (Files API, ``gs://``, YouTube...), a local file
``inlineData`` base64; a part's options (``videoMetadata``...) sit beside it in the same part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from providers._errors import AuthError, ProviderError, QuotaExhausted, SafetyBlocked
from providers._http import json_or_none, parse_retry_after, status_error
from providers._json_api import JsonApiProvider, JsonObject, body_excerpt, malformed
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._ratelimit import parse_duration, retry_hint, throttled
from providers._reply import Completion, Usage
from providers._types import ChatRequest, MediaKind, MediaPart, Message, TextPart

SAFETY_FILTERS = {
    "none": "BLOCK_NONE",
    "few": "BLOCK_ONLY_HIGH",
    "some": "BLOCK_MEDIUM_AND_ABOVE",
    "default": "BLOCK_MEDIUM_AND_ABOVE",
    "most": "BLOCK_LOW_AND_ABOVE",
}
"""prompto's ``safety_filter`` levels and the threshold each sets for every harm category."""
HARM_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
SAFETY_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}
    | {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
)
_SNAKE = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens`` (camelCase names pass through unchanged)."""
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


_REQUEST_LEVEL = frozenset(
    camel(name) for name in ("safety_settings", "tools", "tool_config", "cached_content", "labels")
)


class GenerateContentProvider(JsonApiProvider):
    """Render to ``contents``, parse ``candidates[0]``, classify Google's ``{"error": {...}}`` bodies."""

    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video", "audio", "document"})
    prompt_dict_parameters: ClassVar[frozenset[str]] = frozenset({"safety_filter"})
    error_statuses: ClassVar[Mapping[str, int]] = {  # google.rpc.Code names, for an object without a code
        "INVALID_ARGUMENT": 400,
        "FAILED_PRECONDITION": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "RESOURCE_EXHAUSTED": 429,
        "INTERNAL": 500,
        "UNKNOWN": 500,
        "UNAVAILABLE": 503,
        "DEADLINE_EXCEEDED": 504,
    }

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Unsupported media, and a ``safety_filter`` that is not one of prompto's levels."""
        problems = super().check_request(request)
        level = request.parameters.get("safety_filter")
        if level is not None and level not in SAFETY_FILTERS:
            problems.append(f"safety_filter {level!r} is not one of {', '.join(SAFETY_FILTERS)}")
        return problems

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``contents``, ``systemInstruction`` when present, ``generationConfig`` and request-level fields."""
        body: JsonObject = {"contents": [await _render_turn(turn) for turn in request.turns]}
        if request.system is not None:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        generation_config: JsonObject = {}
        for name, value in request.parameters.items():
            if name == "safety_filter":
                threshold = SAFETY_FILTERS[value]
                body["safetySettings"] = [{"category": c, "threshold": threshold} for c in HARM_CATEGORIES]
            elif name in ("generation_config", "generationConfig") and isinstance(value, dict):
                generation_config.update({camel(key): item for key, item in value.items()})
            elif camel(name) in _REQUEST_LEVEL:
                body[camel(name)] = value
            else:
                generation_config[camel(name)] = value
        if generation_config:
            body["generationConfig"] = generation_config
        return body

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """The first candidate's text, no thoughts; a blocked prompt or reply is :class:`SafetyBlocked`."""
        feedback = object_at(payload, "promptFeedback")
        if block_reason := feedback.get("blockReason"):
            detail = feedback.get("blockReasonMessage")
            raise SafetyBlocked(
                f"the prompt was blocked (blockReason {block_reason})" + (f": {detail}" if detail else "")
            )
        candidates = list_at(payload, "candidates")
        if not candidates or not isinstance(candidates[0], dict):
            raise malformed("reply has no candidates", payload)
        candidate = candidates[0]
        finish_reason = str_at(candidate, "finishReason")
        if finish_reason in SAFETY_FINISH_REASONS:
            raise SafetyBlocked(f"the reply was blocked (finishReason {finish_reason})")
        parts = list_at(object_at(candidate, "content"), "parts")
        text = "".join(
            part["text"]
            for part in parts
            if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
        )
        usage = object_at(payload, "usageMetadata")
        return Completion(
            text=text,
            finish_reason=finish_reason,
            usage=Usage(
                token_count(usage.get("promptTokenCount")),
                _output_tokens(usage),
                cached_input_tokens=token_count(usage.get("cachedContentTokenCount")),
                reasoning_tokens=token_count(usage.get("thoughtsTokenCount")),
            ),
            model=str_at(payload, "modelVersion"),
        )

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """A bad key is a 400 ``API_KEY_INVALID``, a ``…PerDay…`` 429 a quota; ``RetryInfo`` is the wait."""
        status = response.status_code
        error = _error_object(response)
        if error is None:
            return status_error(status, f"HTTP {status}: {body_excerpt(response)}")
        message = str(error.get("message") or "")
        label = f"HTTP {status}" + (f" {error['status']}" if error.get("status") else "") + f": {message}"
        details = [item for item in error.get("details") or [] if isinstance(item, dict)]
        if status == 400 and (
            any(item.get("reason") == "API_KEY_INVALID" for item in details) or "API key not valid" in message
        ):
            return AuthError(label, status=status)
        if status == 429:
            quota_ids = [
                str(violation.get("quotaId", ""))
                for item in details
                for violation in item.get("violations") or []
                if isinstance(violation, dict)
            ]
            if any("PerDay" in quota_id for quota_id in quota_ids):
                return QuotaExhausted(f"{label} (quota {', '.join(quota_ids)})", status=status)
            delays = [parse_duration(str(item["retryDelay"])) for item in details if "retryDelay" in item]
            retry_after = next((delay for delay in delays if delay is not None), None)
            if retry_after is None:
                retry_after = parse_retry_after(response.headers) or retry_hint(message)
            return throttled(label, status=status, retry_after=retry_after)
        return status_error(status, label, retry_after=parse_retry_after(response.headers))


async def _render_turn(message: Message) -> JsonObject:
    role = "model" if message.role == "assistant" else "user"
    if isinstance(message.content, str):
        return {"role": role, "parts": [{"text": message.content}]}
    parts = [
        {"text": part.text} if isinstance(part, TextPart) else await _media_part(part)
        for part in message.content
    ]
    return {"role": role, "parts": parts}


async def _media_part(part: MediaPart) -> JsonObject:
    mime_type = part.resolved_mime_type
    if part.url is not None:
        file_data = {"fileUri": part.url}
        if part.mime_type or mime_type != "application/octet-stream":  # YouTube links have no extension
            file_data["mimeType"] = mime_type
        return {"fileData": file_data, **part.options}
    return {"inlineData": {"mimeType": mime_type, "data": await part.read_base64()}, **part.options}


def _output_tokens(usage: dict[str, Any]) -> int | None:
    """Billed output: the candidates' tokens plus thinking tokens (``candidatesTokenCount`` excludes them)."""
    candidates, thoughts = (
        token_count(usage.get("candidatesTokenCount")),
        token_count(usage.get("thoughtsTokenCount")),
    )
    if candidates is None and thoughts is None:
        return None
    return (candidates or 0) + (thoughts or 0)


def _error_object(response: httpx.Response) -> dict[str, Any] | None:
    """Google's ``{"error": {code, message, status, details}}`` (or a list holding it), else ``None``."""
    body = json_or_none(response)
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None
