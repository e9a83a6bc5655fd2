"""Prompt templates for judges and rephrasers: ``str.format`` placeholders filled from a record.

``{prompt}`` is the prompt as text (a multi-turn or chat prompt is written out turn by turn),
``{response}`` the reply (the last one for a multi-turn prompt); every other placeholder names a key
of the record. prompto's own placeholders (its judge and rephrase folders' templates) are filled as
prompto fills them: ``{INPUT_PROMPT}`` and ``{OUTPUT_RESPONSE}`` are the record's ``prompt`` and
``response`` as ``str.format`` writes them, a list as Python writes it (``['one', 'two']``). Literal
braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping
from typing import Any

PROMPTO_PLACEHOLDERS = {"INPUT_PROMPT": "prompt", "OUTPUT_RESPONSE": "response"}
"""prompto's placeholder names, and the record key each one shows."""


class TemplateError(ValueError):
    """A template that cannot be used (bad syntax, a placeholder with an attribute or index)."""


class Template:
    """A parsed template: which keys it needs, and how to fill it."""

    def __init__(self, text: str, *, where: str) -> None:
        self.text = text
        self.where = where
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as exc:
            raise TemplateError(f"{where}: template is not valid: {exc}") from None
        for name in fields:
            if not name.isidentifier() and not name.replace("-", "_").isidentifier():
                hint = "write literal braces as {{ and }}"
                raise TemplateError(f"{where}: placeholder {{{name}}} must be a plain key name ({hint})")
        self.fields = tuple(dict.fromkeys(fields))

    def missing(self, available: Iterable[str]) -> list[str]:
        """The placeholders not among ``available``."""
        keys = set(available)
        keys |= {name for name, key in PROMPTO_PLACEHOLDERS.items() if key in keys}
        return [name for name in self.fields if name not in keys]

    def render(self, record: Mapping[str, Any], **extra: Any) -> str:
        """The template filled from ``record`` (and ``extra``); KeyError if a placeholder is missing."""
        values = {name: _value(name, record, extra) for name in self.fields}
        return self.text.format_map(values)


def _value(name: str, record: Mapping[str, Any], extra: Mapping[str, Any]) -> str:
    if name in PROMPTO_PLACEHOLDERS and name not in extra and name not in record:
        key = PROMPTO_PLACEHOLDERS[name]
        return str(extra[key] if key in extra else record[key])  # as prompto's str.format shows it
    return _text(name, extra[name] if name in extra else record[name])


def _text(name: str, value: Any) -> str:
    if name == "prompt":
        return prompt_text(value)
    if name == "response" and isinstance(value, list):
        return str(value[-1]) if value else ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def prompt_text(prompt: Any) -> str:
    """A prompt as plain text: a string as is; a list of turns or chat messages one per line."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        lines = []
        for turn in prompt:
            if isinstance(turn, dict):
                content = turn.get("content", turn.get("parts", ""))
                if not isinstance(content, str):
                    content = json.dumps(content, ensure_ascii=False)
                lines.append(f"{turn.get('role', 'user')}: {content}")
            else:
                lines.append(str(turn))
        return "\n".join(lines)
    return json.dumps(prompt, ensure_ascii=False)
