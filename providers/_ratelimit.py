"""What servers say about their own limits: rate-limit headers, reset durations and retry hints.

Formats (wire-protocols §11): OpenAI and Azure send ``x-ratelimit-remaining-*`` integers and
``x-ratelimit-reset-*`` Go durations (``"12ms"``, ``"6m0s"``); Anthropic sends
``anthropic-ratelimit-*-remaining`` integers and RFC 3339 ``-reset`` timestamps; Gemini sends a
protobuf Duration (``"23s"``) in the body's ``RetryInfo``. Messages add "Please try again in 1.2s"
(OpenAI), "Please retry in 23.47s" (Gemini) and "Please retry after 6 seconds" (Azure).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from providers._errors import ProviderError, QuotaExhausted, RateLimited
from providers._reply import RateLimitState

MAX_PAUSE_S = 600.0
"""The longest a queue pauses on a server's word (a retry-after, a rate-limit reset); then it asks again."""
QUOTA_WAIT_S = 3600.0
"""A server asking for a longer wait than this describes a quota (Azure's "retry after 86400 seconds"),
not a rate: the request that asked is recorded as failed, and a reset that far off is not waited for."""

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION_PART = r"\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s)"
_DURATION = re.compile(rf"(?:{_DURATION_PART})+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_TRY_AGAIN_IN = re.compile(rf"(?:try again|retry) in ((?:{_DURATION_PART})+)", re.IGNORECASE)
_RETRY_AFTER_SECONDS = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go duration (``6m0s``, ``12ms``) or protobuf Duration (``29.7s``); ``None`` if neither."""
    if text is None:
        return None
    text = text.strip()
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))


def retry_hint(message: str) -> float | None:
    """The wait a human-readable error message asks for, if it names one."""
    if match := _TRY_AGAIN_IN.search(message):
        return parse_duration(match.group(1))
    if match := _RETRY_AFTER_SECONDS.search(message):
        return float(match.group(1))
    return None


def _count(value: str | None) -> int | None:
    """A non-negative integer header (Azure has been seen sending ``-1`` for "unknown")."""
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def openai_rate_limit(headers: Mapping[str, str]) -> RateLimitState | None:
    """``x-ratelimit-remaining-*`` / ``x-ratelimit-reset-*`` (OpenAI, Azure, compatible servers), if sent."""
    state = RateLimitState(
        remaining_requests=_count(headers.get("x-ratelimit-remaining-requests")),
        remaining_tokens=_count(headers.get("x-ratelimit-remaining-tokens")),
        reset_requests_s=parse_duration(headers.get("x-ratelimit-reset-requests")),
        reset_tokens_s=parse_duration(headers.get("x-ratelimit-reset-tokens")),
    )
    return state if _any_set(state) else None


def _seconds_until(timestamp: str | None, now: datetime | None) -> float | None:
    if timestamp is None:
        return None
    try:
        when = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def anthropic_rate_limit(headers: Mapping[str, str], now: datetime | None = None) -> RateLimitState | None:
    """``anthropic-ratelimit-{requests,tokens}-{remaining,reset}``, resets as seconds from ``now``."""
    state = RateLimitState(
        remaining_requests=_count(headers.get("anthropic-ratelimit-requests-remaining")),
        remaining_tokens=_count(headers.get("anthropic-ratelimit-tokens-remaining")),
        reset_requests_s=_seconds_until(headers.get("anthropic-ratelimit-requests-reset"), now),
        reset_tokens_s=_seconds_until(headers.get("anthropic-ratelimit-tokens-reset"), now),
    )
    return state if _any_set(state) else None


def _any_set(state: RateLimitState) -> bool:
    values = (state.remaining_requests, state.remaining_tokens, state.reset_requests_s, state.reset_tokens_s)
    return any(value is not None for value in values)


def exhausted_reset(state: RateLimitState | None) -> float | None:
    """The longest reset among exhausted buckets (remaining 0): when a 429 without ``retry-after`` clears."""
    if state is None:
        return None
    waits = [
        reset
        for remaining, reset in (
            (state.remaining_requests, state.reset_requests_s),
            (state.remaining_tokens, state.reset_tokens_s),
        )
        if remaining == 0 and reset is not None
    ]
    return max(waits, default=None)


def throttled(message: str, *, status: int | None, retry_after: float | None) -> ProviderError:
    """A 429 as :class:`RateLimited`, or :class:`QuotaExhausted` when the wait asked for is over an hour."""
    return with_wait_policy(RateLimited(message, status=status, retry_after=retry_after))


# The run's one policy on waits a server asks for, whatever asked (a retry-after on any status, a
# retry hint in a message, Gemini's RetryInfo, a rate-limit reset on a reply). The engine applies it
# to every error and every reply it gets from any provider, so no server can stall a queue for longer
# than MAX_PAUSE_S, and none can stall it for ever with ``inf`` or ``nan``.


def honoured_wait(seconds: float | None) -> float | None:
    """How long the run waits when a server asks for ``seconds``: at most :data:`MAX_PAUSE_S`; ``None``
    (no wait) for no usable number (negative, infinite, NaN) and for a wait past :data:`QUOTA_WAIT_S`."""
    if seconds is None or not math.isfinite(seconds) or not 0 <= seconds <= QUOTA_WAIT_S:
        return None
    return min(seconds, MAX_PAUSE_S)


def is_quota_wait(seconds: float | None) -> bool:
    """Whether a server asked for a (finite) wait past :data:`QUOTA_WAIT_S`."""
    return seconds is not None and math.isfinite(seconds) and seconds > QUOTA_WAIT_S


def with_wait_policy(error: ProviderError) -> ProviderError:
    """``error`` with its retry-after as the run honours it (:func:`honoured_wait`). Asked to wait past
    :data:`QUOTA_WAIT_S`, the request is a recorded failure: a rate limit becomes :class:`QuotaExhausted`,
    and any other error (a 503 or 529 "come back tomorrow") is no longer retried."""
    wait = error.retry_after
    if is_quota_wait(wait):
        if isinstance(error, RateLimited):
            return QuotaExhausted(f"{error.message} (asks to wait {wait:.0f}s: a quota)", status=error.status)
        if error.retryable:
            error.retryable = False
            error.message = (
                f"{error.message} (asks to wait {wait:.0f}s, past the {QUOTA_WAIT_S:.0f}s a run waits)"
            )
            error.args = (error.message,)
    error.retry_after = honoured_wait(wait)
    return error


def honoured_limits(state: RateLimitState) -> RateLimitState:
    """A reply's rate-limit state with each reset as the run honours it (:func:`honoured_wait`): a reset
    past :data:`QUOTA_WAIT_S` is not waited for (the server's next refusal says what it is)."""
    return replace(
        state,
        reset_requests_s=honoured_wait(state.reset_requests_s),
        reset_tokens_s=honoured_wait(state.reset_tokens_s),
    )
