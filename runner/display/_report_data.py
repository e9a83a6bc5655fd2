"""What a run report needs from a run folder, read in one streaming pass over ``completed.jsonl``.

Tables and score bars come from ``summary.json`` (so the report shows the saved numbers); latency
distributions and the sample of records come from ``completed.jsonl``. Memory stays small on big
runs: one 4-byte float per answered prompt (the histograms need no more precision), and a
fixed-size random sample of records per model (reservoir sampling, seeded, so the same run gives the
same report).
"""

from __future__ import annotations

import json
import random
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.config._errors import UserError
from runner.run_folder._completed import CompletedFile
from runner.run_folder._files import RunFolder

SEED = 0


class ReportError(UserError):
    """The folder is not a finished run folder; the message says what is missing."""


@dataclass
class ReportData:
    """A run's summary, per-model latencies, and a sample of its records."""

    run_dir: Path
    summary: dict[str, Any]
    latencies: dict[str, array[float]] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    records: int = 0
    torn_lines: int = 0
    """A torn last line skipped (a run killed mid-write leaves one): 0 or 1."""

    @property
    def sample_count(self) -> int:
        """Records in the sample, over every model."""
        return sum(len(rows) for rows in self.samples.values())


def model_key(record: dict[str, Any]) -> str:
    """The key records are grouped by, as in ``summary.json``'s ``models``."""
    return f"{record.get('api')}/{record.get('model_name')}"


def load_report_data(run_dir: Path, samples_per_model: int = 200) -> ReportData:
    """Read ``summary.json`` and stream ``completed.jsonl``; :class:`ReportError` if not a run folder."""
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
    seen: dict[str, int] = {}
    completed = CompletedFile(folder.completed)
    for record in completed.records():
        data.records += 1
        key = model_key(record)
        if record.get("error") is None and isinstance(record.get("latency_s"), int | float):
            data.latencies.setdefault(key, array("f")).append(float(record["latency_s"]))
        seen[key] = count = seen.get(key, 0) + 1
        sample = data.samples.setdefault(key, [])
        if len(sample) < samples_per_model:
            sample.append(record)
        elif samples_per_model and (slot := rng.randrange(count)) < samples_per_model:
            sample[slot] = record
    data.torn_lines = int(completed.torn is not None)
    return data
