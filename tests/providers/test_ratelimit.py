"""Parsing what servers say about their limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from providers import QuotaExhausted, RateLimited, RateLimitState, ServerError
from providers._ratelimit import (
    MAX_PAUSE_S,
    anthropic_rate_limit,
    exhausted_reset,
    honoured_limits,
    honoured_wait,
    openai_rate_limit,
    parse_duration,
    retry_hint,
    throttled,
    with_wait_policy,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("12ms", 0.012), ("1.5s", 1.5), ("1h2m3s", 3723.0), ("23s", 23.0), ("29.72s", 29.72),
     ("500us", 0.0005), ("", None), ("soon", None), ("12", None), (None, None)],
)  # fmt: skip
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Rate limit reached for gpt-4o. Please try again in 1.2s. Visit ...", 1.2),
        ("Please try again in 6m0s.", 360.0),
        ("Please try again in 20ms.", 0.02),
        ("Please retry in 23.47s.", 23.47),
        ("... pricing tier. Please retry after 6 seconds. ...", 6.0),
        ("Please retry after 86400 seconds.", 86400.0),
        ("Rate limit reached.", None),
    ],
)
def test_retry_hint(message: str, seconds: float | None) -> None:
    assert retry_hint(message) == pytest.approx(seconds)


def test_openai_headers() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-remaining-tokens": "-1",
    }
    state = openai_rate_limit(headers)
    assert state == RateLimitState(remaining_requests=0, reset_requests_s=2.0)
    assert exhausted_reset(state) == 2.0
    assert openai_rate_limit({"content-type": "application/json"}) is None


def test_anthropic_headers_reset_is_relative_to_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    headers = {
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-01-01T12:00:05Z",
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T12:01:00+00:00",
    }
    assert anthropic_rate_limit(headers, now) == RateLimitState(49, 0, 5.0, 60.0)
    assert anthropic_rate_limit({"anthropic-ratelimit-requests-reset": "garbage"}, now) is None


def test_a_wait_over_an_hour_is_a_quota() -> None:
    assert isinstance(throttled("m", status=429, retry_after=3600), RateLimited)
    assert isinstance(throttled("m", status=429, retry_after=86400), QuotaExhausted)
    assert isinstance(throttled("m", status=429, retry_after=None), RateLimited)


def test_a_non_finite_wait_is_no_wait_not_a_quota() -> None:
    error = throttled("m", status=429, retry_after=math.inf)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("asked", "honoured"),
    [(None, None), (0.0, 0.0), (2.5, 2.5), (1800.0, MAX_PAUSE_S), (3600.0, MAX_PAUSE_S), (3601.0, None),
     (1e300, None), (math.inf, None), (-math.inf, None), (math.nan, None), (-1.0, None)],
)  # fmt: skip
def test_honoured_wait(asked: float | None, honoured: float | None) -> None:
    assert honoured_wait(asked) == honoured


def test_a_day_long_wait_on_a_server_error_is_no_longer_retried() -> None:
    error = with_wait_policy(ServerError("HTTP 503: down", status=503, retry_after=86400.0))
    assert isinstance(error, ServerError)
    assert (error.retryable, error.retry_after, error.status) == (False, None, 503)
    assert error.message == str(error) == "HTTP 503: down (asks to wait 86400s, past the 3600s a run waits)"
    assert with_wait_policy(ServerError("m", retry_after=30.0)).retryable


def test_resets_on_a_reply_are_honoured_like_any_wait() -> None:
    state = RateLimitState(
        remaining_requests=0, remaining_tokens=5, reset_requests_s=86400.0, reset_tokens_s=math.inf
    )
    assert honoured_limits(state) == RateLimitState(remaining_requests=0, remaining_tokens=5)
    assert honoured_limits(RateLimitState(reset_requests_s=1800.0)).reset_requests_s == MAX_PAUSE_S
