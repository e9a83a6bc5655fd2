"""Resume refuses a folder that is not as the run left it, before anything is sent or changed.

* An input copy (or prompt file) whose SHA-256 is not the one ``input.sha256`` saved: the answers kept
  would belong to other prompts.
* No ``input.sha256``: nothing shows which prompts the answers belong to.
* No ``completed.jsonl`` after the run sent something (its summary exists): every prompt would be sent,
  and paid for, again; an empty one (created on purpose) resumes and sends everything. A run stopped
  before its first request has neither, and resumes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner import load_config, run_experiment
from runner._run import RunResult
from runner.run_folder._resume import ResumeRefused
from runner.run_folder._saved_config import save_config
from tests.reliability.conftest import ENVIRON, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, serving

ROOT = Path(__file__).resolve().parents[2]
PROMPTO_RUN = Path(sys.executable).parent / "prompto-run"  # the installed command, beside this Python
UNTOUCHED_BY_A_REFUSAL = {"run.log"}
"""Files a refused resume may touch: the log that says why it stopped (the lock it took is gone again)."""


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of the run folder and its bytes (but the log)."""
    return {
        str(path.relative_to(run_dir)): path.read_bytes()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.name not in UNTOUCHED_BY_A_REFUSAL
    }


PROMPTS = [{"id": f"p{i}", "prompt": f"p{i}"} for i in range(5)]


async def finished_run(tmp_path: Path, server: FakeChatServer) -> RunResult:
    config = make_config(tmp_path, server.url, PROMPTS)
    save_config(config)  # as every run does
    result = await run_experiment(config, ENVIRON)
    assert result.summary["ok"] == len(PROMPTS)
    server.requests.clear()
    return result


def edit_answered_prompt(path: Path) -> None:
    path.write_text(path.read_text().replace('"prompt": "p1"', '"prompt": "p1, changed"'))


async def test_an_edited_input_copy_is_refused(tmp_path: Path, server: FakeChatServer) -> None:
    run = await finished_run(tmp_path, server)
    copy = run.run_dir / "input-experiment.jsonl"
    edit_answered_prompt(copy)
    before = snapshot(run.run_dir)

    with pytest.raises(ResumeRefused) as refused:
        await run_experiment(load_config(overrides=[f"resume={run.run_dir}"]), ENVIRON)

    message = str(refused.value)
    assert str(copy) in message
    assert "changed after the run started" in message
    assert "keep old answers for changed prompts" in message
    assert server.requests == []
    assert snapshot(run.run_dir) == before  # input.sha256 not rewritten, completed.jsonl as it was


async def test_an_edited_prompt_file_is_refused_through_the_api(
    tmp_path: Path, server: FakeChatServer
) -> None:
    run = await finished_run(tmp_path, server)
    config = make_config(tmp_path, server.url, PROMPTS, resume=run.run_dir)  # the file it started from
    source = config.resolve_prompt_file()
    edit_answered_prompt(source)
    before = snapshot(run.run_dir)

    with pytest.raises(ResumeRefused, match="changed after the run started") as refused:
        await run_experiment(config, ENVIRON)

    assert str(source) in str(refused.value)
    assert server.requests == []
    assert snapshot(run.run_dir) == before  # the edited file was not copied over the run's copy


async def test_a_missing_checksum_is_refused(tmp_path: Path, server: FakeChatServer) -> None:
    run = await finished_run(tmp_path, server)
    (run.run_dir / "completed.jsonl").write_text("")  # so that a resume would send everything
    (run.run_dir / "input.sha256").unlink()
    before = snapshot(run.run_dir)

    with pytest.raises(ResumeRefused, match=r"input\.sha256 is missing"):
        await run_experiment(load_config(overrides=[f"resume={run.run_dir}"]), ENVIRON)

    assert server.requests == []
    assert snapshot(run.run_dir) == before


async def test_a_deleted_completed_file_is_refused_until_recreated(
    tmp_path: Path, server: FakeChatServer
) -> None:
    run = await finished_run(tmp_path, server)
    completed = run.run_dir / "completed.jsonl"
    completed.unlink()
    before = snapshot(run.run_dir)

    with pytest.raises(ResumeRefused) as refused:
        await run_experiment(load_config(overrides=[f"resume={run.run_dir}"]), ENVIRON)

    message = str(refused.value)
    assert "completed.jsonl is missing" in message
    assert "every prompt would be sent" in message
    assert f"rerun={run.run_dir}" in message
    assert f"create an empty {completed}" in message
    assert server.requests == []
    assert snapshot(run.run_dir) == before

    completed.touch()  # the deliberate choice the message offers: send every prompt again, here
    result = await run_experiment(load_config(overrides=[f"resume={run.run_dir}"]), ENVIRON)
    assert len(server.requests) == 5
    assert set(read_records(result.run_dir)) == {f"p{i}" for i in range(5)}


async def test_a_run_stopped_before_it_sent_anything_resumes_and_sends_everything(
    tmp_path: Path, server: FakeChatServer
) -> None:
    # A kill -9 during validation (a million lines take seconds) leaves the config, the input copy and
    # its checksum, part of prompts.jsonl, and neither completed.jsonl nor summary.json.
    run = await finished_run(tmp_path, server)
    (run.run_dir / "completed.jsonl").unlink()
    (run.run_dir / "summary.json").unlink()
    prompts = run.run_dir / "prompts.jsonl"
    prompts.write_bytes(prompts.read_bytes()[:30])

    result = await run_experiment(load_config(overrides=[f"resume={run.run_dir}"]), ENVIRON)

    assert len(server.requests) == 5
    assert set(read_records(result.run_dir)) == {f"p{i}" for i in range(5)}
    assert "never started sending; every prompt will be sent" in (run.run_dir / "run.log").read_text()


def _edit_copy(run_dir: Path) -> str:
    copy = next(run_dir.glob("input-*"))
    edit_answered_prompt(copy)
    return str(copy)


def _delete_completed(run_dir: Path) -> str:
    (run_dir / "completed.jsonl").unlink()
    return "completed.jsonl is missing"


@pytest.mark.parametrize("tamper", [_edit_copy, _delete_completed], ids=["edited-copy", "deleted-completed"])
def test_the_command_refuses_with_status_2(tmp_path: Path, tamper: Callable[[Path], str]) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"p{i}"}) + "\n" for i in range(5)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ENVIRON}
    with serving(FakeChatServer()) as server:
        first = subprocess.run(
            [
                str(PROMPTO_RUN),
                f"experiment.file={prompts}",
                "experiment.api=fakechat",
                "experiment.model_name=m",
                "+providers.fakechat=tests.reliability.http_provider:FakeChatProvider",
                f"+endpoints.fakechat={{base_url:'{server.url}',api_key_env:FAKE_CHAT_KEY}}",
                "max_queries=6000",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert first.returncode == 0, first.stderr
        (run_dir,) = (tmp_path / "outputs" / "prompts").iterdir()
        named = tamper(run_dir)
        before = snapshot(run_dir)
        server.requests.clear()

        resumed = subprocess.run(
            [str(PROMPTO_RUN), f"resume={run_dir}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert resumed.returncode == 2, resumed.stderr
        assert named in resumed.stderr
        assert "cannot resume" in resumed.stderr
        assert "Traceback" not in resumed.stderr
        assert server.requests == []
    assert snapshot(run_dir) == before
