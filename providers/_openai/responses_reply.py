"""A Responses API reply (the ``Response`` object) as a :class:`~providers.Completion`.

* ``output[]`` items: a ``message``'s ``output_text`` parts are the text (a ``refusal`` part is a
  :class:`~providers.SafetyBlocked`); a ``reasoning`` item's ``summary`` texts (or, where a server sends
  them, its ``reasoning_text`` content) are ``Completion.reasoning``; each ``function_call`` is a tool
  call (``call_id``, ``name``, ``arguments`` decoded from JSON). A reply with only calls has text ``""``.
* ``finish_reason``: ``status`` (``completed``), or the reason an ``incomplete`` one gives
  (``max_output_tokens``, ``content_filter``, which is a :class:`~providers.SafetyBlocked`). An
  incomplete reply with neither text nor calls spent its budget (on reasoning, usually): an
  :class:`~providers.OutputLimit` that names ``max_output_tokens``.
* usage: ``input_tokens`` with ``input_tokens_details.cached_tokens`` / ``cache_write_tokens``,
  ``output_tokens`` with ``output_tokens_details.reasoning_tokens``.
* provenance: the ``x-request-id`` header and the ``service_tier`` that served the request.
"""

from __future__ import annotations

from typing import Any

import httpx

from providers._errors import SafetyBlocked, excerpt
from providers._features import ToolCall, output_limit
from providers._json_api import JsonObject, malformed
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._ratelimit import openai_rate_limit
from providers._reply import Completion, Usage

MAX_TOKENS_SETTING = "max_output_tokens"
_DONE = frozenset({"completed", "incomplete"})


def parse_response(payload: JsonObject, response: httpx.Response) -> Completion:
    """``payload`` (a ``Response`` object) as a completion, or the error it stands for."""
    status = str_at(payload, "status")
    if status not in _DONE:
        raise malformed(
            f"response is not finished (status {status!r}): background mode is not supported", payload
        )
    reason = str_at(object_at(payload, "incomplete_details"), "reason") if status == "incomplete" else None
    if reason == "content_filter":
        raise SafetyBlocked(
            "the content filter stopped the reply (incomplete_details.reason 'content_filter')"
        )
    text, reasoning, calls = output_items(list_at(payload, "output"))
    usage = responses_usage(object_at(payload, "usage"))
    finish_reason = reason or status
    if text is None and not calls:
        if status == "incomplete":
            raise output_limit(finish_reason, usage.reasoning_tokens, MAX_TOKENS_SETTING)
        raise malformed("reply has no message and no tool calls (status 'completed')", payload)
    return Completion(
        text=text or "",
        finish_reason=finish_reason,
        usage=usage,
        model=str_at(payload, "model"),
        rate_limit=openai_rate_limit(response.headers),
        reasoning=reasoning,
        tool_calls=calls,
        provenance=provenance(payload, response),
    )


def output_items(items: list[Any]) -> tuple[str | None, str | None, tuple[ToolCall, ...]]:
    """The text (``None`` with no message), the reasoning text (``None`` without) and the calls."""
    text: list[str] | None = None
    summaries: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            text = text or []
            for part in list_at(item, "content"):
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "refusal":
                    raise SafetyBlocked(f"the model refused: {excerpt(str(part.get('refusal', '')))}")
                if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    text.append(part["text"])
        elif kind == "reasoning":
            summaries += _texts(item, "summary", "summary_text")
            thoughts += _texts(item, "content", "reasoning_text")
        elif kind == "function_call" and isinstance(item.get("name"), str):
            call_id = item.get("call_id")
            calls.append(
                ToolCall.from_json_arguments(
                    item["name"], item.get("arguments", ""), call_id if isinstance(call_id, str) else None
                )
            )
    reasoning = summaries or thoughts
    return (
        None if text is None else "".join(text),
        "\n\n".join(reasoning) if reasoning else None,
        tuple(calls),
    )


def _texts(item: JsonObject, field: str, kind: str) -> list[str]:
    return [
        part["text"]
        for part in list_at(item, field)
        if isinstance(part, dict) and part.get("type") == kind and isinstance(part.get("text"), str)
    ]


def responses_usage(usage: JsonObject) -> Usage:
    """``usage`` of a ``Response``: input (cached and cache-written ones included) and output
    (reasoning included) tokens, with their details."""
    input_details = object_at(usage, "input_tokens_details")
    return Usage(
        token_count(usage.get("input_tokens")),
        token_count(usage.get("output_tokens")),
        cached_input_tokens=token_count(input_details.get("cached_tokens")),
        cache_write_tokens=token_count(input_details.get("cache_write_tokens")),
        reasoning_tokens=token_count(object_at(usage, "output_tokens_details").get("reasoning_tokens")),
    )


def provenance(payload: JsonObject, response: httpx.Response) -> dict[str, Any]:
    """The request id (``x-request-id``) and the service tier, where the API reported them."""
    found: dict[str, Any] = {}
    if request_id := response.headers.get("x-request-id"):
        found["request_id"] = request_id
    if tier := str_at(payload, "service_tier"):
        found["service_tier"] = tier
    return found
