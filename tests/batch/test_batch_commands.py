"""Batch mode from where a user stands: the installed ``prompto-run`` and ``prompto-check``, run from the
user's own folder (``data/input/``, and for a sweep its own ``conf/model/``), against the fake batch
servers in this process.

What a user types: ``batch.wait=false`` then ``resume=``; ``cancel=`` then ``resume=``; Ctrl-C while a
batch is waited for; bad input (nothing reaches the provider); an API with no batch API (it runs live,
saying so); a ``-m`` sweep over two models; ``prompto-check``'s count of the batches a queue would
submit; and a 3,000-prompt queue split into three batches by ``batch.max_requests``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INSTALLED, read_jsonl, run_installed, write_jsonl
from tests.fakes.anthropic_batch import AnthropicBatchFake
from tests.fakes.batch_base import BatchFake, answer_text
from tests.fakes.openai_batch import OpenAIBatchFake

MODEL = "gpt-4o-mini"
FAST = (
    "batch.poll_interval_s=0.05",
    "batch.max_poll_interval_s=0.2",
    "report.auto=false",
    "progress.mode=off",
)
RUN = (
    "experiment.file=exp.jsonl",
    "batch.enabled=true",
    *FAST,
    "hydra.run.dir=run",
)


def _rows(count: int, api: str | None = "openai", model: str | None = MODEL) -> list[dict[str, Any]]:
    routing = {} if api is None else {"api": api, "model_name": model}
    return [{"id": f"p{i}", "prompt": f"question {i}", **routing} for i in range(count)]


def _project(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    (tmp_path / "data" / "input").mkdir(parents=True, exist_ok=True)
    return write_jsonl(tmp_path / "data" / "input" / "exp.jsonl", rows)


def _env(**fakes: BatchFake) -> dict[str, str]:
    """A user's environment: a key and a base URL per vendor fake (``openai=...``, ``anthropic=...``)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    for vendor, fake in fakes.items():
        env[f"{vendor.upper()}_API_KEY"] = "sk-test"
        env[f"{vendor.upper()}_BASE_URL"] = fake.base_url
    return env


def _prompto_run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_installed("prompto-run", *args, cwd=tmp_path, env=env, timeout=240)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(run_dir / "batches.jsonl")


def _all_answered(records: list[dict[str, Any]], count: int) -> None:
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(count))  # each exactly once
    assert all(r["error"] is None and r["response"] == answer_text(r["prompt"]) for r in records)
    assert all("batch" in r for r in records)


# -- batch.wait=false, cancel=, resume= ------------------------------------------------------------


def test_wait_false_submits_prints_the_resume_command_and_resume_collects(tmp_path: Path) -> None:
    _project(tmp_path, _rows(10))
    with OpenAIBatchFake() as fake:
        env = _env(openai=fake)
        first = _prompto_run(tmp_path, env, *RUN, "batch.wait=false")
        assert first.returncode == 0, _output(first)
        assert f"prompto-run resume={tmp_path / 'run'}" in first.stdout
        assert f"prompto-run cancel={tmp_path / 'run'}" in first.stdout
        summary = _summary(tmp_path / "run")
        assert summary["status"] == "submitted"
        [pending] = summary["batches"]["pending"]
        assert pending["batch_id"] in fake.batches
        assert pending["requests"] == 10
        assert read_jsonl(tmp_path / "run" / "completed.jsonl") == []

        resumed = _prompto_run(tmp_path, env, "resume=run")
        assert resumed.returncode == 0, _output(resumed)
        _all_answered(read_jsonl(tmp_path / "run" / "completed.jsonl"), 10)
        assert fake.batches_created == 1
    assert _summary(tmp_path / "run")["status"] == "complete"


