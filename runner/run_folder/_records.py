"""The records written to ``completed.jsonl``: each input prompt dict, plus what happened to it.

Fields added to the prompt dict (whose own keys are kept untouched, with ``id``, ``api``,
``model_name`` and ``parameters`` as effectively used):

* ``response``: the reply text; for a list-of-strings prompt, the list of replies; ``null`` on failure;
* ``error``: ``null``, or ``{type, message, status}`` (``type`` from :mod:`providers._errors`);
* ``attempts``, ``timestamp_sent`` (ISO 8601, UTC, of the last attempt), ``latency_s``;
* ``usage``: ``{input_tokens, output_tokens}`` where the API reports them; ``finish_reason``;
* ``served_model``: the model the server says answered (it may be more specific than ``model_name``,
  e.g. a dated version), ``null`` where the API does not say or nothing was answered;
* ``cost_usd``: what the replies cost, from the usage the API reported (``null`` where the model has no
  price); batch requests at the batch price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from providers import Usage
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
