"""The scorer contract: a function of a completed record returning a score value.

A scorer is built by a factory whose arguments are its config (``conf/scorer/NAME.yaml`` names the
factory with ``_target_`` and lists the arguments), so a scorer itself takes only the record. It may be
a plain or an async function. It is called only on records that were answered (``error`` is null).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

ScoreValue = bool | int | float | str | None
"""A score: a boolean (pass/fail), a number, or a label. ``None`` means "does not apply"."""


class Scorer(Protocol):
    """What a scorer factory returns."""

    def __call__(self, record: Mapping[str, Any], /) -> ScoreValue | Awaitable[ScoreValue]: ...


class ScorerInputError(ValueError):
    """The record lacks what the scorer needs (recorded on the record under ``score_errors``)."""


def response_text(record: Mapping[str, Any]) -> str:
    """The reply as text: the last reply of a multi-turn prompt."""
    response = record.get("response")
    if isinstance(response, list):
        response = response[-1] if response else ""
    if response is None:
        raise ScorerInputError("the record has no response")
    return str(response)


def field_text(record: Mapping[str, Any], key: str) -> str:
    """A record key as text (JSON for structured values), or :class:`ScorerInputError` if absent."""
    if key not in record or record[key] is None:
        raise ScorerInputError(f"the record has no '{key}'")
    value = record[key]
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def normalize(text: str, *, ignore_case: bool, whitespace: str) -> str:
    """Apply the case and whitespace options shared by the text scorers.

    ``whitespace``: ``keep`` (compare as is), ``strip`` (ends only) or ``collapse`` (strip, and every
    run of whitespace inside becomes one space).
    """
    if whitespace == "strip":
        text = text.strip()
    elif whitespace == "collapse":
        text = " ".join(text.split())
    elif whitespace != "keep":
        raise ValueError(f"whitespace must be keep, strip or collapse, not {whitespace!r}")
    return text.casefold() if ignore_case else text
