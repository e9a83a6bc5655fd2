"""Issue 16's benchmark: a 50,000-prompt batch queue built, submitted and collected in no more memory
than a live run of the same file.

    .venv/bin/python -m tests.benchmarks.batch_memory            # 50,000 prompts (a few minutes)
    .venv/bin/python -m tests.benchmarks.batch_memory --prompts 5000

Both runs are the installed ``prompto-run`` in a process of its own, against one OpenAI fake (batch
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=50_000)
    args = parser.parse_args()
    count = args.prompts
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
        common = ("experiment.file=big.jsonl", "report.auto=false", "progress.mode=off")
        batch_rss, batch_s, batch_status = measured_run(
            folder, env, *common, "hydra.run.dir=batch", "batch.enabled=true", "batch.poll_interval_s=0.5"
        )
        live_rss, live_s, live_status = measured_run(
            folder,
            env,
            *common,
            "hydra.run.dir=live",
            "max_queries=120000",
            "+rate_limits.apis.openai.max_in_flight=64",
        )
        batch_records = read_jsonl(folder / "batch" / "completed.jsonl")
        batches = json.loads((folder / "batch" / "summary.json").read_text())["batches"]["count"]
    assert batch_status == live_status == 0
    assert len({r["id"] for r in batch_records}) == count
    assert all(r["error"] is None for r in batch_records)
    print("| run | prompts | batches | peak RSS | wall time |\n|---|---:|---:|---:|---:|")
    print(f"| batch | {count:,} | {batches} | {batch_rss:.0f} MB | {batch_s:.1f} s |")
    print(f"| live | {count:,} | - | {live_rss:.0f} MB | {live_s:.1f} s |")
    verdict = "met" if batch_rss <= live_rss * 1.05 else "NOT met"
    print(f"\nbatch peak RSS / live peak RSS = {batch_rss / live_rss:.2f} (target <= 1, 5% noise): {verdict}")


if __name__ == "__main__":
    main()
