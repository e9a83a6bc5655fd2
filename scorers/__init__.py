"""Scorers: functions of a completed record that return a score (a bool, a number or a label).

Each built-in is a factory whose keyword arguments are its config (``conf/scorer/NAME.yaml``)::

    _target_: scorers.includes
    ignore_case: true
"""

from scorers._json_schema import json_schema
from scorers._json_valid import json_valid
from scorers._label import exact_label
from scorers._match import includes, match
from scorers._numeric import numeric, parse_numbers
from scorers._regex import regex
from scorers._types import Scorer, ScorerInputError, ScoreValue, field_text, normalize, response_text

__all__ = [
    "ScoreValue",
    "Scorer",
    "ScorerInputError",
    "exact_label",
    "field_text",
    "includes",
    "json_schema",
    "json_valid",
    "match",
    "normalize",
    "numeric",
    "parse_numbers",
    "regex",
    "response_text",
]
