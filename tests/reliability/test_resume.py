"""Resume: every prompt exactly once, nothing already answered sent again, torn lines dropped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import ConfigError, load_config, run_experiment
from runner.run_folder._files import RunFolder
from runner.run_folder._lock import FolderBusy, folder_lock
from runner.run_folder._resume import rewrite_completed, scan_completed
from runner.run_folder._saved_config import save_config
from tests.reliability.conftest import ENVIRON, KEY, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, error_reply, serving

ROOT = Path(__file__).resolve().parents[2]


async def test_resume_after_a_kill_sends_only_what_is_missing(tmp_path: Path, server: FakeChatServer) -> None:
    prompts = [{"id": f"p{i}", "prompt": f"p{i}"} for i in range(30)]
    for i in (2, 7):
        server.script(f"p{i}", error_reply(400, "rejected"))
    config = make_config(tmp_path, server.url, prompts)
    save_config(config)  # as every run does
    first = await run_experiment(config, ENVIRON)
    assert first.summary["ok"] == 28
    # A kill -9 after 20 records, in the middle of writing the 21st:
    completed = first.run_dir / "completed.jsonl"
    lines = completed.read_bytes().splitlines(keepends=True)
    completed.write_bytes(b"".join(lines[:20]) + lines[20][:33])
    kept = {json.loads(line)["id"] for line in lines[:20] if json.loads(line)["error"] is None}
    server.requests.clear()

    resumed_config = load_config(overrides=[f"resume={first.run_dir}"])
    result = await run_experiment(resumed_config, ENVIRON)

    assert result.run_dir == first.run_dir
    records = read_records(result.run_dir)  # fails on any duplicate
    assert set(records) == {p["id"] for p in prompts}
    assert all(record["error"] is None for record in records.values())  # the two failures were retried
    sent = sorted(logged.prompt for logged in server.requests)
    assert sent == sorted({p["id"] for p in prompts} - kept)  # nothing answered was sent again
    side_file = RunFolder(result.run_dir).failed_before_resume
    side = [json.loads(line) for line in side_file.read_text().splitlines()]
    assert {r["id"] for r in side} <= {"p2", "p7"}
    assert all(r["error"]["type"] == "bad_request" for r in side)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert (summary["prompts"], summary["ok"], summary["status"]) == (30, 30, "complete")
    assert summary["resumed"]["kept"] == len(kept)
    assert summary["resumed"]["torn_bytes_dropped"] == 33


async def test_resuming_a_finished_run_sends_nothing(tmp_path: Path, server: FakeChatServer) -> None:
    config = make_config(tmp_path, server.url, [{"id": i, "prompt": f"p{i}"} for i in range(5)])
    save_config(config)
    first = await run_experiment(config, ENVIRON)
    before = (first.run_dir / "completed.jsonl").read_bytes()

    resumed = await run_experiment(config.model_copy(update={"resume": first.run_dir}), ENVIRON)

    assert len(server.requests) == 5
    assert (resumed.run_dir / "completed.jsonl").read_bytes() == before
    assert resumed.summary["ok"] == 5
    assert not RunFolder(resumed.run_dir).failed_before_resume.exists()


@pytest.mark.parametrize(
    ("content", "kept", "torn"),
    [
        (b'{"id": 1, "error": null}\n{"id": 2, "err', b'{"id": 1, "error": null}\n', 14),
        (b'{"id": 1, "resp', b"", 15),  # torn first line
        (b'{"id": 1, "error": null}', b'{"id": 1, "error": null}\n', 0),  # whole, only its newline lost
        (b"", b"", 0),
    ],
)
def test_torn_last_line_is_dropped(tmp_path: Path, content: bytes, kept: bytes, torn: int) -> None:
    folder = RunFolder(tmp_path)
    folder.completed.write_bytes(content)

    assert scan_completed(folder).torn_bytes == torn
    rewrite_completed(folder)

    assert folder.completed.read_bytes() == kept
    assert not folder.failed_before_resume.exists()


def test_resume_keeps_one_answer_per_id_and_moves_the_rest(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    lines = [
        {"id": "a", "response": "1", "error": None},
        {"id": "b", "response": None, "error": {"type": "server_error"}},
        {"id": "a", "response": "again", "error": None},
        {"id": "c", "response": "3", "error": None},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "not json at all\n"
    folder.completed.write_text(text)

    resumed = scan_completed(folder)
    assert folder.completed.read_text() == text  # scanning changes nothing
    rewrite_completed(folder)

    kept = [json.loads(line) for line in folder.completed.read_text().splitlines()]
    assert [(r["id"], r["response"]) for r in kept] == [("a", "1"), ("c", "3")]
    assert (resumed.kept, resumed.moved) == (2, 3)
    assert resumed.is_unanswered("b")
    assert not resumed.is_unanswered("a")
    side = folder.failed_before_resume.read_text().splitlines()
    assert side == [json.dumps(lines[1]), json.dumps(lines[2]), "not json at all"]
    assert not list(tmp_path.glob("*.resume-partial"))


def test_resume_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a run folder"):
        load_config(overrides=[f"resume={tmp_path}"])


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_cli_resume_after_the_process_is_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "prompt": f"p{i}"}) + "\n" for i in range(300)))
    with serving(FakeChatServer(delay_s=0.01)) as server:
        base = [
            sys.executable,
            "-m",
            "runner",
            f"experiment.file={prompts}",
            "experiment.api=fakechat",
            "experiment.model_name=m",
            "+providers.fakechat=tests.reliability.http_provider:FakeChatProvider",
            f"+endpoints.fakechat={{base_url:'{server.url}',api_key_env:FAKE_CHAT_KEY}}",
            "max_queries=12000",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT), **ENVIRON}
        with (tmp_path / "first.log").open("wb") as log:
            process = subprocess.Popen(base, cwd=tmp_path, env=env, stdout=log, stderr=log)
            run_dir = _wait_for_records(tmp_path, process, at_least=60)
            process.send_signal(stop)
            process.wait(timeout=30)
        answered_before = {
            json.loads(line)["id"]
            for line in (run_dir / "completed.jsonl").read_bytes().splitlines()
            if line.endswith(b"}") and json.loads(line)["error"] is None
        }
        assert 60 <= len(answered_before) < 300
        if stop == signal.SIGINT:  # a graceful stop says how to finish
            assert f"prompto-run resume={run_dir}" in (tmp_path / "first.log").read_text()
        server.requests.clear()

        resumed = subprocess.run(
            [sys.executable, "-m", "runner", f"resume={run_dir}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert resumed.returncode == 0, resumed.stderr
        sent = {int(logged.prompt.removeprefix("p")) for logged in server.requests}
    records = read_records(run_dir)
    assert set(records) == set(range(300))
    assert all(record["error"] is None for record in records.values())
    assert not sent & answered_before
    assert len(server.requests) == 300 - len(answered_before)
    assert sorted(path.name for path in (tmp_path / "outputs").iterdir()) == ["prompts"]  # no second folder
    assert [path for path in run_dir.rglob("*") if path.is_file() and KEY.encode() in path.read_bytes()] == []


def _wait_for_records(cwd: Path, process: subprocess.Popen[bytes], at_least: int) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for completed in (cwd / "outputs").glob("*/*/completed.jsonl"):
            if completed.read_bytes().count(b"\n") >= at_least:
                return completed.parent
        assert process.poll() is None, (cwd / "first.log").read_text()
        time.sleep(0.01)
    raise AssertionError("the run wrote too few records")


async def test_resume_may_change_pacing_and_retries_only(tmp_path: Path, server: FakeChatServer) -> None:
    config = make_config(tmp_path, server.url, [{"id": 1, "prompt": "p"}], max_attempts=2)
    save_config(config)
    await run_experiment(config, ENVIRON)

    resumed = load_config(
        overrides=[f"resume={config.output_dir}", "max_attempts=9", "+rate_limits.apis.fakechat=30"]
    )

    assert resumed.max_attempts == 9
    assert resumed.rate_limits.apis["fakechat"].max_queries == 30
    assert resumed.experiment.api == "fakechat"
    assert resumed.resume == resumed.output_dir == config.output_dir.resolve()
    with pytest.raises(
        ConfigError, match=r"cannot change `experiment.model_name` \(saved: 'm', given: 'other'\)"
    ):
        load_config(overrides=[f"resume={config.output_dir}", "experiment.model_name=other"])
    unchanged = load_config(
        overrides=[f"resume={config.output_dir}", "experiment.api=fakechat", "progress.mode=off"]
    )
    assert unchanged.experiment.api == "fakechat"
    assert unchanged.progress.mode == "off"


async def test_resume_refuses_a_folder_still_being_written(tmp_path: Path, server: FakeChatServer) -> None:
    config = make_config(tmp_path, server.url, [{"id": 1, "prompt": "p"}])
    save_config(config)
    first = await run_experiment(config, ENVIRON)
    (first.run_dir / "completed.jsonl").write_text("")
    server.requests.clear()

    with folder_lock(first.run_dir), pytest.raises(FolderBusy, match="in use by a running prompto-run"):
        await run_experiment(config.model_copy(update={"resume": first.run_dir}), ENVIRON)

    assert server.requests == []
    await run_experiment(config.model_copy(update={"resume": first.run_dir}), ENVIRON)  # free again
    assert len(server.requests) == 1
