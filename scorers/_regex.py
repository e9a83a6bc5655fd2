"""The reply matches a regular expression."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scorers._types import Scorer, response_text


def regex(*, pattern: str, ignore_case: bool = False, full: bool = False) -> Scorer:
    """True when ``pattern`` is found in the reply (``full``: when it matches the whole stripped reply)."""
    compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)

    def score(record: Mapping[str, Any]) -> bool:
        text = response_text(record)
        found = compiled.fullmatch(text.strip()) if full else compiled.search(text)
        return found is not None

    return score
