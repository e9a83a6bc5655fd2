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
    assert fake.batches_created == 1
    assert fake.live_requests == 0
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["batches"]["count"] == 1
    assert summary["batches"]["pending"] == []


def environ(fake: OpenAIBatchFake) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}


async def test_a_queue_is_split_into_batches_by_the_limits(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        config = batch_config(tmp_path, openai_rows(25), batch={"max_requests": 10})
        result = await run_experiment(config, environ(fake))

    records = read_jsonl(result.completed_file)
    assert len(records) == 25
    assert all(r["error"] is None for r in records)
    sizes = sorted(len(batch.lines) for batch in fake.batches.values())
    assert fake.batches_created == 3
    assert sizes == [5, 10, 10]
    ledger = read_jsonl(result.run_dir / "batches.jsonl")
    assert [e["event"] for e in ledger if e["chunk"] == 0][:2] == ["intent", "submitted"]
    assert sum(e["event"] == "collected" for e in ledger) == 3


async def test_failed_and_expired_requests_go_in_the_next_batch_and_successes_are_not_resent(
    tmp_path: Path,
) -> None:
    with OpenAIBatchFake() as fake:
        failing = {"question 3": "server_error", "question 7": "expired"}
        fake.behaviour = lambda text, seen: failing.get(text, "ok") if seen == 1 else "ok"  # type: ignore[assignment,return-value]
        config = batch_config(tmp_path, openai_rows(12))
        result = await run_experiment(config, environ(fake))

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert len(records) == 12
    assert all(r["error"] is None for r in records.values())
    assert records["p3"]["attempts"] == 2
    assert records["p7"]["attempts"] == 2
    assert records["p0"]["attempts"] == 1
    assert fake.batches_created == 2
    assert all(count == 1 for count in fake.answered.values())  # nothing answered twice
    assert fake.seen["question 0"] == 1
    assert fake.seen["question 3"] == 2


async def test_a_request_that_can_never_succeed_is_an_error_on_its_record(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        fake.behaviour = lambda text, seen: "bad_request" if text == "question 1" else "ok"  # type: ignore[assignment,return-value]
        result = await run_experiment(batch_config(tmp_path, openai_rows(4)), environ(fake))

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert records["p1"]["error"]["type"] == "bad_request"
    assert records["p1"]["response"] is None
    assert records["p1"]["batch"]["id"] in fake.batches
    assert fake.batches_created == 1  # not retried


async def test_batch_retry_live_sends_the_failures_live(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        fake.behaviour = lambda text, seen: "expired" if seen == 1 and text == "question 2" else "ok"  # type: ignore[assignment,return-value]
        config = batch_config(tmp_path, openai_rows(5), batch={"retry": "live"}, max_queries=6000)
        result = await run_experiment(config, environ(fake))

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert all(r["error"] is None for r in records.values())
    assert fake.batches_created == 1
    assert fake.live_requests == 1
    assert "batch" not in records["p2"]


async def test_one_run_mixes_a_batch_queue_and_a_live_queue(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        rows = openai_rows(6) + [
            {"id": f"l{i}", "prompt": f"live {i}", "api": "openai-compatible", "model_name": "m"}
            for i in range(4)
        ]
        config = batch_config(
            tmp_path,
            rows,
            parallel=True,
            max_queries=6000,
            endpoints={"openai-compatible": {"base_url": fake.base_url, "api_key_env": "OPENAI_API_KEY"}},
        )
        result = await run_experiment(config, environ(fake))

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert len(records) == 10
    assert all(r["error"] is None for r in records.values())
    assert all("batch" in records[f"p{i}"] for i in range(6))
    assert all("batch" not in records[f"l{i}"] for i in range(4))
    assert fake.batches_created == 1
    assert fake.live_requests == 4


async def test_only_the_apis_named_batch(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        config = batch_config(tmp_path, openai_rows(3), batch={"enabled": False, "apis": ["anthropic"]})
        config = config.model_copy(update={"max_queries": 6000.0})
        result = await run_experiment(config, environ(fake))

    assert fake.batches_created == 0
    assert fake.live_requests == 3
    assert "batches" not in json.loads((result.run_dir / "summary.json").read_text())


async def test_wait_false_submits_and_resume_collects(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        config = batch_config(tmp_path, openai_rows(8), batch={"wait": False})
        first = await run_experiment(config, environ(fake))
        summary = json.loads((first.run_dir / "summary.json").read_text())
        assert summary["status"] == "submitted"
        assert first.exit_status == 0
        assert read_jsonl(first.completed_file) == []
        [pending] = summary["batches"]["pending"]
        assert pending["batch_id"] in fake.batches
        assert pending["requests"] == 8

        resumed = config.model_copy(
            update={"resume": first.run_dir, "batch": config.batch.model_copy(update={"wait": True})}
        )
        second = await run_experiment(resumed, environ(fake))

    records = read_jsonl(second.completed_file)
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(8))
    assert fake.batches_created == 1
    assert json.loads((second.run_dir / "summary.json").read_text())["status"] == "complete"


async def test_judges_run_in_batch_too(tmp_path: Path) -> None:
    with OpenAIBatchFake() as fake:
        judge = {
            "name": "grader",
            "models": [{"api": "openai", "model_name": "gpt-4o-judge"}],
            "template": "Grade {response}",
            "parse": {"regex": r"(question \d+)"},
        }
        config = batch_config(tmp_path, openai_rows(6), judges=[judge])
        result = await run_experiment(config, environ(fake))

    records = read_jsonl(result.completed_file)
    assert len(records) == 6
    assert all(r["scores"]["grader"] == int(r["prompt"].split()[1]) for r in records)
    assert all(r["judgements"]["grader"]["model_name"] == "gpt-4o-judge" for r in records)
    verdicts = read_jsonl(result.run_dir / "judge.jsonl")
    assert len(verdicts) == 6
    assert all("batch" in v for v in verdicts)
    assert fake.batches_created == 2  # the experiment's batch, then the judge's
    assert {b.model for b in fake.batches.values()} == {"gpt-4o-mini", "gpt-4o-judge"}
