"""Batch mode end to end, in process, against the fake batch servers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner import RunConfig, run_experiment
from tests.conftest import read_jsonl, write_jsonl
from tests.fakes.batch_base import answer_text
from tests.fakes.openai_batch import OpenAIBatchFake

pytestmark = pytest.mark.trio

FAST_POLLS = {"poll_interval_s": 0.01, "max_poll_interval_s": 0.05}


def batch_config(workspace: Path, rows: list[dict[str, Any]], **settings: Any) -> RunConfig:
    (workspace / "data" / "input").mkdir(parents=True, exist_ok=True)
    write_jsonl(workspace / "data" / "input" / "exp.jsonl", rows)
    batch = {"enabled": True, **FAST_POLLS, **settings.pop("batch", {})}
    return RunConfig.model_validate(
        {
            "experiment": {"file": "exp.jsonl"},
            "data_folder": str(workspace / "data"),
            "output_dir": str(workspace / "run"),
            "env_file": None,
            "report": {"auto": False},
            "progress": {"mode": "off"},
            "batch": batch,
            **settings,
        }
    )


def openai_rows(count: int, model: str = "gpt-4o-mini") -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "prompt": f"question {i}", "api": "openai", "model_name": model} for i in range(count)
    ]


async def test_a_batch_run_records_every_prompt_with_its_batch(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        config = batch_config(tmp_path, openai_rows(30))
        result = await run_experiment(config, {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url})

    records = read_jsonl(result.completed_file)
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(30))
    assert all(r["response"] == answer_text(r["prompt"]) for r in records)
    assert all(r["error"] is None and r["attempts"] == 1 for r in records)
    assert {r["batch"]["id"] for r in records} == {next(iter(fake.batches))}
    assert fake.batches_created == 1 and fake.live_requests == 0
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["batches"]["count"] == 1 and summary["batches"]["pending"] == []
