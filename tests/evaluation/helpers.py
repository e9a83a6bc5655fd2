"""Helpers for the evaluation tests: prompt files, composed configs and quiet runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner import RunConfig, RunResult, load_config, run_experiment


def write_prompts(path: Path, prompts: list[dict[str, Any]]) -> Path:
    """A JSONL prompt file."""
    path.write_text("".join(json.dumps(p) + "\n" for p in prompts))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def config_for(tmp_path: Path, prompts: list[dict[str, Any]], *overrides: str) -> RunConfig:
    """The shipped conf/ composed for a prompt file in ``tmp_path``, writing to ``tmp_path/run``."""
    file = write_prompts(tmp_path / "prompts.jsonl", prompts)
    return load_config(
        None,
        [f"experiment.file={file}", "max_queries=600", "env_file=null", *overrides],
        output_dir=tmp_path / "run",
    )


async def run_quietly(config: RunConfig) -> RunResult:
    """Run without the run.log handler and with an empty environment."""
    return await run_experiment(config, environ={}, log_to_file=False)
