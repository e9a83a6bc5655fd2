"""A finished record in prompto 0.2.1's shape: what ``prompto_run_experiment`` writes in prompto's files.

prompto writes the prompt dict as its line had it (no ``id`` it lacked, no ``parameters: {}``, no
``safety_filter`` copied into ``parameters``), then what ``Experiment.generate_text`` and the API
class add, in that order:

* ``timestamp_sent``: local time, ``%d-%m-%Y-%H-%M-%S`` (prompto's ``TIMESTAMP_FORMAT``);
* ``response``: the reply (a list for a multi-turn prompt), or on failure the error as prompto words
  it: ``"An unexpected error occurred when querying the API: (<Type> - <message>) after maximum <N>
  attempts"``; the structured ``error`` object is kept beside it on failed records only;
* ``safety_attributes`` (Gemini, Vertex AI): ``{<category>: "<probability number>", "blocked":
  "[False, ...]", "finish_reason": "STOP"}``, from the record's ``safety_ratings`` (Gemini's
  ``safetyRatings``; ``null`` when the reply had no candidate), left out when the record has none;
* each scorer's result as a top-level key (``match``, ``includes``), as ``--scorer`` adds them.

Everything else prompto-run records (usage, latency, cost, attempts...) stays in the run folder's own
``completed.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

PROMPTO_TIME_FORMAT = "%d-%m-%Y-%H-%M-%S"
"""prompto's ``TIMESTAMP_FORMAT``: its file names and its records' ``timestamp_sent``."""
SAFETY_APIS = frozenset({"gemini", "vertexai"})
_PROBABILITIES = {
    "HARM_PROBABILITY_UNSPECIFIED": 0,
    "NEGLIGIBLE": 1,
    "LOW": 2,
    "MEDIUM": 3,
    "HIGH": 4,
}
BLOCKED_SAFETY_ATTRIBUTES = {"blocked": "True", "finish_reason": "block_reason: OTHER"}
"""What prompto records for a Gemini reply with no candidate (its ``BLOCKED_SAFETY_ATTRIBUTES``)."""

_OPENAI_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}
_OPENAI_APIS = frozenset({"openai", "azure-openai", "huggingface-tgi"})
"""prompto's clients for these are the ``openai`` SDK's: its errors name the exception."""
_OPENAI_NO_STATUS = {
    "request_timeout": ("APITimeoutError", "Request timed out."),
    "connection_failed": (
        "APIConnectionError",
        "Connection error.",
    ),
}


def prompto_timestamp(iso: str | None) -> str | None:
    """An ISO 8601 timestamp (prompto-run's) as prompto's, in local time."""
    if iso is None:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone().strftime(PROMPTO_TIME_FORMAT)


def error_text(record: Mapping[str, Any], max_attempts: int) -> str:
    """A failed record's ``response`` as prompto words an error that outlasted every attempt."""
    error = record.get("error") or {}
    kind, message = _exception(record.get("api"), error)
    return (
        f"An unexpected error occurred when querying the API: ({kind} - {message}) "
        f"after maximum {max_attempts} attempts"
    )


def _exception(api: Any, error: Mapping[str, Any]) -> tuple[str, str]:
    """The exception name and text prompto's client would have raised, as near as the record says."""
    status, message = error.get("status"), str(error.get("message", ""))
    if api in _OPENAI_APIS:
        if isinstance(status, int):
            name = _OPENAI_ERRORS.get(status, "InternalServerError" if status >= 500 else "APIStatusError")
            return name, _openai_status_text(status, error)
        if str(error.get("type")) in _OPENAI_NO_STATUS:
            return _OPENAI_NO_STATUS[str(error["type"])]
    return str(error.get("type", "Exception")), message


def _openai_status_text(status: int, error: Mapping[str, Any]) -> str:
    """The ``openai`` SDK's text: ``Error code: 400 - {'error': {...}}`` (the body as a Python dict)."""
    body = error.get("body")
    if isinstance(body, str):
        try:
            return f"Error code: {status} - {json.loads(body)}"
        except ValueError:
            return body.strip() or f"Error code: {status}"
    return f"Error code: {status} - {error.get('message', '')}"


def safety_attributes(ratings: Any, finish_reason: Any) -> dict[str, str]:
    """Gemini's ``safetyRatings`` (JSON) as prompto's ``process_safety_attributes`` writes them."""
    if not isinstance(ratings, list):
        return dict(BLOCKED_SAFETY_ATTRIBUTES)
    attributes = {
        str(rating.get("category")): str(_PROBABILITIES.get(str(rating.get("probability")), 0))
        for rating in ratings
        if isinstance(rating, dict)
    }
    blocked = [bool(rating.get("blocked", False)) for rating in ratings if isinstance(rating, dict)]
    attributes["blocked"] = str(blocked)
    attributes["finish_reason"] = str(finish_reason or "STOP").upper()
    return attributes


def prompto_record(
    record: Mapping[str, Any],
    line: Mapping[str, Any] | None,
    *,
    max_attempts: int,
    scorers: Collection[str],
) -> dict[str, Any]:
    """``record`` (a prompto-run record) as prompto writes it; ``line`` is the prompt dict as its file
    had it (None when unknown: the record's own prompt keys are used)."""
    shaped: dict[str, Any] = dict(line) if line is not None else _prompt_keys(record)
    for key in ("api", "model_name"):
        if key not in shaped and key in record:  # set by experiment.api or model=: prompto needs them
            shaped[key] = record[key]
    shaped["timestamp_sent"] = prompto_timestamp(record.get("timestamp_sent"))
    failed = record.get("error") is not None
    shaped["response"] = error_text(record, max_attempts) if failed else record.get("response")
    if record.get("api") in SAFETY_APIS and not failed and "safety_ratings" in record:
        shaped["safety_attributes"] = safety_attributes(
            record.get("safety_ratings"), record.get("finish_reason")
        )
    if failed:
        shaped["error"] = record["error"]
    else:
        scores = record.get("scores") or {}
        for name in scorers:
            if name in PROMPTO_SCORERS and "expected_response" in shaped:
                shaped[name] = PROMPTO_SCORERS[name](shaped["response"], shaped["expected_response"])
            elif name in scores:
                shaped[name] = scores[name]
    return shaped


PROMPTO_SCORERS: dict[str, Callable[[Any, Any], Any]] = {
    "match": lambda response, expected: response == expected,
    "includes": lambda response, expected: expected in response,
}
"""prompto's own scorers, as ``prompto.scorer`` computes them: on the whole response (a multi-turn
prompt's list of replies too), where prompto-run's score the last reply."""


RUN_FIELDS = frozenset(
    {
        "response",
        "error",
        "attempts",
        "timestamp_sent",
        "latency_s",
        "usage",
        "finish_reason",
        "served_model",
        "cost_usd",
        "reasoning",
        "tool_calls",
        "parsed",
        "parse_error",
        "system_fingerprint",
        "request_id",
        "service_tier",
        "time_to_first_token_s",
        "safety_ratings",
        "scores",
        "judgements",
    }
)
"""What a run adds to a prompt dict (:mod:`runner.run_folder._records`)."""


def _prompt_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in RUN_FIELDS}
