"""The Python API as the README shows it: from a script, a notebook cell, and trio code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trio

import providers
import runner
from runner import RunResult, load_config, run, run_async
from tests.conftest import REPO_ROOT, read_jsonl


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(REPO_ROOT)
    return tmp_path


def test_readme_example_runs_from_a_script(in_repo: Path) -> None:
    config = load_config("capitals", ["model=simulated_fast", "max_queries=6000"], output_dir=in_repo / "run")
    result = run(config)

    assert result.run_dir == in_repo / "run"
    assert result.summary["ok"] == 20
    assert len(read_jsonl(result.completed_file)) == 20
    assert (result.run_dir / ".hydra" / "config.yaml").is_file()


def test_sync_run_works_inside_a_running_asyncio_loop_like_jupyter(in_repo: Path) -> None:
    async def notebook_cell() -> RunResult:
        config = load_config("capitals", ["max_queries=6000"], output_dir=in_repo / "nb")
        return run(config)

    result = asyncio.run(notebook_cell())

    assert result.summary["status"] == "complete"


def test_run_async_from_trio_code(in_repo: Path) -> None:
    config = load_config("capitals", ["max_queries=6000"], output_dir=in_repo / "async")

    result = trio.run(run_async, config)

    assert result.summary["finished"] == 20


@pytest.mark.parametrize("module", [runner, providers])
def test_public_names_are_exactly_the_documented_ones(module: object) -> None:
    public = {name for name in dir(module) if not name.startswith("_")}
    exported = set(module.__all__)  # type: ignore[attr-defined]
    submodules = {name for name in public if type(getattr(module, name)).__name__ == "module"}

    assert exported == public - submodules
