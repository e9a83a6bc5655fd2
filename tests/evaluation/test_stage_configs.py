"""The shipped stage configs compose, validate and run (in virtual time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner import load_config
from runner.config._compose import CONF_DIR
from runner.evaluation._scoring import build_scorers
from tests.evaluation.helpers import read_jsonl, run_quietly


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "scorer").glob("*.yaml")))
def test_every_shipped_scorer_builds(name: str, tmp_path: Path) -> None:
    config = load_config("capitals", [f"scorers=[{name}]"], output_dir=tmp_path)
    (scorer,) = build_scorers(config.scorers)
    assert scorer.name == name


async def test_the_judged_capitals_experiment_runs_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # capitals.jsonl ships with the package (conf/data/): found from anywhere
    config = load_config("capitals_judged", ["env_file=null"], output_dir=tmp_path / "run")
    assert [s.name for s in config.scorers] == ["match", "includes"]
    assert [j.name for j in config.judges] == ["correctness"]
    assert config.rephrase is not None
    assert config.rephrase.name == "paraphrase"
    result = await run_quietly(config)
    assert result.summary["finished"] == 60  # 20 prompts x (original + 2 paraphrases)
    records = read_jsonl(result.completed_file)
    assert {r["rephrase_index"] for r in records} == {0, 1, 2}
    assert all(set(r["scores"]) == {"match", "includes", "correctness"} for r in records)
    assert len(read_jsonl(result.run_dir / "rephrase.jsonl")) == 20
    assert len(read_jsonl(result.run_dir / "judge.jsonl")) == 60
