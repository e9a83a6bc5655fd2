"""Parsing what servers say about their limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers import QuotaExhausted, RateLimited, RateLimitState
from providers._ratelimit import (
    anthropic_rate_limit,
    exhausted_reset,
    openai_rate_limit,
    parse_duration,
    retry_hint,
    throttled,
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