def test_cancel_stops_the_batch_and_resume_records_what_never_ran(tmp_path: Path) -> None:
    _project(tmp_path, _rows(12))
    with OpenAIBatchFake() as fake:
        fake.polls_to_finish = 4  # the one poll of batch.wait=false leaves it a quarter done
        env = _env(openai=fake)
        first = _prompto_run(tmp_path, env, *RUN, "batch.wait=false")
        assert first.returncode == 0, _output(first)
        [batch_id] = fake.batches

        cancelled = _prompto_run(tmp_path, env, "cancel=run")
        assert cancelled.returncode == 0, _output(cancelled)
        assert fake.cancelled == {batch_id}
        assert f"cancelled batch {batch_id} (openai/{MODEL}, 12 requests)" in cancelled.stdout
        assert "prompto-run resume=run" in cancelled.stdout
        assert [e["event"] for e in _events(tmp_path / "run")][-1] == "cancel_requested"

        resumed = _prompto_run(tmp_path, env, "resume=run")
        assert resumed.returncode == 0, _output(resumed)
        assert fake.batches_created == 1  # nothing submitted again

    records = read_jsonl(tmp_path / "run" / "completed.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(12))
    answered = [r for r in records if r["error"] is None]
    never_ran = [r for r in records if r["error"] is not None]
    assert len(answered) == 3
    assert all(r["response"] == answer_text(r["prompt"]) for r in answered)
    assert len(never_ran) == 9
    assert {r["error"]["type"] for r in never_ran} == {"batch_cancelled"}
    assert all(r["batch"]["id"] == batch_id for r in records)
    assert "collected" in [e["event"] for e in _events(tmp_path / "run")]

    again = _prompto_run(tmp_path, _env(), "cancel=run")  # every batch collected by now
    assert again.returncode == 2
    assert "nothing to cancel" in again.stderr


def test_cancel_on_a_folder_with_no_batches_exits_2_saying_so(tmp_path: Path) -> None:
    _project(tmp_path, _rows(3))
    with OpenAIBatchFake() as fake:
        env = _env(openai=fake)
        live = _prompto_run(
            tmp_path, env, "experiment.file=exp.jsonl", "max_queries=6000", *FAST, "hydra.run.dir=run"
        )
        assert live.returncode == 0, _output(live)
        assert fake.live_requests == 3

        cancelled = _prompto_run(tmp_path, env, "cancel=run")
    assert cancelled.returncode == 2
    assert "run has no batches (batches.jsonl is missing)" in cancelled.stderr
    assert fake.cancelled == set()


# -- Ctrl-C while waiting ---------------------------------------------------------------------------


def test_ctrl_c_while_waiting_leaves_the_batch_running_and_resume_collects_it(tmp_path: Path) -> None:
    _project(tmp_path, _rows(8))
    with OpenAIBatchFake() as fake:
        fake.polls_to_finish = 10**6
        env = _env(openai=fake)
        process = subprocess.Popen(
            [str(INSTALLED / "prompto-run"), *RUN],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ledger = tmp_path / "run" / "batches.jsonl"
        deadline = time.monotonic() + 60
        while not (ledger.exists() and any(e["event"] == "state" for e in read_jsonl(ledger))):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the batch was never polled"
            time.sleep(0.02)
        time.sleep(0.3)  # a few polls: the run is waiting
        busy = _prompto_run(tmp_path, env, "cancel=run")  # from another terminal, while it waits
        assert busy.returncode == 2, _output(busy)
        assert "is in use by a running prompto-run" in busy.stderr
        assert "stop it first (Ctrl-C leaves its batches at the provider), then: prompto-run cancel=run" in (
            busy.stderr
        )
        assert fake.cancelled == set()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)

        assert process.returncode == 130, out + err
        assert "1 batch(es) still at the provider" in out
        assert f"prompto-run resume={tmp_path / 'run'}" in out
        assert f"prompto-run cancel={tmp_path / 'run'}" in out
        summary = _summary(tmp_path / "run")
        assert summary["status"] == "interrupted"
        [pending] = summary["batches"]["pending"]
        assert pending["batch_id"] in fake.batches
        assert fake.cancelled == set()  # left running at the provider

        fake.polls_to_finish = 2
        resumed = _prompto_run(tmp_path, env, "resume=run")
        assert resumed.returncode == 0, _output(resumed)
        assert fake.batches_created == 1
    _all_answered(read_jsonl(tmp_path / "run" / "completed.jsonl"), 8)
    assert _summary(tmp_path / "run")["status"] == "complete"


# -- what fails before anything is sent -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["not json", "unknown api"])
def test_bad_input_in_batch_mode_exits_2_and_nothing_reaches_the_provider(tmp_path: Path, bad: str) -> None:
    path = _project(tmp_path, _rows(5))
    if bad == "not json":
        path.write_text(path.read_text() + '{"id": "broken", "prompt": "unclosed\n')
    else:
        write_jsonl(path, [*_rows(5), {"id": "x", "prompt": "hi", "api": "nosuchapi", "model_name": "m"}])
    with OpenAIBatchFake() as fake:
        done = _prompto_run(tmp_path, _env(openai=fake), *RUN)
        assert done.returncode == 2, _output(done)
        assert "line 6" in done.stderr
        assert fake.requests == []
        assert fake.batches_created == 0


# -- an API with no batch API -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["batch.enabled", "mode=batch"])
def test_an_api_without_a_batch_api_runs_live_with_a_notice(tmp_path: Path, how: str) -> None:
    _project(tmp_path, _rows(4, "openai-compatible", "m"))
    with OpenAIBatchFake() as fake:
        asked = (  # an api's own mode is the mode of its queue: one with parallel=true
            ["batch.enabled=true"]
            if how == "batch.enabled"
            else ["parallel=true", "+rate_limits.apis.openai-compatible.mode=batch"]
        )
        done = _prompto_run(
            tmp_path,
            _env(openai=fake),
            "experiment.file=exp.jsonl",
            *asked,
            *FAST,
            "max_queries=6000",
            f"+endpoints.openai-compatible.base_url={fake.base_url}",
            "+endpoints.openai-compatible.api_key_env=OPENAI_API_KEY",
            "hydra.run.dir=run",
        )
        assert done.returncode == 0, _output(done)
        assert fake.batches_created == 0
        assert fake.live_requests == 4
    assert "api 'openai-compatible' has no batch API" in (tmp_path / "run" / "run.log").read_text()
    records = read_jsonl(tmp_path / "run" / "completed.jsonl")
    assert len(records) == 4
    assert all(r["error"] is None and "batch" not in r for r in records)


# -- a sweep ----------------------------------------------------------------------------------------


def test_a_sweep_batches_each_job_and_compares_them(tmp_path: Path) -> None:
    _project(tmp_path, _rows(6, api=None))
    models = tmp_path / "conf" / "model"
    models.mkdir(parents=True)
    (models / "a.yaml").write_text(f"api: openai\nmodel_name: {MODEL}\n")
    (models / "b.yaml").write_text(
        "api: anthropic\nmodel_name: claude-haiku-4-5\nparameters:\n  max_tokens: 64\n"
    )
    with OpenAIBatchFake() as openai, AnthropicBatchFake() as anthropic:
        done = _prompto_run(
            tmp_path,
            _env(openai=openai, anthropic=anthropic),
            "-m",
            "experiment.file=exp.jsonl",
            "batch.enabled=true",
            *FAST,
            "model=a,b",
            "hydra.sweep.dir=sweep",
        )
        assert done.returncode == 0, _output(done)
        assert openai.batches_created == 1
        assert anthropic.batches_created == 1
        assert openai.live_requests == 0
        assert anthropic.live_requests == 0
    for job, api in (("0", "openai"), ("1", "anthropic")):
        records = read_jsonl(tmp_path / "sweep" / job / "completed.jsonl")
        _all_answered(records, 6)
        assert {r["api"] for r in records} == {api}
        assert _summary(tmp_path / "sweep" / job)["batches"]["count"] == 1
    assert (tmp_path / "sweep" / "comparison.csv").is_file()
    assert (tmp_path / "sweep" / "comparison.html").is_file()
    assert "sweep comparison" in done.stdout


# -- prompto-check, and 3,000 prompts in three batches ----------------------------------------------


def test_prompto_check_shows_how_many_batches_each_queue_would_submit(tmp_path: Path) -> None:
    rows = _rows(3000) + [
        {"id": f"l{i}", "prompt": f"live {i}", "api": "openai-compatible", "model_name": "m"}
        for i in range(5)
    ]
    _project(tmp_path, rows)
    with OpenAIBatchFake() as fake:
        done = run_installed(
            "prompto-check",
            "experiment.file=exp.jsonl",
            "batch.enabled=true",
            "batch.max_requests=1000",
            "parallel=true",
            f"+endpoints.openai-compatible.base_url={fake.base_url}",
            cwd=tmp_path,
            env=_env(openai=fake),
        )
        assert fake.requests == []
    assert done.returncode == 0, _output(done)
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["queue"])
    assert header.split()[-1] == "batches"
    openai_row = next(line.split() for line in lines if line.split()[:1] == ["openai"])
    live_row = next(line.split() for line in lines if line.split()[:1] == ["openai-compatible"])
    assert openai_row[1] == "3,000"
    assert openai_row[-1] == "3"
    assert live_row[1] == "5"
    assert live_row[-1] == "live"
    assert "3 batch(es) to submit" in done.stdout
    assert "api 'openai-compatible' has no batch API" in done.stdout


