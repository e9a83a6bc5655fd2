"""What the engine does after a failed attempt: decided from the error's class alone.

* :class:`AuthError` stops the whole queue (the key is wrong; every further request would fail too).
* :class:`RateLimited` pauses the queue for the server's retry-after (or a backoff) and is retried.
* Other retryable errors (server errors, timeouts, connection failures) go to the back of the queue,
  pausing it for the server's retry-after when one was sent.
* Everything else (bad request, quota, safety, not found, malformed reply) is recorded at once.
A retry happens only while attempts remain (``max_attempts`` counts the first one). The engine has
applied the wait policy (:func:`providers._ratelimit.with_wait_policy`) to ``error`` first, so a
retry-after here is finite and at most ``MAX_PAUSE_S``, and a longer one already made it a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from providers import AuthError, ProviderError, RateLimited

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


class Action(Enum):
    """What to do with a failed prompt."""

    RECORD = "record"
    RETRY = "retry"
    STOP_QUEUE = "stop_queue"


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, and for a rate limit how long the queue should pause."""

    action: Action
    pause_s: float | None = None


def backoff_s(attempt: int) -> float:
    """Exponential backoff after the ``attempt``-th failure (1, 2, 4... seconds, capped)."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0 ** max(0, attempt - 1))


def decide(error: ProviderError, attempt: int, max_attempts: int) -> Decision:
    """The decision after attempt number ``attempt`` (1-based) failed with ``error``."""
    if isinstance(error, AuthError):
        return Decision(Action.STOP_QUEUE)
    if not error.retryable or attempt >= max_attempts:
        return Decision(Action.RECORD)
    if isinstance(error, RateLimited):
        pause = error.retry_after if error.retry_after is not None else backoff_s(attempt)
        return Decision(Action.RETRY, pause_s=pause)
    return Decision(Action.RETRY, pause_s=error.retry_after)
