"""The reply is valid JSON (optionally inside a Markdown code fence, as models often write it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from scorers._types import Scorer, response_text

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)


def json_valid(*, allow_code_fence: bool = True, require_object: bool = False) -> Scorer:
    """True when the reply parses as JSON (``require_object``: and is a JSON object)."""

    def score(record: Mapping[str, Any]) -> bool:
        text = response_text(record).strip()
        fenced = _FENCE.match(text) if allow_code_fence else None
        if fenced:
            text = fenced.group(1)
        try:
            value = json.loads(text)
        except ValueError:
            return False
        return isinstance(value, dict) or not require_object

    return score
