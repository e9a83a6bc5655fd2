"""What a ``generateContent`` reply says besides its text: thoughts, function calls, usage, provenance.

* parts with ``thought: true`` are the thought summary (``Completion.reasoning``, never in the text),
  ``functionCall`` parts the tool calls (``args`` is already JSON; ``id`` where the API gives one);
* usage: ``promptTokenCount`` (plus ``toolUsePromptTokenCount``, the tools' results fed back) is the
  input, ``cachedContentTokenCount`` of it cached; ``candidatesTokenCount`` excludes the thoughts, so the
  billed output is it plus ``thoughtsTokenCount`` (the reasoning tokens);
* provenance: the request id is the ``x-goog-request-id`` header where sent, else the body's
  ``responseId``; Vertex's ``usageMetadata.trafficType`` (``ON_DEMAND``, ``PROVISIONED_THROUGHPUT``,
  ``ON_DEMAND_FLEX``...) is the service tier. ``modelVersion`` is the served model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from providers._features import ToolCall
from providers._json_fields import JsonObject, str_at, token_count
from providers._reply import Usage


def reply_parts(parts: Iterable[Any]) -> tuple[str, str | None, tuple[ToolCall, ...]]:
    """A candidate's parts as its text, its thought summary (``None`` if none) and its function calls."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall")
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            call_id = call.get("id")
            calls.append(
                ToolCall(call["name"], call.get("args", {}), call_id if isinstance(call_id, str) else None)
            )
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    return "".join(text), "".join(thoughts) if thoughts else None, tuple(calls)


def google_usage(usage: JsonObject) -> Usage:
    """``usageMetadata`` as :class:`Usage`."""
    return Usage(
        _input_tokens(usage),
        _output_tokens(usage),
        cached_input_tokens=token_count(usage.get("cachedContentTokenCount")),
        reasoning_tokens=token_count(usage.get("thoughtsTokenCount")),
    )


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """The whole prompt: ``promptTokenCount`` plus what tools (search results...) added to it."""
    prompt, tool_use = (
        token_count(usage.get("promptTokenCount")),
        token_count(usage.get("toolUsePromptTokenCount")),
    )
    return prompt if tool_use is None else (prompt or 0) + tool_use


def provenance(payload: JsonObject, usage: JsonObject, response: httpx.Response) -> dict[str, Any]:
    """The request id (``x-goog-request-id``, else the body's ``responseId``) and Vertex's ``trafficType``."""
    provenance: dict[str, Any] = {}
    if request_id := response.headers.get("x-goog-request-id") or str_at(payload, "responseId"):
        provenance["request_id"] = request_id
    if traffic := str_at(usage, "trafficType"):
        provenance["service_tier"] = traffic
    return provenance


def _output_tokens(usage: dict[str, Any]) -> int | None:
    """Billed output: the candidates' tokens plus thinking tokens (``candidatesTokenCount`` excludes them)."""
    candidates, thoughts = (
        token_count(usage.get("candidatesTokenCount")),
        token_count(usage.get("thoughtsTokenCount")),
    )
    if candidates is None and thoughts is None:
        return None
    return (candidates or 0) + (thoughts or 0)
