"""What a progress display shows, computed from the queues' ``statistics()``.

A :class:`ProgressTracker` samples every queue (and its limiter) and turns the counters into what a
researcher watching a run wants to read: done/total, ok/failed/retrying, the rate achieved against the
configured one, the queue's state and an ETA. Rates and ETAs come from a sliding window of samples, so
they follow a queue that slows down after 429s or pauses for a retry-after.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import trio

from runner.engine._limiter import LimiterStatistics, RateLimiter
from runner.engine._queue import QueueStatistics

WINDOW_S = 60.0
"""Rates and ETAs are measured over the last minute of samples."""
MIN_SPAN_S = 10.0
"""No achieved rate is shown before samples span this long: over a second or two, one permit more or
less swings the rate far from the truth."""


class Watched(Protocol):
    """What the tracker needs of a queue (:class:`runner.engine._queue.QueueRunner` provides it)."""

    def statistics(self) -> QueueStatistics: ...

    @property
    def limiter(self) -> RateLimiter: ...


@dataclass(frozen=True, slots=True)
class QueueProgress:
    """One line of the display."""

    key: str
    total: int
    done: int
    ok: int
    failed: int
    retrying: int
    in_flight: int
    configured_per_minute: float
    achieved_per_minute: float | None
    """Requests sent per minute over the window (``None`` until the samples span :data:`MIN_SPAN_S`)."""
    state: str
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    permits: int
    done: int


class ProgressTracker:
    """Call :meth:`sample` periodically (``trio.current_time()`` scale); it returns one line per queue."""

    def __init__(self, queues: Sequence[Watched], window_s: float = WINDOW_S) -> None:
        self._queues = list(queues)
        self._window_s = window_s
        self._history: list[deque[_Sample]] = [deque() for _ in self._queues]
        self.started_at = trio.current_time()

    def sample(self) -> list[QueueProgress]:
        """Take a sample of every queue and describe it."""
        now = trio.current_time()
        return [
            self._describe(queue.statistics(), queue.limiter.statistics(), history, now)
            for queue, history in zip(self._queues, self._history, strict=True)
        ]

    def _describe(
        self, stats: QueueStatistics, limiter: LimiterStatistics, history: deque[_Sample], now: float
    ) -> QueueProgress:
        history.append(_Sample(now, limiter.permits_issued, stats.done))
        while len(history) > 2 and now - history[1].at >= self._window_s:
            history.popleft()
        oldest = history[0]
        span = now - oldest.at
        achieved = (limiter.permits_issued - oldest.permits) * 60.0 / span if span >= MIN_SPAN_S else None
        remaining = stats.total - stats.done
        pause_left = max(0.0, limiter.paused_until - now) if limiter.paused_until is not None else 0.0
        eta: float | None = 0.0
        if remaining:
            eta = pause_left + remaining * 60.0 / limiter.current_per_minute
            finishing = (stats.done - oldest.done) / span if span > 0 else 0.0
            if finishing > 0:  # the pace is a lower bound; slow replies can hold a queue back further
                eta = max(eta, remaining / finishing)
            if stats.stopped_reason is not None or stats.batches is not None:
                eta = None  # a batch ends when the provider says, within its window
        return QueueProgress(
            key=stats.key,
            total=stats.total,
            done=stats.done,
            ok=stats.ok,
            failed=stats.failed,
            retrying=stats.retrying,
            in_flight=stats.in_flight,
            configured_per_minute=limiter.configured_per_minute,
            achieved_per_minute=achieved,
            state=_state(stats, limiter, pause_left),
            eta_s=eta,
        )


def _state(stats: QueueStatistics, limiter: LimiterStatistics, pause_left: float) -> str:
    if stats.stopped_reason is not None:
        return "stopped: auth"
    if stats.batches is not None:
        return stats.batches
    if stats.done >= stats.total:
        return "done"
    if pause_left > 0:
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + pause_left))
        return f"paused for retry-after until {until} ({pause_left:.0f} s)"
    if limiter.current_per_minute < limiter.configured_per_minute * 0.999:
        return f"slowed to {limiter.current_per_minute:.3g}/min after 429s"
    if limiter.permits_issued == 0 and stats.done == 0:
        return "starting"
    return "running"


def overall(lines: Sequence[QueueProgress]) -> QueueProgress:
    """The sum of every queue (queues run side by side: the ETA is the slowest queue's)."""
    etas = [line.eta_s for line in lines if line.eta_s is not None]
    achieved = [line.achieved_per_minute for line in lines if line.achieved_per_minute is not None]
    states = {line.state for line in lines}
    done = all(line.done >= line.total or line.state == "stopped: auth" for line in lines)
    return QueueProgress(
        key="all",
        total=sum(line.total for line in lines),
        done=sum(line.done for line in lines),
        ok=sum(line.ok for line in lines),
        failed=sum(line.failed for line in lines),
        retrying=sum(line.retrying for line in lines),
        in_flight=sum(line.in_flight for line in lines),
        configured_per_minute=sum(line.configured_per_minute for line in lines),
        achieved_per_minute=sum(achieved) if achieved else None,
        state="done" if done else ("running" if "running" in states or len(states) > 1 else states.pop()),
        eta_s=max(etas, default=0.0) if len(etas) == len(lines) else None,
    )


def duration(seconds: float | None) -> str:
    """``1:02:03`` style (whole seconds, rounded down); ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def rate(line: QueueProgress) -> str:
    """``achieved/configured per minute``, as people write numbers (``1,780/1,800``, ``0.5/1``)."""
    achieved = "-" if line.achieved_per_minute is None else per_minute(line.achieved_per_minute)
    return f"{achieved}/{per_minute(line.configured_per_minute)} per min"


def per_minute(value: float) -> str:
    """A rate without exponents: whole numbers with thousands separators, small ones to two decimals."""
    if value >= 100 or float(value).is_integer():
        return f"{round(value):,}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def plain_line(line: QueueProgress) -> str:
    """One line of text, no control codes."""
    return (
        f"{line.done}/{line.total} done ({line.ok} ok, {line.failed} failed, {line.retrying} retrying, "
        f"{line.in_flight} in flight), {rate(line)}, {line.state}, ETA {duration(line.eta_s)}"
    )
