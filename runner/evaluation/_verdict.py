"""Reading a judge's reply into a score, as its :class:`~runner.config._eval_config.VerdictSpec` says."""

from __future__ import annotations

import re

from runner.config._eval_config import VerdictSpec
from scorers import ScoreValue, parse_numbers

_EDGE = " \t\r\n.,;:!?\"'`*()[]"


class VerdictError(ValueError):
    """The reply holds no verdict the parser can read (recorded as a ``judge_parse`` error)."""


class VerdictParser:
    """Built once per judge; :meth:`parse` turns one reply into a score or raises VerdictError."""

    def __init__(self, spec: VerdictSpec) -> None:
        flags = re.IGNORECASE if spec.ignore_case else 0
        self._regex = re.compile(spec.regex, flags | re.DOTALL) if spec.regex else None
        self._ignore_case = spec.ignore_case
        self._as_text = spec.as_text
        labels = spec.labels
        mapping: dict[str, ScoreValue] | None
        if labels is None:
            mapping = None
        elif isinstance(labels, dict):
            mapping = dict(labels)
        else:
            mapping = {label: label for label in labels}
        self._labels = None if mapping is None else {self._fold(k): v for k, v in mapping.items()}
        self._label_patterns = (
            {}
            if mapping is None
            else {self._fold(k): re.compile(rf"(?<!\w){re.escape(k)}(?!\w)", flags) for k in mapping}
        )

    def _fold(self, text: str) -> str:
        text = text.strip(_EDGE)
        return text.casefold() if self._ignore_case else text

    def parse(self, reply: str) -> ScoreValue:
        """The score the reply gives."""
        text = reply
        if self._regex is not None:
            found = self._regex.search(reply)
            if found is None:
                raise VerdictError(f"the reply does not match {self._regex.pattern!r}")
            text = found.group(1) if found.re.groups else found.group(0)
            if text is None:
                raise VerdictError(f"the reply matched {self._regex.pattern!r} without its verdict group")
        if self._as_text:
            if not text.strip():
                raise VerdictError("the reply is empty")
            return text.strip()
        if self._labels is not None:
            return self._label(text)
        numbers = parse_numbers(text)
        if len(numbers) != 1:
            raise VerdictError(f"expected one number as the verdict, found {len(numbers)}")
        number = numbers[0]
        return int(number) if number.is_integer() else number

    def _label(self, text: str) -> ScoreValue:
        assert self._labels is not None
        folded = self._fold(text)
        if folded in self._labels:
            return self._labels[folded]
        named = {key for key, pattern in self._label_patterns.items() if pattern.search(text)}
        if len(named) == 1:
            return self._labels[named.pop()]
        known = ", ".join(repr(label) for label in self._labels)
        if named:
            raise VerdictError(f"the reply names several labels ({', '.join(sorted(named))})")
        raise VerdictError(f"the reply names none of the labels {known}")
