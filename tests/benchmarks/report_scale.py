"""Issue 20's report target: ``report.html`` for 1,000,000 records written in under 10 s, under 5 MB,
and opening in headless Chromium without errors (aggregates over all records, a bounded sample of rows).

    .venv/bin/python -m tests.benchmarks.report_scale                    # 1,000,000 records
    .venv/bin/python -m tests.benchmarks.report_scale --records 200000 --profile

The run folder is generated (not run): four models of three APIs, five groups, two scores, about 4%
failures of four kinds, ``cost_usd`` and a judge's ``judgements`` on each record, prompts and replies
of 40 to 1,200 characters (one in a thousand is 6,000; drawn from a pool; 1.4 KB a record on
average), and a ``summary.json`` built by the run's own :class:`~runner.results._summary.SummaryBuilder`
with score and cost blocks in the run's shape.
The report is written in a fresh process (``prompto-report``'s code path, timed from the call to the
file on disk), then loaded by Chromium with ``--dump-dom``: no ``Uncaught`` error in its log, and the
page's script has run over every sample row.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from runner.engine._queue import Finished
from runner.results._summary import SummaryBuilder

MODELS = {  # model -> (mean latency s, match rate, USD per record)
    "openai/gpt-4o": (1.4, 0.91, 0.0021),
    "openai/gpt-4o-mini": (0.6, 0.78, 0.00013),
    "gemini/gemini-1.5-flash": (0.9, 0.74, 0.00009),
    "anthropic/claude-3-5-sonnet": (2.1, 0.89, 0.0034),
}
GROUPS = ("capitals", "arithmetic", "biology", "law", "code")
FAILURES = ("rate_limited", "server_error", "timeout", "not_sent")
JUDGE_COST = 0.00002
WORDS = ("the", "of", "a", "to", "in", "is", "what", "which", "capital", "number", "answer", "why", "city")
SIZE_LIMIT = 5 * 1024 * 1024
TIME_LIMIT_S = 10.0


def _texts(rng: random.Random, low: int, high: int, count: int = 2000) -> list[str]:
    """A pool of texts of ``low`` to ``high`` characters; one in a thousand is 6,000 characters."""
    pool = []
    for _ in range(count):
        length = 6000 if rng.random() < 0.001 else rng.randint(low, high)
        words: list[str] = []
        size = 0
        while size < length:
            words.append(word := rng.choice(WORDS))
            size += len(word) + 1
        pool.append(" ".join(words))
    return pool


def _score_block(total: float, squares: float, n: int, boolean: bool) -> dict[str, Any]:
    mean = total / n
    if boolean:  # Wilson interval
        z = 1.96
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    else:
        sd = math.sqrt(max(0.0, squares - n * mean * mean) / (n - 1))
        centre, half = mean, 1.96 * sd / math.sqrt(n)
    return {"mean": round(mean, 6), "count": n, "ci95": [round(centre - half, 6), round(centre + half, 6)]}


def write_run_folder(path: Path, records: int, seed: int = 20) -> dict[str, Any]:
    """Write ``completed.jsonl`` and ``summary.json`` of a finished run of ``records`` prompts into
    ``path`` (streamed: nothing of the size of the file is held); return the summary."""
    path.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = list(MODELS)
    prompts, replies = _texts(rng, 40, 400), _texts(rng, 20, 1200)
    builder = SummaryBuilder({"default": records})
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    cost: dict[str, defaultdict[str, float]] = {
        k: defaultdict(float) for k in ("by_model", "by_queue", "by_stage", "by_group")
    }
    with (path / "completed.jsonl").open("w", encoding="utf-8") as file:
        for i in range(records):
            model = names[i % len(names)]
            api, model_name = model.split("/", 1)
            latency_mean, match_rate, usd = MODELS[model]
            group = GROUPS[(i // len(names)) % len(GROUPS)]
            record: dict[str, Any] = {
                "id": f"p{i}",
                "api": api,
                "model_name": model_name,
                "group": group,
                "prompt": f"Question {i} <{group}>: " + rng.choice(prompts),
                "expected_response": "Paris",
                "parameters": {"temperature": 0, "max_tokens": 512},
            }
            if rng.random() < 0.04:
                kind = rng.choice(FAILURES)
                record |= {
                    "response": None,
                    "error": {"type": kind, "message": f"{kind} happened", "status": None},
                    "attempts": 0 if kind == "not_sent" else 3,
                    "timestamp_sent": None if kind == "not_sent" else "2026-12-02T04:40:28.655+00:00",
                    "latency_s": None if kind == "not_sent" else 30.0,
                    "usage": {"input_tokens": None, "output_tokens": None},
                    "cost_usd": None,
                }
            else:
                match = rng.random() < match_rate
                similarity = round(min(1.0, max(0.0, rng.gauss(0.8 if match else 0.4, 0.15))), 3)
                record |= {
                    "response": ("Paris. " if match else "Lyon <b>. ") + rng.choice(replies),
                    "error": None,
                    "attempts": 2 if rng.random() < 0.05 else 1,
                    "timestamp_sent": "2026-12-02T04:40:28.655+00:00",
                    "latency_s": round(rng.lognormvariate(math.log(latency_mean), 0.4), 6),
                    "usage": {"input_tokens": rng.randint(20, 200), "output_tokens": rng.randint(5, 400)},
                    "finish_reason": "stop",
                    "scores": {"match": match, "similarity": similarity},
                    "cost_usd": usd,
                    "judgements": {
                        "grader": {"api": "openai", "model_name": "gpt-4o-mini", "cost_usd": JUDGE_COST}
                    },
                }
                for key in (("models", model), ("groups", group)):
                    for score, value in (("match", float(match)), ("similarity", similarity)):
                        block = sums[(*key, score)]
                        block[0] += value
                        block[1] += value * value
                        block[2] += 1
                for section, key in (
                    ("by_model", model),
                    ("by_queue", "default"),
                    ("by_stage", "experiment"),
                    ("by_group", group),
                ):
                    cost[section][key] += usd
                cost["by_model"]["openai/gpt-4o-mini"] += JUDGE_COST
                cost["by_stage"]["judge:grader"] += JUDGE_COST
                cost["by_queue"]["judge:grader/openai"] += JUDGE_COST
            file.write(json.dumps(record) + "\n")
            builder.add(Finished("default", record))
    summary = builder.build(wall_time_s=records / 500, experiment="report-at-scale")
    for (section, key, score), (total, squares, n) in sums.items():
        scores = summary[section][key].setdefault("scores", {})
        scores[score] = _score_block(total, squares, int(n), boolean=score == "match")
    rounded = {
        section: {k: round(v, 6) for k, v in sorted(values.items())} for section, values in cost.items()
    }
    summary["cost"] = {
        "total_usd": round(sum(cost["by_stage"].values()), 6),
        **rounded,
        "prices": {m: {"input_per_mtok": 1.0, "output_per_mtok": 4.0, "source": "bench"} for m in MODELS},
        "unpriced_models": [],
    }
    (path / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
    None,
)


def open_in_chromium(report: Path, profile_dir: Path) -> tuple[float, str, str]:
    """Load ``report`` in headless Chromium: (seconds, the DOM after its script ran, Chromium's log)."""
    assert CHROMIUM is not None, "Chromium is not installed"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
    ]
    started = time.perf_counter()
    shown = subprocess.run(
        [CHROMIUM, *flags, report.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    took = time.perf_counter() - started
    assert shown.returncode == 0, shown.stderr[-2000:]
    return took, shown.stdout, shown.stderr


TIMED = """
import sys, time
from pathlib import Path
started, cpu = time.perf_counter(), time.process_time()
from runner.display._report import write_report
write_report(Path(sys.argv[1]))
print(time.perf_counter() - started, time.process_time() - cpu)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="print where the report's time goes")
    parser.add_argument(
        "--keep", type=Path, help="generate the run folder here and keep it (reused if there)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        started = time.perf_counter()
        if not (run_dir / "summary.json").is_file():
            write_run_folder(run_dir, args.records)
        generated = time.perf_counter() - started
        records = sum(1 for _ in (run_dir / "completed.jsonl").open("rb"))
        file_mb = (run_dir / "completed.jsonl").stat().st_size / 1e6
        print(f"run folder: {records:,} records, completed.jsonl {file_mb:.0f} MB ({generated:.1f} s)")
        if args.profile:
            from runner.display._report import write_report

            profiler = cProfile.Profile()
            profiler.enable()
            write_report(run_dir)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        out = subprocess.run(
            [sys.executable, "-c", TIMED, str(run_dir)], capture_output=True, text=True, check=True
        ).stdout
        took, cpu_s = (float(value) for value in out.split()[-2:])
        report = run_dir / "report.html"
        size = report.stat().st_size
        opened_s, dom, log = open_in_chromium(report, Path(tmp) / "profile")
        rows = len(re.findall(r"<tr data-model=", dom))
        ready = re.search(r'data-report-ready="(\d+)"', dom)
        errors = [line for line in log.splitlines() if "Uncaught" in line or ":ERROR:CONSOLE" in line]
    met_time, met_size = took < TIME_LIMIT_S, size < SIZE_LIMIT
    met_browser = not errors and ready is not None and int(ready.group(1)) == rows > 0
    print(
        "| records | completed.jsonl | report written (CPU) | report.html | Chromium load | rows | errors |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {records:,} | {file_mb:,.0f} MB | {took:.2f} s ({cpu_s:.2f} s) | {size / 1e6:.2f} MB "
        f"| {opened_s:.1f} s | {rows} | {len(errors)} |"
    )
    for line in errors[:5]:
        print(f"  {line}")
    print(
        f"\ntargets: written < {TIME_LIMIT_S:g} s {'met' if met_time else 'NOT met'}; "
        f"< {SIZE_LIMIT // 2**20} MB {'met' if met_size else 'NOT met'}; "
        f"opens without errors {'met' if met_browser else 'NOT met'}"
    )
    if not (met_time and met_size and met_browser):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
