"""How a run ends when it cannot do its work: an empty prompt file, a full disk. Each has its own exit
status and one clear message, never a traceback, and nothing already written is lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, read_jsonl, run_installed


def _prompto_run(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_installed(
        "prompto-run", *args, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=timeout
    )


@pytest.mark.parametrize("content", ["", "\n\n   \n"], ids=["empty", "blank-lines"])
def test_a_prompt_file_without_prompts_exits_3_and_says_so(tmp_path: Path, content: str) -> None:
    (tmp_path / "none.jsonl").write_text(content)

    result = _prompto_run("experiment.file=none.jsonl", "model=simulated_fast", cwd=tmp_path)

    assert result.returncode == 3, result.stderr
    assert "none.jsonl holds no prompt; nothing was sent." in result.stderr
    [summary_file] = tmp_path.glob("outputs/none/*/summary.json")
    assert json.loads(summary_file.read_text())["status"] == "empty"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 1 MiB (a tmpfs: needs root, as on CI), unmounted after the test."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _is_record(line: bytes) -> bool:
    """A whole record (a torn last line may well end in a ``}``: one of its nested objects')."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_a_message_and_resume_finishes_it(
    tmp_path: Path, small_disk: Path
) -> None:
    # 3,000 prompts whose records (about 400 bytes each) cannot fit beside the input copies in 1 MiB.
    prompts = tmp_path / "big.jsonl"
    prompts.write_text(
        "".join(json.dumps({"id": n, "prompt": f"question {n}: " + "x" * 60}) + "\n" for n in range(3000))
    )
    run_dir = small_disk / "run"
    args = ["model=simulated_fast", "max_queries=600000", "report.auto=false", "progress.mode=off"]

    full = _prompto_run(f"experiment.file={prompts}", f"hydra.run.dir={run_dir}", *args, cwd=tmp_path)

    assert full.returncode == 5, full.stderr[-2000:]
    assert "Traceback" not in full.stderr + full.stdout
    kept = [line for line in (run_dir / "completed.jsonl").read_bytes().splitlines() if _is_record(line)]
    assert 0 < len(kept) < 3000
    assert (
        f"disk full: {len(kept)} record(s) kept in {run_dir / 'completed.jsonl'}; free space and run "
        f"prompto-run resume={run_dir}"
    ) in full.stderr
    assert full.stderr.count("disk full") == 1

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = _prompto_run(f"resume={run_dir}", cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr[-2000:]
    records = read_jsonl(run_dir / "completed.jsonl")
    assert sorted(record["id"] for record in records) == list(range(3000))
    assert all(record["error"] is None for record in records)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_a_disk_full_before_sending_says_nothing_was_sent(tmp_path: Path, small_disk: Path) -> None:
    prompts = tmp_path / "huge.jsonl"  # its copy alone does not fit
    prompts.write_text("".join(json.dumps({"id": n, "prompt": "y" * 500}) + "\n" for n in range(3000)))

    result = _prompto_run(
        f"experiment.file={prompts}",
        f"hydra.run.dir={small_disk / 'run'}",
        "model=simulated_fast",
        cwd=tmp_path,
    )

    assert result.returncode == 5, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert f"disk full: nothing was sent; free space in {small_disk} and run again" in result.stderr
