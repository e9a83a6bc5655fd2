"""What a run report needs from a run folder, read in one streaming pass over ``completed.jsonl``.

Tables, score bars and failures come from ``summary.json`` (so the report shows the saved numbers,
over every record); latency distributions and the sample of records come from ``completed.jsonl``.
The pass decodes four fields of each line (a typed msgspec decoder skips the rest: prompts and
replies are most of the bytes) and the whole of only the records that enter the sample. Memory stays
the same whatever the size of the run: per model, a histogram of latencies in logarithmic bins 0.1%
wide (:class:`LatencyHistogram`, 83 KB) and a fixed-size random sample of records (reservoir sampling
with geometric skips, seeded, so the same run gives the same report), its texts already cut to what
the page shows; at most :data:`MAX_SAMPLE_ROWS` rows over every model."""

from __future__ import annotations

import json
import math
import random
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from runner.config._errors import UserError
from runner.run_folder._completed import CompletedFile, parse_record
from runner.run_folder._files import RunFolder

SEED = 0
MAX_SAMPLE_ROWS = 1000
"""Records in the sample over every model: a run of many models gets fewer per model."""
TEXT_LIMIT = 2000
"""Characters of a prompt or response kept for the sample table (the full text is in completed.jsonl)."""


class _Fields(msgspec.Struct):
    """What the report reads of every record; msgspec skips the rest of the line (prompt, response…)."""

    api: str | None = None
    model_name: str | None = None
    error: Any = None
    latency_s: float | None = None


_decode_fields = msgspec.json.Decoder(_Fields).decode


def _fields(raw: bytes) -> _Fields:
    """A line's :class:`_Fields`; ``ValueError`` if it is not a record. A record whose fields have
    other types than a run writes (a latency ``true``, an ``api`` of 3) is read whole, as before."""
    try:
        return _decode_fields(raw)
    except ValueError:
        record = parse_record(raw)
        if record is None:
            raise
        latency = record.get("latency_s")
        return _Fields(
            api=record.get("api"),
            model_name=record.get("model_name"),
            error=record.get("error"),
            latency_s=float(latency) if isinstance(latency, int | float) else None,
        )


class ReportError(UserError):
    """The folder is not a finished run folder; the message says what is missing."""


class LatencyHistogram:
    """Latencies in logarithmic bins: bin 0 holds those under 0.1 ms, bin ``i`` those from
    ``LOW·RATIO^(i-1)`` up to ``LOW·RATIO^i`` (0.1% wide), the last those from 10^5 s on. Any value is
    placed within 0.1% of itself, in constant memory (83 KB): what a histogram of 30 bars and its
    median and p95 marks need, for any number of prompts."""

    __slots__ = ("counts", "maximum")
    LOW = 1e-4
    HIGH = 1e5
    RATIO = 1.001
    BINS = 2 + math.ceil(math.log(HIGH / LOW) / math.log(RATIO))
    SCALE = 1 / math.log(RATIO)
    OFFSET = 1 - math.log(LOW) * SCALE
    """``int(log(value) · SCALE + OFFSET)``: the bin of a value from ``LOW`` up to ``HIGH``."""

    def __init__(self) -> None:
        self.counts = array("I", bytes(4 * self.BINS))
        self.maximum = 0.0
        """The largest latency counted."""

    def add(self, value: float) -> None:
        """Count one latency (seconds); one that is negative or not finite is left out."""
        if self.LOW <= value < self.HIGH:
            self.counts[int(math.log(value) * self.SCALE + self.OFFSET)] += 1
        elif 0 <= value < self.LOW:
            self.counts[0] += 1
        elif self.HIGH <= value < math.inf:
            self.counts[-1] += 1
        else:
            return
        if value > self.maximum:
            self.maximum = value

    @property
    def count(self) -> int:
        """Latencies counted."""
        return sum(self.counts)

    def _value(self, index: int) -> float:
        """A bin's middle (at most the largest latency)."""
        middle = self.LOW / 2 if index == 0 else self.LOW * self.RATIO ** (index - 0.5)
        return min(self.maximum, middle)

    def at_rank(self, rank: int) -> float:
        """The ``rank``-th smallest latency (0-based), to within 0.1%."""
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen > rank >= 0:
                return self._value(index)
        raise IndexError(f"rank {rank} out of range for {seen} values")

    def above(self, upper: float) -> int:
        """Latencies counted above ``upper`` (as :meth:`binned` places them)."""
        return sum(count for index, count in enumerate(self.counts) if count and self._value(index) >= upper)

    def binned(self, bins: int, upper: float) -> list[int]:
        """Counts in ``bins`` equal bins from 0 to ``upper`` (values above go in the last)."""
        out = [0] * bins
        for index, count in enumerate(self.counts):
            if count:
                out[min(bins - 1, int(bins * self._value(index) / upper))] += count
        return out


