"""Pacing one queue: one permit per ``60 / max_queries`` seconds, each taken at its slot in a schedule.

:meth:`RateLimiter.acquire` reserves the next slot and sleeps until it: no ticker task, and no channel
to hand permits through (at a thousand requests a second each task switch showed). A permit exists
only when someone takes it: an idle queue does not bank permits and then burst. The schedule is
absolute (each slot one interval after the previous one) so that scheduling latency does not
accumulate into drift: a taker late by less than :data:`MAX_CATCH_UP_S` (or one interval, if longer)
gets the permits it owes back to back. At 30,000 a minute a permit is due every 2 ms, and a busy event
loop is often late by more than that; restarting from now each time would lose those slots for good.

* Further behind than that, the queue was idle, and the schedule restarts from now; unless the taker
  has a backlog (prompts waiting behind this one): then the lateness was the loop's, and up to
  :data:`MAX_BACKLOG_CATCH_UP_S` of slots are made up (at a thousand requests a second the loop
  stalls for 0.3 s at times, and the 0.25 s bound lost those slots for good).
* After a pause the schedule restarts from the pause's end: a server that asked for a wait gets no
  burst of the slots it covered.
* A queue faster than a permit each :data:`WAKE_EVERY_S` wakes that often and takes the slots due
  meanwhile back to back (timer coalescing, as the kernel's timer slack does).

The engine steers it:

* :meth:`RateLimiter.pause_until` honours a server's retry-after;
* :meth:`RateLimiter.note_rate_limited` halves the rate (down to 1/16) while the server keeps refusing.
  A burst of refusals to requests that were all sent before the last slowdown counts once: those
  requests left at the old rate, so they say nothing about the new one;
* :meth:`RateLimiter.note_success` brings the rate back toward the configured one, 10% a reply (only
  replies to requests sent after the last slowdown count: earlier ones prove nothing about it);
* :meth:`RateLimiter.note_server_limits` obeys ``x-ratelimit-*``: with ``remaining`` requests left
  before the server's window resets, permits are spaced ``reset / remaining`` apart until it does, and
  when nothing is left (counting requests already in flight) the queue pauses until the reset.

Jobs that share an API key can also share its limit: given ``shared`` (a bucket in Redis, see
:mod:`runner.engine._shared_limiter`), :meth:`RateLimiter.acquire` takes a token from it after the local
permit, waiting as long as the bucket says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import trio

from providers import RateLimitState

MAX_SLOWDOWN = 16.0
MAX_CATCH_UP_S = 0.25
MAX_BACKLOG_CATCH_UP_S = 2.0
RECOVERY_PER_SUCCESS = 0.9
WAKE_EVERY_S = 0.01
"""A queue faster than a permit this often wakes this often, and takes the permits due meanwhile back
to back: each wake costs trio a deadline's expiry, which at 500 permits a second showed. No permit is
taken before its slot; the schedule's total is unchanged (at most this much late)."""


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    """A snapshot of one limiter, in trio's ``statistics()`` style."""

    configured_per_minute: float
    current_per_minute: float
    permits_issued: int
    paused_until: float | None
    """``trio.current_time()`` until which the queue is paused, if it is."""


class SharedTokens(Protocol):
    """A rate limit shared with other processes."""

    async def take(self) -> None:
        """Return when this process may send one more request."""


