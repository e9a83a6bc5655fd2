"""``kill -9`` at each step of batch mode, then ``resume=``: every prompt answered exactly once, and
no batch submitted twice (the fakes count the batches they create).

The installed ``prompto-run`` runs in a process of its own against a fake batch server in this one,
so the kill lands where a user's crash would: between two steps on disk and at the provider.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import INSTALLED, read_jsonl, run_installed, write_jsonl
from tests.fakes.anthropic_batch import AnthropicBatchFake
from tests.fakes.batch_base import BatchFake, answer_text
from tests.fakes.gemini_batch import GeminiBatchFake
from tests.fakes.openai_batch import OpenAIBatchFake

PROMPTS = 40
VENDORS: dict[str, tuple[type[BatchFake], str, str, str]] = {
    "openai": (OpenAIBatchFake, "gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": (AnthropicBatchFake, "claude-haiku-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "gemini": (GeminiBatchFake, "gemini-2.5-flash", "GEMINI_API_KEY", "GEMINI_BASE_URL"),
}
ARGS = (
    "experiment.file=exp.jsonl",
    "batch.enabled=true",
    "batch.poll_interval_s=0.05",
    "batch.max_poll_interval_s=0.2",
    "report.auto=false",
    "progress.mode=off",
    "hydra.run.dir=run",
)


def _project(tmp_path: Path, api: str, model: str) -> None:
    rows = [
        {"id": f"p{i}", "prompt": f"question {i}", "api": api, "model_name": model} for i in range(PROMPTS)
    ]
    (tmp_path / "data" / "input").mkdir(parents=True)
    write_jsonl(tmp_path / "data" / "input" / "exp.jsonl", rows)


def _env(fake: BatchFake, key_env: str, url_env: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        key_env: "sk-test",
        url_env: fake.base_url,
    }


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (tmp_path / "first.log").open("wb") as log:
        return subprocess.Popen(
            [str(INSTALLED / "prompto-run"), *ARGS], cwd=tmp_path, env=env, stdout=log, stderr=log
        )


def _kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], tmp_path: Path) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline, "the crash point was never reached"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _ledger_events(tmp_path: Path) -> list[str]:
    ledger = tmp_path / "run" / "batches.jsonl"
    return [e["event"] for e in read_jsonl(ledger)] if ledger.exists() else []


def _resume_and_check(tmp_path: Path, fake: BatchFake, env: dict[str, str]) -> None:
    resumed = run_installed("prompto-run", "resume=run", cwd=tmp_path, env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    records = read_jsonl(tmp_path / "run" / "completed.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(PROMPTS))  # each exactly once
    assert all(r["error"] is None and r["response"] == answer_text(r["prompt"]) for r in records)
    assert fake.batches_created == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_killed_after_the_provider_accepted_but_before_the_folder_recorded_it(
    tmp_path: Path, vendor: str
) -> None:
    fake_type, model, key_env, url_env = VENDORS[vendor]
    _project(tmp_path, vendor, model)
    with fake_type() as fake:
        fake.hang_after_create = True
        env = _env(fake, key_env, url_env)
        _kill_when(_start(tmp_path, env), lambda: fake.batches_created == 1, tmp_path)
        assert _ledger_events(tmp_path) == ["intent"]  # accepted at the provider, unknown to the folder
        fake.hang_after_create = False
        _resume_and_check(tmp_path, fake, env)
    assert "submitted" in _ledger_events(tmp_path)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_killed_while_polling(tmp_path: Path, vendor: str) -> None:
    fake_type, model, key_env, url_env = VENDORS[vendor]
    _project(tmp_path, vendor, model)
    with fake_type() as fake:
        fake.polls_to_finish = 10**6
        env = _env(fake, key_env, url_env)
        _kill_when(_start(tmp_path, env), lambda: "state" in _ledger_events(tmp_path), tmp_path)
        fake.polls_to_finish = 2
        _resume_and_check(tmp_path, fake, env)


def test_killed_before_submitting(tmp_path: Path) -> None:
    _project(tmp_path, "openai", "gpt-4o-mini")
    with OpenAIBatchFake() as fake:
        fake.create_errors = [(500, {"error": {"message": "try later", "type": "server_error"}})] * 1000
        env = _env(fake, "OPENAI_API_KEY", "OPENAI_BASE_URL")
        _kill_when(
            _start(tmp_path, env), lambda: any(r.path.endswith("/batches") for r in fake.requests), tmp_path
        )
        assert fake.batches_created == 0
        fake.create_errors = []
        _resume_and_check(tmp_path, fake, env)


def test_killed_while_collecting(tmp_path: Path) -> None:
    _project(tmp_path, "openai", "gpt-4o-mini")
    with OpenAIBatchFake() as fake:
        fake.stall_results_after = 15
        env = _env(fake, "OPENAI_API_KEY", "OPENAI_BASE_URL")
        completed = tmp_path / "run" / "completed.jsonl"
        _kill_when(
            _start(tmp_path, env), lambda: completed.exists() and len(read_jsonl(completed)) >= 15, tmp_path
        )
        fake.stall_results_after = None
        _resume_and_check(tmp_path, fake, env)
