"""Issue 20's validation target: a 1,000,000-line prompt file validated in at most 2x the time
``json.loads`` alone takes over the same lines, in the same run.

    .venv/bin/python -m tests.benchmarks.validation_speed               # 1,000,000 lines
    .venv/bin/python -m tests.benchmarks.validation_speed --lines 100000
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

from runner import RunConfig
from runner._validate import validate_experiment
from runner.run_folder._files import RunFolder


def write_file(path: Path, lines: int) -> None:
    with path.open("w") as file:
        for i in range(lines):
            row = {
                "id": f"p{i}",
                "prompt": f"Question {i}: what is the capital of country number {i % 197}?",
                "api": "simulated",
                "model_name": "sim-a" if i % 2 else "sim-b",
                "parameters": {"temperature": 0, "max_tokens": 64},
                "group": f"g{i % 4}",
            }
            file.write(json.dumps(row) + "\n")


def json_loads_time(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as file:
        for line in file:
            json.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="print where the validation's time goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "data" / "input").mkdir(parents=True)
        prompts = folder / "data" / "input" / "big.jsonl"
        write_file(prompts, args.lines)
        config = RunConfig.model_validate(
            {
                "experiment": {"file": str(prompts)},
                "data_folder": str(folder / "data"),
                "output_dir": str(folder / "run"),
                "env_file": None,
            }
        )
        baseline = json_loads_time(prompts)
        run_folder = RunFolder(folder / "run")
        run_folder.path.mkdir()
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        validation = validate_experiment(config, {}, run_folder)
        if profiler is not None:
            profiler.disable()
        took = time.perf_counter() - started
        assert validation.runnable
        assert validation.plan.total == args.lines
    print("| lines | json.loads | validation (a run's) | ratio |\n|---:|---:|---:|---:|")
    print(f"| {args.lines:,} | {baseline:.2f} s | {took:.2f} s | {took / baseline:.1f}x |")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
