"""The records written to ``completed.jsonl``: each input prompt dict, plus what happened to it.

Fields added to the prompt dict (whose own keys are kept untouched, with ``id``, ``api``,
``model_name`` and ``parameters`` as effectively used):

* ``response``: the reply text; for a list-of-strings prompt, the list of replies; ``null`` on failure;
* ``error``: ``null``, or ``{type, message, status}`` (``type`` from :mod:`providers._errors`);
* ``attempts``, ``timestamp_sent`` (ISO 8601, UTC, of the last attempt), ``latency_s``;
* ``usage``: ``{input_tokens, output_tokens}`` where the API reports them; ``finish_reason``;
* ``served_model``: the model the server says answered (it may be more specific than ``model_name``,
  e.g. a dated version), ``null`` where the API does not say or nothing was answered;
* where the API says them: ``reasoning``, ``tool_calls``, ``parsed`` / ``parse_error``,
  ``system_fingerprint``, ``request_id``, ``service_tier``, ``time_to_first_token_s``
  (:func:`reply_fields`);
* ``cost_usd``: what the replies cost, from the usage the API reported (``null`` where the model has no
  price); batch requests at the batch price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from providers import Completion, Usage
from runner.prompts._resolve import ResolvedPrompt
from runner.prompts._routing import QueueKey


@dataclass(frozen=True, slots=True)
class Finished:
    """A record ready to be written, and the queue it came from."""

    queue: QueueKey
    record: dict[str, Any]


def utc_timestamp() -> str:
    """Now, as an ISO 8601 UTC timestamp with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def completed_record(
    prompt: ResolvedPrompt,
    *,
    response: str | list[str] | None,
    error: dict[str, Any] | None,
    attempts: int,
    timestamp_sent: str | None,
    latency_s: float | None,
    usage: Usage | None = None,
    finish_reason: str | None = None,
    served_model: str | None = None,
    cost_usd: float | None = None,
) -> dict[str, Any]:
    """The record for a prompt that is finished, answered or not."""
    return {
        **prompt.data,
        "response": response,
        "error": error,
        "attempts": attempts,
        "timestamp_sent": timestamp_sent,
        "latency_s": None if latency_s is None else round(latency_s, 6),
        "usage": (usage or Usage()).as_record(),
        "finish_reason": finish_reason,
        "served_model": served_model,
        "cost_usd": None if cost_usd is None else round(cost_usd, 8),
    }


def reply_fields(completion: Completion, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What a reply carries besides its text, as record fields (each only where the API said it):
    ``reasoning`` (the thinking text), ``tool_calls``, ``parsed`` (the reply decoded as JSON when the
    request asked for a ``response_schema``; ``parse_error`` when it is not JSON), the provenance
    (``system_fingerprint``, ``request_id``, ``service_tier``) and ``time_to_first_token_s``."""
    fields: dict[str, Any] = {}
    if completion.reasoning is not None:
        fields["reasoning"] = completion.reasoning
    if completion.tool_calls:
        fields["tool_calls"] = [call.as_record() for call in completion.tool_calls]
    if parameters.get("response_schema") is not None:
        try:
            fields["parsed"] = json.loads(completion.text)
        except ValueError as exc:
            fields["parsed"], fields["parse_error"] = None, f"the reply is not JSON: {exc}"
    fields.update({key: value for key, value in completion.provenance.items() if value is not None})
    if completion.time_to_first_token_s is not None:
        fields["time_to_first_token_s"] = round(completion.time_to_first_token_s, 6)
    return fields


def not_sent_record(
    prompt: ResolvedPrompt, reason: str, attempts: int = 0, why: str | None = None
) -> dict[str, Any]:
    """The record for a prompt whose queue stopped before sending it (after an auth failure), or that a
    budget had no room for (``why`` ``budget``: the error's ``reason``)."""
    error: dict[str, Any] = {"type": "not_sent", "message": reason, "status": None}
    if why is not None:
        error["reason"] = why
    return completed_record(
        prompt, response=None, error=error, attempts=attempts, timestamp_sent=None, latency_s=None
    )
