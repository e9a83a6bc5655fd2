"""prompto's two text scorers: the reply equals, or includes, the record's ``expected_response``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scorers._types import Scorer, field_text, normalize, response_text


def match(
    *, ignore_case: bool = False, whitespace: str = "strip", expected_key: str = "expected_response"
) -> Scorer:
    """True when the reply equals ``record[expected_key]`` (after the case and whitespace options)."""
    normalize(" ", ignore_case=ignore_case, whitespace=whitespace)  # reject a bad option at build time

    def score(record: Mapping[str, Any]) -> bool:
        expected = normalize(field_text(record, expected_key), ignore_case=ignore_case, whitespace=whitespace)
        return normalize(response_text(record), ignore_case=ignore_case, whitespace=whitespace) == expected

    return score


def includes(
    *, ignore_case: bool = False, whitespace: str = "strip", expected_key: str = "expected_response"
) -> Scorer:
    """True when the reply contains ``record[expected_key]`` (after the case and whitespace options)."""
    normalize(" ", ignore_case=ignore_case, whitespace=whitespace)

    def score(record: Mapping[str, Any]) -> bool:
        expected = normalize(field_text(record, expected_key), ignore_case=ignore_case, whitespace=whitespace)
        return expected in normalize(response_text(record), ignore_case=ignore_case, whitespace=whitespace)

    return score
