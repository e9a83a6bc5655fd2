"""CI's slice of issue 20's validation target: a prompt file validated (a run's validation: the copy,
the plan, the estimate) in at most 2x the time ``json.loads`` takes over the same lines.

30,000 lines, each timed twice and the faster kept, in this process; the bound is 4x, loose enough for
a loaded two-core CI machine, tight enough that the fast path going unused (about 25x) fails it. The
full benchmark: ``python -m tests.benchmarks.validation_speed`` (1,000,000 lines).
"""

from __future__ import annotations

import time
from pathlib import Path

from runner import RunConfig
from runner._validate import validate_experiment
from runner.run_folder._files import RunFolder
from tests.benchmarks.validation_speed import json_loads_time, write_file

LINES = 30_000


def test_validation_takes_about_the_time_json_loads_does(tmp_path: Path) -> None:
    (tmp_path / "data" / "input").mkdir(parents=True)
    prompts = tmp_path / "data" / "input" / "big.jsonl"
    write_file(prompts, LINES)
    config = RunConfig.model_validate(
        {
            "experiment": {"file": str(prompts)},
            "data_folder": str(tmp_path / "data"),
            "output_dir": str(tmp_path / "run"),
            "env_file": None,
        }
    )
    baseline = took = float("inf")
    for attempt in range(2):
        baseline = min(baseline, json_loads_time(prompts))
        folder = RunFolder(tmp_path / f"run-{attempt}")
        started = time.perf_counter()
        validation = validate_experiment(config, {}, folder)
        took = min(took, time.perf_counter() - started)
        assert validation.runnable
        assert validation.plan.total == LINES
    assert took < 4 * baseline, (
        f"validation {took:.2f} s, json.loads {baseline:.2f} s ({took / baseline:.1f}x)"
    )
