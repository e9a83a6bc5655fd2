"""Google's ``generateContent`` dialect, shared by ``gemini`` (API key) and ``vertexai`` (OAuth token).

Request: ``systemInstruction`` for system messages, ``contents`` with roles ``user`` / ``model``;
parameters under prompto's snake_case names (``max_output_tokens``, ``temperature``, ``top_k``...)
are sent camelCased inside ``generationConfig``, except the request-level fields
(``safety_settings``, ``tools``, ``tool_config``, ``cached_content``, ``labels``) which stay top-level.
prompto's ``safety_filter`` (``none|few|some|default|most``) becomes ``safetySettings`` for the four
harm categories. Field names inside nested values are camelCased too (``thinking_config: {thinking_budget:
0}``), the only names Vertex's discovery document defines; a schema's or label's own keys never are.

Media: a URL becomes ``fileData.fileUri`` (Files API, ``gs://``, YouTube...), a local file
``inlineData`` base64; of a part's options, those the API's ``Part`` defines for its kind
(:attr:`GenerateContentProvider.part_options`: ``videoMetadata`` on a video...) sit beside it in the
same part, and the others (OpenAI's ``detail``), which ``Part`` would refuse as unknown fields, are
dropped with a warning, once per option and run.

reasoning, response_schema, tools, tool_choice and stream: :mod:`providers._google.features` and
:mod:`providers._google.stream`. A reply's thought parts are its ``reasoning``, its ``functionCall``
parts its ``tool_calls``; one that stopped at ``MAX_TOKENS`` with neither text nor calls (its budget
spent thinking) is an :class:`~providers.OutputLimit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import ClassVar

import httpx

from providers._base import ProviderContext
from providers._errors import ProviderError, SafetyBlocked
from providers._features import output_limit
from providers._google.errors import classify_google_error
from providers._google.features import (
    FREE_FORM,
    camel,
    camel_keys,
    feature_problems,
    features_of,
    media_options,
    render_features,
    split_tools,
)
from providers._google.reply import google_usage, provenance, reply_parts
from providers._google.stream import complete_streamed
from providers._json_api import JsonApiProvider, JsonObject, malformed
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._line_stream import StreamClients
from providers._reply import Completion
from providers._types import ChatRequest, MediaKind, MediaPart, Message, TextPart

logger = logging.getLogger("prompto_run")

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
MAX_TOKENS_SETTING = "max_output_tokens (generationConfig.maxOutputTokens)"


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
    part_options: ClassVar[Mapping[str, frozenset[str]]] = {"video": frozenset({"videoMetadata"})}
    """The ``Part`` fields a media part's options may set, per kind (camelCase; snake_case is read too)."""

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._streams = StreamClients(self)
        self._dropped_options: set[str] = set()

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Unsupported media, and a ``safety_filter`` that is not one of prompto's levels."""
        problems = super().check_request(request)
        level = request.parameters.get("safety_filter")
        if level is not None and level not in SAFETY_FILTERS:
            problems.append(f"safety_filter {level!r} is not one of {', '.join(SAFETY_FILTERS)}")
        return problems + feature_problems(request)

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``contents``, ``systemInstruction`` when present, ``generationConfig`` and request-level fields."""
        body: JsonObject = {
            "contents": [await _render_turn(turn, self._media_options) for turn in request.turns]
        }
        if request.system is not None:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        native_tools, _ = split_tools(request.parameters)
        generation_config: JsonObject = {}
        for name, value in request.vendor_parameters.items():
            if name == "safety_filter":
                threshold = SAFETY_FILTERS[value]
                body["safetySettings"] = [{"category": c, "threshold": threshold} for c in HARM_CATEGORIES]
            elif name in ("generation_config", "generationConfig") and isinstance(value, dict):
                generation_config.update(camel_keys(value))
            elif camel(name) in _REQUEST_LEVEL:
                body[camel(name)] = value if camel(name) in FREE_FORM else camel_keys(value)
            else:
                generation_config.update(camel_keys({name: value}))
        render_features(body, generation_config, request, native_tools)
        if generation_config:
            body["generationConfig"] = generation_config
        return body

    def _media_options(self, part: MediaPart) -> JsonObject:
        return media_options(part, self.part_options, self._drop_option)

    def _drop_option(self, key: str) -> None:
        if key not in self._dropped_options:
            self._dropped_options.add(key)
            logger.warning(
                "api '%s': media option %r is not a field of its Part: dropped (this warning shows once "
                "per run)",
                self.api,
                key,
            )

    def method(self, request: ChatRequest) -> str:
        """``generateContent``, or ``streamGenerateContent?alt=sse`` for a streamed request."""
        return "streamGenerateContent?alt=sse" if features_of(request).stream else "generateContent"

    async def complete(self, request: ChatRequest) -> Completion:
        """One request; a streamed one is read as server-sent events and merged into the same reply."""
        if not features_of(request).stream:
            return await super().complete(request)
        return await self._streams.complete(request, partial(complete_streamed, self))

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
        text, reasoning, tool_calls = reply_parts(list_at(object_at(candidate, "content"), "parts"))
        usage = object_at(payload, "usageMetadata")
        thoughts = token_count(usage.get("thoughtsTokenCount"))
        if finish_reason == "MAX_TOKENS" and not text and not tool_calls:
            raise output_limit(finish_reason, thoughts, MAX_TOKENS_SETTING)
        return Completion(
            text=text,
            finish_reason=finish_reason,
            usage=google_usage(usage),
            model=str_at(payload, "modelVersion"),
            reasoning=reasoning,
            tool_calls=tool_calls,
            provenance=provenance(payload, usage, response),
        )

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """A bad key is a 400 ``API_KEY_INVALID``, a ``…PerDay…`` 429 a quota; ``RetryInfo`` is the wait."""
        return classify_google_error(response)


async def _render_turn(message: Message, options: Callable[[MediaPart], JsonObject]) -> JsonObject:
    role = "model" if message.role == "assistant" else "user"
    if isinstance(message.content, str):
        return {"role": role, "parts": [{"text": message.content}]}
    parts = [
        {"text": part.text} if isinstance(part, TextPart) else await _media_part(part, options(part))
        for part in message.content
    ]
    return {"role": role, "parts": parts}


async def _media_part(part: MediaPart, options: JsonObject) -> JsonObject:
    mime_type = part.resolved_mime_type
    if part.url is not None:
        file_data = {"fileUri": part.url}
        if part.mime_type or mime_type != "application/octet-stream":  # YouTube links have no extension
            file_data["mimeType"] = mime_type
        return {"fileData": file_data, **options}
    return {"inlineData": {"mimeType": mime_type, "data": await part.read_base64()}, **options}
