"""A number in the reply equals the expected number within a tolerance."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from scorers._types import Scorer, ScorerInputError, field_text, response_text

_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def parse_numbers(text: str) -> list[float]:
    """Every number written in ``text``, in order (``1,234.5`` reads as 1234.5)."""
    return [float(found.group(0).replace(",", "")) for found in _NUMBER.finditer(text)]


def numeric(
    *,
    tolerance: float = 1e-6,
    relative: bool = False,
    which: str = "last",
    expected_key: str = "expected_response",
) -> Scorer:
    """True when the ``which`` (``first`` or ``last``) number in the reply is within ``tolerance``.

    ``relative``: the tolerance is a fraction of the expected value. A reply with no number is False.
    """
    if which not in ("first", "last"):
        raise ValueError(f"which must be 'first' or 'last', not {which!r}")

    def score(record: Mapping[str, Any]) -> bool:
        expected_numbers = parse_numbers(field_text(record, expected_key))
        if len(expected_numbers) != 1:
            raise ScorerInputError(f"'{expected_key}' is not one number")
        numbers = parse_numbers(response_text(record))
        if not numbers:
            return False
        got = numbers[-1] if which == "last" else numbers[0]
        expected = expected_numbers[0]
        if relative:
            return math.isclose(got, expected, rel_tol=tolerance, abs_tol=0.0)
        return abs(got - expected) <= tolerance

    return score
