"""Issue 16's benchmark: a 50,000-prompt batch queue built, submitted and collected in no more memory
than a live run of the same file.

    .venv/bin/python -m tests.benchmarks.batch_memory            # 50,000 prompts (a few minutes)
    .venv/bin/python -m tests.benchmarks.batch_memory --prompts 5000

Both runs are the installed ``prompto-run`` in a process of its own, each against an OpenAI fake (batch
and live endpoints) in this process; the peak resident memory of each run is read from
``getrusage(RUSAGE_CHILDREN)`` after it (each run is measured in a fresh child of a fresh child, so the
first run's peak does not mask the second's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import INSTALLED, read_jsonl, write_jsonl
from tests.fakes.openai_batch import OpenAIBatchFake

MEASURE = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, status)
"""


def measured_run(folder: Path, env: dict[str, str], *overrides: str) -> tuple[float, float, int]:
    """Peak RSS (MB), wall time (s) and exit status of one ``prompto-run`` from ``folder``."""
    started = time.monotonic()
    command = [sys.executable, "-c", MEASURE, str(INSTALLED / "prompto-run"), *overrides]
    out = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=True).stdout
    peak_kb, status = out.split()
    return int(peak_kb) / 1024, time.monotonic() - started, int(status)


@dataclass(frozen=True)
class Measured:
    """One run of a file: its peak RSS (MB), wall time (s) and the batches it made (0 live)."""

    prompts: int
    peak_rss: float
    wall_s: float
    batches: int


def measure(count: int, *, batch: bool) -> Measured:
    """Run a file of ``count`` prompts in batch mode or live, check every prompt was answered."""
    with tempfile.TemporaryDirectory() as tmp, OpenAIBatchFake() as fake:
        folder = Path(tmp)
        (folder / "data" / "input").mkdir(parents=True)
        rows = [
            {
                "id": f"p{i}",
                "prompt": f"question {i}: " + "lorem ipsum " * 20,
                "api": "openai",
                "model_name": "gpt-4o-mini",
            }
            for i in range(count)
        ]
        write_jsonl(folder / "data" / "input" / "big.jsonl", rows)
        del rows
        env = {"PATH": os.environ["PATH"], "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url}
        common = ("experiment.file=big.jsonl", "report.auto=false", "progress.mode=off", "hydra.run.dir=run")
        if batch:
            mode = ("batch.enabled=true", "batch.poll_interval_s=0.5")
        else:
            mode = ("max_queries=120000", "+rate_limits.apis.openai.max_in_flight=64")
        rss, seconds, status = measured_run(folder, env, *common, *mode)
        records = read_jsonl(folder / "run" / "completed.jsonl")
        summary = json.loads((folder / "run" / "summary.json").read_text())
    assert status == 0
    assert len({r["id"] for r in records}) == count
    assert all(r["error"] is None for r in records)
    return Measured(count, rss, seconds, summary["batches"]["count"] if batch else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=50_000)
    args = parser.parse_args()
    batch, live = measure(args.prompts, batch=True), measure(args.prompts, batch=False)
    print("| run | prompts | batches | peak RSS | wall time |\n|---|---:|---:|---:|---:|")
    for name, run in (("batch", batch), ("live", live)):
        batches = run.batches or "-"
        print(f"| {name} | {run.prompts:,} | {batches} | {run.peak_rss:.0f} MB | {run.wall_s:.1f} s |")
    ratio = batch.peak_rss / live.peak_rss
    verdict = "met" if ratio <= 1.05 else "NOT met"
    print(f"\nbatch peak RSS / live peak RSS = {ratio:.2f} (target <= 1, 5% noise): {verdict}")


if __name__ == "__main__":
    main()