def test_prompto_check_without_batch_mode_shows_no_batches(tmp_path: Path) -> None:
    _project(tmp_path, _rows(4))
    done = run_installed(
        "prompto-check", "experiment.file=exp.jsonl", cwd=tmp_path, env=_env() | {"OPENAI_API_KEY": "sk"}
    )
    assert done.returncode == 0, _output(done)
    assert "batch" not in done.stdout


def test_an_apis_mode_applies_in_the_shared_queue_too(tmp_path: Path) -> None:
    _project(tmp_path, _rows(4))
    args = ("experiment.file=exp.jsonl", "+rate_limits.apis.openai.mode=batch")
    env = _env() | {"OPENAI_API_KEY": "sk"}
    for extra in ((), ("parallel=true",)):  # one `default` queue, or the api's own
        checked = run_installed("prompto-check", *args, *extra, cwd=tmp_path, env=env)
        assert checked.returncode == 0, _output(checked)
        assert "batch mode: 1 batch(es) to submit, holding 4 prompts" in checked.stdout


def test_prompto_check_says_when_batch_mode_batches_nothing(tmp_path: Path) -> None:
    _project(tmp_path, _rows(4))
    args = ("experiment.file=exp.jsonl", "+rate_limits.apis.openai.mode=live", "batch.enabled=true")
    env = _env() | {"OPENAI_API_KEY": "sk"}
    checked = run_installed("prompto-check", *args, cwd=tmp_path, env=env)
    assert checked.returncode == 0, _output(checked)
    assert "batch mode: no prompt would go in a batch" in checked.stdout


