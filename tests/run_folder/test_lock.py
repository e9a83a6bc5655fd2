"""The run folder's lock, from the installed ``prompto-run``: a resume started while the run goes on is
refused with the running pid, and a run that ends leaves no ``.lock`` behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
"""The venv's ``bin/``, where ``pip install`` put the commands."""
ENV = {"PATH": f"{BIN}:/usr/bin:/bin"}


def prompto_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "prompto-run"), *args],
        cwd=cwd,
        env={**ENV, "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_prompts(folder: Path, count: int) -> None:
    rows = [{"id": i, "prompt": f"prompt {i}"} for i in range(count)]
    (folder / "p.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_a_finished_run_leaves_no_lock_file(tmp_path: Path) -> None:
    write_prompts(tmp_path, 3)

    result = prompto_run("experiment.file=p.jsonl", "model=simulated_fast", "max_queries=6000", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    [run_dir] = [path.parent for path in tmp_path.glob("outputs/p/*/summary.json")]
    assert ".lock" not in {path.name for path in run_dir.iterdir()}


def test_a_resume_while_the_run_goes_on_is_refused_with_its_pid_and_then_allowed(tmp_path: Path) -> None:
    write_prompts(tmp_path, 20)  # at 60 per minute: about 19 s of sending, stopped early by Ctrl-C
    running = subprocess.Popen(
        [str(BIN / "prompto-run"), "experiment.file=p.jsonl", "model=simulated_fast", "max_queries=60"],
        cwd=tmp_path,
        env={**ENV, "HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = _lock_file_of(tmp_path, running.pid)

        refused = prompto_run(f"resume={lock.parent}", cwd=tmp_path)

        assert refused.returncode == 2, refused.stderr
        assert f"is in use by a running prompto-run (pid {running.pid})" in refused.stderr
        assert running.poll() is None  # the refusal came while the run was going on
    finally:
        running.send_signal(signal.SIGINT)
        _, err = running.communicate(timeout=60)
    assert running.returncode == 128 + signal.SIGINT, err
    assert not lock.exists()  # a run stopped by Ctrl-C removes it too

    again = prompto_run(f"resume={lock.parent}", "max_queries=6000", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    ids = [json.loads(line)["id"] for line in (lock.parent / "completed.jsonl").read_text().splitlines()]
    assert sorted(ids) == list(range(20))  # each once: the refused resume sent nothing
    assert not lock.exists()


def _lock_file_of(project: Path, pid: int) -> Path:
    """The run folder's ``.lock`` once it names ``pid``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for lock in project.glob("outputs/p/*/.lock"):
            if lock.read_text().strip() == f"pid {pid}":
                return lock
        time.sleep(0.02)
    raise AssertionError(f"no .lock naming pid {pid} under {project}")
