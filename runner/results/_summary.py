"""Counts gathered while records are written, and the ``summary.json`` built from them.

Per queue: prompts finished, ok, failed by error type, retried (finished after more than one
attempt), attempts sent, not sent. Per model, and per group when prompts set ``group``: the same plus latency
median/p95 and tokens in/out.
Latencies are the only per-prompt state: whole microseconds in 4 bytes (up to 71 minutes; longer is
counted as 71 minutes), per queue and per model. Their median and p95 are exact to the microsecond,
found without sorting a copy (:mod:`runner.results._quantiles`).
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from runner.engine._prompt_source import PromptSource
from runner.engine._queue import Finished
from runner.prompts._routing import QueueKey
from runner.results._quantiles import median_and_p95

MAX_LATENCY_US = 2**32 - 1
EXTRA_TOKENS = ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass
class _Tally:
    finished: int = 0
    ok: int = 0
    retried: int = 0
    attempts: int = 0
    failed_by_type: Counter[str] = field(default_factory=Counter)
    latencies_us: array[int] = field(default_factory=lambda: array("I"))
    input_tokens: int = 0
    output_tokens: int = 0
    extra_tokens: Counter[str] = field(default_factory=Counter)
    """Cached input, cache writes and reasoning tokens, where the APIs report them."""
    cached: int = 0

    def add(self, record: dict[str, Any]) -> None:
        self.finished += 1
        self.attempts += record.get("attempts") or 0
        self.retried += (record.get("attempts") or 0) > 1
        self.cached += bool(record.get("cached"))
        error = record.get("error")
        if error is None:
            self.ok += 1
            if record.get("latency_s") is not None:
                self.latencies_us.append(min(MAX_LATENCY_US, round(float(record["latency_s"]) * 1e6)))
        else:
            self.failed_by_type[str(error.get("type"))] += 1
        usage = record.get("usage") or {}
        self.input_tokens += usage.get("input_tokens") or 0
        self.output_tokens += usage.get("output_tokens") or 0
        for name in EXTRA_TOKENS:
            if usage.get(name):
                self.extra_tokens[name] += usage[name]

    def as_dict(self) -> dict[str, Any]:
        median, p95 = median_and_p95(self.latencies_us) if self.latencies_us else (None, None)
        return {
            "prompts": self.finished,
            "ok": self.ok,
            "failed": self.finished - self.ok,
            "failed_by_type": dict(sorted(self.failed_by_type.items())),
            "retried": self.retried,
            "attempts": self.attempts,
            "not_sent": self.failed_by_type.get("not_sent", 0),
            "cached": self.cached,
            "latency_s": {
                "median": None if median is None else round(median / 1e6, 6),
                "p95": None if p95 is None else round(p95 / 1e6, 6),
            },
            "tokens": {
                "input": self.input_tokens,
                "output": self.output_tokens,
                **{name.removesuffix("_tokens"): count for name, count in sorted(self.extra_tokens.items())},
            },
        }


class SummaryBuilder:
    """Feed it every finished record (:meth:`add`); ask it for the summary at the end (:meth:`build`)."""

    def __init__(self, queue_sizes: dict[QueueKey, int]) -> None:
        self._queue_sizes = queue_sizes
        self._queues: dict[QueueKey, _Tally] = {key: _Tally() for key in queue_sizes}
        self._sources: dict[QueueKey, PromptSource] = {}
        self._models: dict[str, _Tally] = {}
        self._groups: dict[str, _Tally] = {}

    def add(self, finished: Finished) -> None:
        """Count one finished record."""
        record = finished.record
        self._queues.setdefault(finished.queue, _Tally()).add(record)
        model = f"{record.get('api')}/{record.get('model_name')}"
        self._models.setdefault(model, _Tally()).add(record)
        if record.get("group") is not None:
            self._groups.setdefault(str(record["group"]), _Tally()).add(record)

    def plan(self, queue: QueueKey, count: int) -> None:
        """Add ``count`` prompts to those planned for ``queue``."""
        self._queue_sizes[queue] = self._queue_sizes.get(queue, 0) + count
        self._queues.setdefault(queue, _Tally())

    def plan_from(self, queue: QueueKey, source: PromptSource) -> None:
        """Add to those planned for ``queue`` the prompts ``source`` is expected to bring, as it stands
        when the summary is built (rephrasings that were never made are then left out)."""
        self._sources[queue] = source
        self._queues.setdefault(queue, _Tally())

    def _planned(self) -> dict[QueueKey, int]:
        planned = dict(self._queue_sizes)
        for queue, source in self._sources.items():
            planned[queue] = planned.get(queue, 0) + source.expected
        return planned

    @property
    def finished(self) -> int:
        """Records counted so far."""
        return sum(tally.finished for tally in self._queues.values())

    def build(self, *, wall_time_s: float, status: str = "complete", **extra: Any) -> dict[str, Any]:
        """The summary as written to ``summary.json``; ``status`` says how the run ended."""
        planned = self._planned()
        total = sum(planned.values())
        queues = {
            str(key): {"planned": planned.get(key, 0), **tally.as_dict()}
            for key, tally in self._queues.items()
        }
        finished = self.finished
        return {
            "status": status,
            "prompts": total,
            "finished": finished,
            "ok": sum(tally.ok for tally in self._queues.values()),
            "failed": finished - sum(tally.ok for tally in self._queues.values()),
            "wall_time_s": round(wall_time_s, 3),
            **extra,
            "queues": queues,
            "models": {key: tally.as_dict() for key, tally in sorted(self._models.items())},
            **(
                {"groups": {key: t.as_dict() for key, t in sorted(self._groups.items())}}
                if self._groups
                else {}
            ),
        }