def test_three_thousand_prompts_go_in_three_batches_end_to_end(tmp_path: Path) -> None:
    _project(tmp_path, _rows(3000))
    with OpenAIBatchFake() as fake:
        done = _prompto_run(tmp_path, _env(openai=fake), *RUN, "batch.max_requests=1000")
        assert done.returncode == 0, _output(done)
        assert fake.batches_created == 3
        assert sorted(len(batch.lines) for batch in fake.batches.values()) == [1000, 1000, 1000]
        assert fake.live_requests == 0
        assert all(count == 1 for count in fake.answered.values())

    records = read_jsonl(tmp_path / "run" / "completed.jsonl")
    _all_answered(records, 3000)
    events = _events(tmp_path / "run")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_kind.setdefault(event["event"], []).append(event)
    assert sorted(e["chunk"] for e in by_kind["intent"]) == [0, 1, 2]
    assert all(e["requests"] == 1000 for e in by_kind["intent"])
    assert sorted(e["batch_id"] for e in by_kind["submitted"]) == sorted(fake.batches)
    assert sorted(e["chunk"] for e in by_kind["collected"]) == [0, 1, 2]
    assert {r["batch"]["chunk"] for r in records} == {0, 1, 2}
    summary = _summary(tmp_path / "run")
    assert summary["status"] == "complete"
    assert summary["batches"] == {"count": 3, "requests": 3000, "pending": []}