@dataclass(frozen=True, slots=True)
class Sample:
    """One record of the sample, as the table shows it."""

    number: int
    """Its place in ``completed.jsonl`` (1-based, records only): the table keeps file order."""
    model: str
    id: str
    prompt: str
    prompt_chars: int
    """The length of the whole prompt text; ``prompt`` holds at most :data:`TEXT_LIMIT` of it."""
    response: str
    response_chars: int
    error_type: str
    scores: Mapping[str, Any]

    @classmethod
    def of(cls, number: int, model: str, record: Mapping[str, Any]) -> Sample:
        prompt, prompt_chars = _cut(record.get("prompt"))
        response, response_chars = _cut(record.get("response") or "")
        error = record.get("error")
        scores = record.get("scores")
        return cls(
            number=number,
            model=model,
            id=str(record.get("id")),
            prompt=prompt,
            prompt_chars=prompt_chars,
            response=response,
            response_chars=response_chars,
            error_type=str(error.get("type", "")) if isinstance(error, Mapping) else "",
            scores=scores if isinstance(scores, Mapping) else {},
        )


def _cut(value: Any) -> tuple[str, int]:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return text[:TEXT_LIMIT], len(text)


class _Model:
    """One model's latencies, and a uniform random sample of ``size`` of its records (Li's algorithm L:
    it draws random numbers only when a record gets in, about ``size·(1 + ln(n/size))`` times)."""

    __slots__ = ("_rng", "_weight", "latencies", "next", "samples", "seen", "size")

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self._rng = size, rng
        self.latencies = LatencyHistogram()
        self.samples: list[Sample] = []
        self.seen = 0
        """Records read (the reader counts them)."""
        self.next: float = 1 if size else math.inf
        """The record (counted from 1) that gets in next: the reader calls :meth:`take` for it."""
        self._weight = 1.0

    def take(self, sample: Sample) -> None:
        """Put record number :attr:`seen` in the sample, and draw the number of the next one."""
        if len(self.samples) < self.size:
            self.samples.append(sample)
        else:
            self.samples[self._rng.randrange(self.size)] = sample
        if len(self.samples) < self.size:
            self.next += 1
            return
        self._weight *= math.exp(math.log(1.0 - self._rng.random()) / self.size)
        gap = math.log(1.0 - self._rng.random()) / math.log1p(-self._weight) if self._weight < 1 else 0
        self.next = self.seen + int(gap) + 1


@dataclass
class ReportData:
    """A run's summary, per-model latencies, and a sample of its records."""

    run_dir: Path
    summary: dict[str, Any]
    latencies: dict[str, LatencyHistogram] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    """Per model, in file order."""
    records: int = 0
    torn_lines: int = 0
    """A torn last line skipped (a run killed mid-write leaves one): 0 or 1."""

    @property
    def sample_count(self) -> int:
        """Records in the sample, over every model."""
        return sum(len(rows) for rows in self.samples.values())


def _shares(sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """At most ``total`` rows over the models, as even as their sizes allow (a model with fewer rows
    than its share leaves the rest to the others)."""
    shares: dict[str, int] = {}
    left, budget = dict(sizes), total
    while left:
        each = budget // len(left)
        small = {key: size for key, size in left.items() if size <= each}
        if not small:
            extra = budget - each * len(left)
            for index, key in enumerate(left):  # the first ones in summary order get the remainder
                shares[key] = each + (index < extra)
            break
        for key, size in small.items():
            shares[key] = size
            budget -= size
            del left[key]
    return shares


def load_report_data(
    run_dir: Path, samples_per_model: int = 200, max_samples: int = MAX_SAMPLE_ROWS
) -> ReportData:
    """Read ``summary.json`` and stream ``completed.jsonl``; :class:`ReportError` if not a run folder.

    ``samples_per_model`` records per model are sampled, ``max_samples`` at most in all."""
    folder = RunFolder(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a folder: give the run folder a prompto-run wrote")
    if not folder.summary.is_file():
        raise ReportError(
            f"{run_dir} has no {folder.summary.name}: it is not a run folder, or its run has not finished "
            f"(a run writes {folder.summary.name} when it ends, even when interrupted)"
        )
    try:
        summary = json.loads(folder.summary.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{folder.summary} is not valid JSON ({exc})") from None
    data = ReportData(run_dir, summary)
    if not folder.completed.is_file():
        return data
    rng = random.Random(SEED)
    models: dict[str, _Model] = {}
    completed = CompletedFile(folder.completed)
    number = 0
    low, high, log = LatencyHistogram.LOW, LatencyHistogram.HIGH, math.log
    scale, offset = LatencyHistogram.SCALE, LatencyHistogram.OFFSET
    for number, (fields, raw) in enumerate(completed.scan(_fields), start=1):
        key = f"{fields.api}/{fields.model_name}"
        if (model := models.get(key)) is None:
            model = models[key] = _Model(samples_per_model, rng)
        if fields.error is None and (latency := fields.latency_s) is not None:
            if low <= latency < high:  # add(), inlined: called 10^6 times
                model.latencies.counts[int(log(latency) * scale + offset)] += 1
                if latency > model.latencies.maximum:
                    model.latencies.maximum = latency
            else:
                model.latencies.add(latency)
        model.seen += 1
        if model.seen >= model.next:
            model.take(Sample.of(number, key, parse_record(raw) or {}))
    data.records = number
    data.torn_lines = int(completed.torn is not None)
    shares = _shares({key: len(model.samples) for key, model in models.items()}, max_samples)
    for key, model in models.items():
        rows = model.samples
        if len(rows) > shares[key]:
            rows = rng.sample(rows, shares[key])
        data.samples[key] = sorted(rows, key=lambda sample: sample.number)
        if model.latencies.count:
            data.latencies[key] = model.latencies
    return data