class RateLimiter:
    """Permits at ``per_minute`` per minute, taken with :meth:`acquire`."""

    def __init__(self, per_minute: float, shared: SharedTokens | None = None) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._shared = shared
        self.configured_per_minute = per_minute
        self._base_interval = 60.0 / per_minute
        self._slowdown = 1.0
        self._paused_until = -math.inf
        self._slowed_at = -math.inf
        self._server_interval = 0.0
        self._server_interval_until = -math.inf
        self._permits_issued = 0
        self._next_at = -math.inf
        """The next free slot of the schedule (``trio.current_time()`` scale)."""
        self._woke_at = -math.inf

    @property
    def interval(self) -> float:
        """Seconds between permits now: the configured interval times any slowdown, or the server's."""
        own = self._base_interval * self._slowdown
        if trio.current_time() < self._server_interval_until:
            return max(own, self._server_interval)
        return own

    async def acquire(self, *, backlog: bool = False) -> None:
        """Wait for the next slot of the schedule (and for any pause that began meanwhile);
        ``backlog``: more requests wait behind this one (the queue is not idle, only late)."""
        now, interval = trio.current_time(), self.interval
        slot = max(self._next_at, self._paused_until)
        catch_up = MAX_BACKLOG_CATCH_UP_S if backlog else MAX_CATCH_UP_S
        if slot < now - max(interval, catch_up):  # idle (or the first permit): start from now
            slot = now
        self._next_at = booked = slot + interval  # a taker coming meanwhile books the slot after ours
        if slot > now:  # a fast queue wakes once a WAKE_EVERY_S and takes the slots due by then
            await trio.sleep_until(max(slot, self._woke_at + WAKE_EVERY_S))
            self._woke_at = trio.current_time()
        # After a sleep, let what woke at the same instant run first: a reply that stops the queue (a
        # 401) is then seen before this permit is used, whatever order trio runs that instant in.
        await trio.lowlevel.checkpoint()
        if self._next_at == booked:  # nobody did: the next slot is one interval of now (the server's
            self._next_at = slot + self.interval  # limits may have changed it while we slept)
        if self._shared is not None:
            await self._shared.take()
        # A pause may begin, or be extended, while we sleep: re-check rather than wait on an event.
        while trio.current_time() < self._paused_until:
            await trio.sleep_until(self._paused_until)
            # This permit is taken at the pause's end: the next one is due an interval after it.
            self._next_at = max(self._next_at, self._paused_until + self.interval)
        self._permits_issued += 1

    def pause_until(self, deadline: float) -> None:
        """Issue no permit before ``deadline`` (``trio.current_time()`` scale)."""
        self._paused_until = max(self._paused_until, deadline)

    def note_rate_limited(self, sent_at: float | None = None) -> None:
        """The server refused a request sent at ``sent_at``: halve the rate (down to 1/16 of the configured).

        A refusal of a request sent before the last slowdown is ignored (it reflects the old rate).
        """
        if sent_at is not None and sent_at <= self._slowed_at:
            return
        self._slowdown = min(MAX_SLOWDOWN, self._slowdown * 2.0)
        self._slowed_at = trio.current_time()

    def note_server_limits(self, state: RateLimitState, in_flight: int = 0) -> None:
        """Keep under the limits the server reported on a reply (``in_flight``: requests still out)."""
        now = trio.current_time()
        requests, tokens = state.remaining_requests, state.remaining_tokens
        if tokens is not None and tokens <= 0 and state.reset_tokens_s:
            self.pause_until(now + state.reset_tokens_s)
        reset_s = state.reset_requests_s
        if requests is None or not reset_s or reset_s <= 0:
            return
        if requests <= in_flight:
            self.pause_until(now + reset_s)
        else:
            self._server_interval = reset_s / (requests - in_flight)
            self._server_interval_until = now + reset_s

    def note_success(self, sent_at: float | None = None) -> None:
        """A reply to a request sent at ``sent_at`` arrived: move back toward the configured rate."""
        if sent_at is not None and sent_at <= self._slowed_at:
            return
        self._slowdown = max(1.0, self._slowdown * RECOVERY_PER_SUCCESS)

    def statistics(self) -> LimiterStatistics:
        """Configured and current rate, permits issued, and any pause."""
        paused = self._paused_until if self._paused_until > trio.current_time() else None
        return LimiterStatistics(
            configured_per_minute=self.configured_per_minute,
            current_per_minute=60.0 / self.interval,
            permits_issued=self._permits_issued,
            paused_until=paused,
        )
