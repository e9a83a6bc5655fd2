"""Classification answers: the label the reply gives equals the expected label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scorers._types import Scorer, ScorerInputError, field_text, response_text

_EDGE_PUNCTUATION = " \t\r\n.,;:!?\"'`*()[]"


def exact_label(
    *,
    labels: Sequence[str] = (),
    ignore_case: bool = True,
    expected_key: str = "expected_response",
) -> Scorer:
    """True when the reply, trimmed of surrounding punctuation and markup, is the expected label.

    With ``labels``, a reply that is none of them scores False and an expected value that is none of
    them is an input error (a typo in the data, not a wrong answer).
    """

    def canonical(text: str) -> str:
        text = text.strip(_EDGE_PUNCTUATION)
        return text.casefold() if ignore_case else text

    known = {canonical(label) for label in labels}

    def score(record: Mapping[str, Any]) -> bool:
        expected = canonical(field_text(record, expected_key))
        if known and expected not in known:
            raise ScorerInputError(f"expected label {expected!r} is not one of {sorted(known)}")
        given = canonical(response_text(record))
        return given == expected and (not known or given in known)

    return score
