"""Running the installed commands as a user does, for the input tests: each test gets a project folder
of its own (``data/input/``, ``data/media/``) and runs ``.venv/bin/prompto-run``, ``prompto-check``,
``prompto_check_experiment`` or ``prompto-pipeline`` there, on this checkout's sources.

The fixtures (``project``, ``vision_server``) are in this package's ``conftest.py``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import INSTALLED, REPO_ROOT, read_jsonl, run_installed
from tests.fakes import FakeServer

BIN = INSTALLED
SIZE = 3_000
SIM = {"api": "simulated", "model_name": "m"}


def command(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """An installed command as a user runs it from ``cwd`` (this checkout's sources)."""
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(REPO_ROOT)}
    return run_installed(name, *args, cwd=cwd, env=env)


def write_lines(project: Path, name: str, lines: list[str]) -> Path:
    path = project / "data" / "input" / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def many(count: int = SIZE, target: dict[str, str] = SIM) -> list[str]:
    """``count`` good prompt lines, ids 0..count-1, for ``target`` (``{}``: the model config's)."""
    return [json.dumps({"id": i, "prompt": f"prompt {i}", **target}) for i in range(count)]


def assert_refused(result: subprocess.CompletedProcess[str], *problems: str) -> None:
    """Exit 2 with each problem in the message, and no traceback."""
    assert result.returncode == 2, result.stderr
    for problem in problems:
        assert problem in result.stderr
    assert "Traceback" not in result.stderr


def completed_records(project: Path) -> list[dict[str, Any]]:
    files = list(project.glob("outputs/**/completed.jsonl"))
    return [record for file in files for record in read_jsonl(file)]


def vision_model(server: FakeServer) -> list[str]:
    """``model=vllm_local`` (openai-compatible, sends images inline) pointed at ``server``."""
    return [
        "model=vllm_local",
        f"model.endpoint.base_url={server.url('/v1')}",
        "env_file=null",
        "max_queries=600000",
    ]
