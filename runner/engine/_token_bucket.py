"""Tokens per minute for one queue: a token bucket that requests draw their estimated size from.

The bucket holds at most one minute's worth of tokens and refills continuously. A request takes its
estimate before it is sent (prompt characters / 4, plus the ``max_tokens`` it may generate), waiting
until the bucket holds that much; when the reply reports its real usage the difference is given back
or charged (the bucket may go into debt, which later requests wait out). Waiters are served in
arrival order (a :class:`trio.Lock` is fair), so a large request is not starved by small ones.

A request larger than a whole minute's worth is let through once the bucket is full, so that it is
slowed but never blocked forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from providers import ChatRequest, Usage

CHARS_PER_TOKEN = 4
MAX_TOKENS_KEYS = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "max_new_tokens",
    "num_predict",
)
"""Where vendors put the reply's token budget (also looked for one level down: Ollama's ``options``)."""


def estimate_tokens(request: ChatRequest) -> int:
    """Prompt tokens (characters / 4, at least 1) plus the reply's ``max_tokens`` if one is set."""
    characters = sum(len(message.text) for message in request.messages)
    return max(1, characters // CHARS_PER_TOKEN) + _max_tokens(request.parameters)


def _max_tokens(parameters: Mapping[str, Any]) -> int:
    for scope in (parameters, *(v for v in parameters.values() if isinstance(v, Mapping))):
        for key in MAX_TOKENS_KEYS:
            value = scope.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return 0


def usage_tokens(usage: Usage) -> int | None:
    """Tokens a reply actually used, when the API reported both counts."""
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    return usage.input_tokens + usage.output_tokens


@dataclass(frozen=True, slots=True)
class TokenBucketStatistics:
    """A snapshot of one bucket, in trio's ``statistics()`` style."""

    tokens_per_minute: int
    available: float
    tokens_taken: int
    waiting: int


class TokenBucket:
    """``tokens_per_minute`` tokens a minute; :meth:`take` before a request, :meth:`settle` after it."""

    def __init__(self, tokens_per_minute: int) -> None:
        if tokens_per_minute <= 0:
            raise ValueError("tokens_per_minute must be positive")
        self.tokens_per_minute = tokens_per_minute
        self._per_second = tokens_per_minute / 60.0
        self._available = float(tokens_per_minute)
        self._updated = trio.current_time()
        self._taken = 0
        self._waiting = 0
        self._lock = trio.Lock()

    def _refill(self) -> None:
        now = trio.current_time()
        self._available = min(
            float(self.tokens_per_minute), self._available + (now - self._updated) * self._per_second
        )
        self._updated = now

    async def take(self, tokens: int) -> None:
        """Wait until ``tokens`` (capped at a minute's worth) are available, then take them."""
        needed = min(tokens, self.tokens_per_minute)
        self._waiting += 1
        try:
            async with self._lock:
                self._refill()
                while self._available < needed:
                    await trio.sleep((needed - self._available) / self._per_second)
                    self._refill()
                self._available -= tokens
                self._taken += tokens
        finally:
            self._waiting -= 1

    def settle(self, estimated: int, actual: int | None) -> None:
        """Correct an estimate once the reply says what it used (``None``: keep the estimate)."""
        if actual is None:
            return
        self._refill()
        self._available = min(float(self.tokens_per_minute), self._available + estimated - actual)
        self._taken += actual - estimated

    def statistics(self) -> TokenBucketStatistics:
        """Rate, tokens available now (negative: in debt), tokens taken so far, requests waiting."""
        self._refill()
        return TokenBucketStatistics(self.tokens_per_minute, self._available, self._taken, self._waiting)
