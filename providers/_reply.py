"""What a reply carries back across the provider seam: its text, and everything a study records beside it.

A provider parses its vendor's reply into a :class:`Completion`; the runner writes it into the record
(``response``, ``usage``, ``finish_reason``, ``served_model``, and where the API says them the thinking
text, tool calls and provenance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from providers._features import ToolCall


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the API reported them (``None`` when it did not).

    ``input_tokens`` is the whole prompt, cached and cache-written tokens included; ``output_tokens`` is
    the billed output, reasoning (thinking) tokens included. The other three are subsets of those, for
    the APIs that report them (each billed at its own rate: see :mod:`runner.costs`).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    """Prompt tokens read from the API's prompt cache (OpenAI ``cached_tokens``, Anthropic
    ``cache_read_input_tokens``, Gemini ``cachedContentTokenCount``)."""
    cache_write_tokens: int | None = None
    """Prompt tokens written to the cache (Anthropic ``cache_creation_input_tokens``)."""
    reasoning_tokens: int | None = None
    """Output tokens spent thinking (OpenAI ``reasoning_tokens``, Gemini ``thoughtsTokenCount``)."""

    def __add__(self, other: Usage) -> Usage:
        """The counts of two replies together (the turns of a conversation); unreported stays ``None``."""
        return Usage(*(_sum(getattr(self, name), getattr(other, name)) for name in _USAGE_FIELDS))

    def as_record(self) -> dict[str, int | None]:
        """The ``usage`` field of a record: the three subsets only when the API reported them."""
        record = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        for name in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
            if (value := getattr(self, name)) is not None:
                record[name] = value
        return record


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def _sum(first: int | None, second: int | None) -> int | None:
    return first if second is None else second if first is None else first + second


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What the server said about its own limits on this reply (``x-ratelimit-*`` and the like)."""

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful reply."""

    text: str
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    """The model the server says answered (may be more specific than the one asked for); the record's
    ``served_model``."""
    rate_limit: RateLimitState | None = None
    reasoning: str | None = None
    """The thinking text, where the API returns it (Anthropic ``thinking`` blocks, Gemini thought parts,
    Ollama ``thinking``, ``reasoning_content`` of OpenAI-compatible servers): never part of ``text``."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the model asked to call, normalised across APIs (a reply may hold only these)."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """What answered, as the API says it: ``system_fingerprint``, ``request_id``, ``service_tier``."""
    time_to_first_token_s: float | None = None
    """Seconds from sending to the first streamed token (streamed requests only)."""
