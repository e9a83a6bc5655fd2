"""Budgets against a fake server speaking OpenAI's protocol: the run stops sending at the cap, records
the rest as ``not_sent`` (reason ``budget``), and a resume with a larger budget finishes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner import RunConfig, run_experiment
from tests.conftest import read_jsonl, write_jsonl
from tests.fakes.openai_batch import OpenAIBatchFake

pytestmark = pytest.mark.trio

PRICE = {"input_per_mtok": 100_000.0, "output_per_mtok": 100_000.0}
"""$0.10 a token: the fake's replies (5 tokens in, 3 out) cost $0.80 each."""
REPLY_USD = 0.8


def budget_config(workspace: Path, count: int, **settings: Any) -> RunConfig:
    (workspace / "data" / "input").mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": f"p{i}",
            "prompt": f"q{i}",
            "api": "openai",
            "model_name": "gpt-test",
            "parameters": {"max_tokens": 3},
        }
        for i in range(count)
    ]
    write_jsonl(workspace / "data" / "input" / "exp.jsonl", rows)
    return RunConfig.model_validate(
        {
            "experiment": {"file": "exp.jsonl"},
            "data_folder": str(workspace / "data"),
            "output_dir": str(workspace / "run"),
            "env_file": None,
            "report": {"auto": False},
            "progress": {"mode": "off"},
            "max_queries": 60_000,
            "prices": {"openai/gpt-test": PRICE},
            **settings,
        }
    )


def environ(fake: OpenAIBatchFake) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}


async def test_every_record_carries_its_cost(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        result = await run_experiment(budget_config(tmp_path, 3), environ(fake))
    records = read_jsonl(result.completed_file)
    assert [r["cost_usd"] for r in records] == pytest.approx([REPLY_USD] * 3)
    cost = result.summary["cost"]
    assert cost["total_usd"] == pytest.approx(3 * REPLY_USD)
    assert cost["by_model"] == {"openai/gpt-test": pytest.approx(3 * REPLY_USD)}
    assert cost["prices"]["openai/gpt-test"]["source"].startswith("declared")
    assert "budget" not in result.summary


async def test_a_budget_stops_sending_at_the_cap_and_a_resume_with_more_finishes(tmp_path: Path) -> None:
    cap = 8.5  # room for 10 replies of $0.80 once each is settled, not for an 11th's worst case
    with OpenAIBatchFake() as fake:
        config = budget_config(tmp_path, 20, budget={"max_usd": cap})
        first = await run_experiment(config, environ(fake))
        sent_first = fake.live_requests

        records = {r["id"]: r for r in read_jsonl(first.completed_file)}
        answered = [r for r in records.values() if r["error"] is None]
        refused = [r for r in records.values() if r["error"] is not None]
        assert len(records) == 20
        assert sent_first == len(answered) == 10  # about half: the budget, not the pacing, decided
        assert sent_first * REPLY_USD <= cap  # what the fake served, at the declared price
        assert all(r["error"]["type"] == "not_sent" and r["error"]["reason"] == "budget" for r in refused)
        assert "budget.max_usd $8.5 has no room" in refused[0]["error"]["message"]
        assert first.summary["status"] == "budget_exhausted"
        assert first.exit_status == 7
        assert first.summary["budget"]["spent_usd"] == pytest.approx(10 * REPLY_USD)
        assert first.summary["budget"]["stopped"] is True

        larger = config.budget.model_copy(update={"max_usd": 100.0})
        second = await run_experiment(
            config.model_copy(update={"resume": first.run_dir, "budget": larger}), environ(fake)
        )

    final = read_jsonl(second.completed_file)
    assert sorted(r["id"] for r in final) == sorted(f"p{i}" for i in range(20))  # each once
    assert all(r["error"] is None for r in final)
    assert fake.live_requests == 20  # the ten answered were not sent again
    assert second.summary["status"] == "complete"
    assert second.summary["cost"]["total_usd"] == pytest.approx(20 * REPLY_USD)


async def test_a_queue_budget_inside_the_run(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        config = budget_config(
            tmp_path,
            6,
            parallel=True,
            rate_limits={"apis": {"openai": {"max_queries": 60000, "max_usd": 2.5}}},
        )
        result = await run_experiment(config, environ(fake))
    records = read_jsonl(result.completed_file)
    assert sum(r["error"] is None for r in records) == 2
    assert result.summary["budget"]["queues"]["openai"]["stopped"] is True
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "budget_exhausted"
