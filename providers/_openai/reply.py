"""Reading a Chat Completions reply beyond its text: tool calls, thinking text, usage details, provenance.

* ``message.tool_calls[]`` (``{id, type: function, function: {name, arguments}}``, ``arguments`` a JSON
  string at OpenAI, an object at TGI) and the legacy ``message.function_call``;
* ``message.reasoning_content`` (vLLM, llama.cpp, DeepSeek-style servers) or ``message.reasoning``
  (OpenRouter, recent vLLM): the thinking text, never part of the answer; OpenAI itself returns none;
* ``usage.prompt_tokens_details.cached_tokens``, ``usage.completion_tokens_details.reasoning_tokens``;
* ``system_fingerprint`` and ``service_tier`` from the body, the request id from a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from providers._features import ToolCall
from providers._json_fields import JsonObject, list_at, object_at, str_at, token_count
from providers._reply import Usage

REASONING_FIELDS = ("reasoning_content", "reasoning")


def usage(payload: JsonObject) -> Usage:
    """``prompt_tokens`` (cached ones included) and ``completion_tokens`` (reasoning included), with
    ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``."""
    counts = object_at(payload, "usage")
    return Usage(
        token_count(counts.get("prompt_tokens")),
        token_count(counts.get("completion_tokens")),
        cached_input_tokens=token_count(object_at(counts, "prompt_tokens_details").get("cached_tokens")),
        reasoning_tokens=token_count(object_at(counts, "completion_tokens_details").get("reasoning_tokens")),
    )


def tool_calls(message: JsonObject) -> tuple[ToolCall, ...]:
    """The calls the model asked for, in order (entries without a function name are not calls)."""
    calls = []
    for entry in list_at(message, "tool_calls"):
        function = object_at(entry, "function") if isinstance(entry, dict) else {}
        if (name := str_at(function, "name")) is not None:
            calls.append(ToolCall.from_json_arguments(name, function.get("arguments"), str_at(entry, "id")))
    legacy = object_at(message, "function_call")
    if not calls and (name := str_at(legacy, "name")) is not None:
        calls.append(ToolCall.from_json_arguments(name, legacy.get("arguments")))
    return tuple(calls)


def reasoning(message: JsonObject) -> str | None:
    """The thinking text a server returned beside the answer (``None`` when it returned none)."""
    for name in REASONING_FIELDS:
        if (text := str_at(message, name)) is not None and text:
            return text
    return None


def provenance(payload: JsonObject, headers: Mapping[str, str], id_headers: Iterable[str]) -> dict[str, Any]:
    """What answered, as the reply says it: ``system_fingerprint``, ``service_tier``, ``request_id``
    (the first of ``id_headers`` present)."""
    said: dict[str, Any] = {}
    for name in ("system_fingerprint", "service_tier"):
        if value := str_at(payload, name):
            said[name] = value
    for header in id_headers:
        if value := headers.get(header):
            said["request_id"] = value
            break
    return said
