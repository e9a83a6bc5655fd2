"""Shared by the distributed-run tests: the CLI in a subprocess, small configs, a real Redis server."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMING_FIELDS = ("timestamp_sent", "latency_s")


LAUNCHER_PRESETS = [
    ("local_processes", "hydra_joblib_launcher", "hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("ray_local", "hydra_ray_launcher", "hydra_ray_launcher.ray_launcher.RayLauncher"),
    ("ray_cluster", "hydra_ray_launcher", "hydra_ray_launcher.ray_launcher.RayLauncher"),
    ("slurm", "hydra_submitit_launcher", "hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
]
"""Each shipped ``conf/hydra/launcher/`` preset, the plugin it needs and the launcher class it names."""


def has_module(module: str) -> bool:
    """Whether ``module`` can be imported (an optional extra is installed)."""
    # find_spec imports the parent package of a dotted name, and raises when that package is missing.
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _environ() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RAY_DEDUP_LOGS": "0"}


def run_module(code: str, args: Sequence[str], *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS...`` on this worktree's sources (the installed scripts run main's)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_module(code: str, args: Sequence[str]) -> subprocess.Popen[str]:
    """``python -c CODE ARGS...`` started in the background; read its output with ``communicate()``."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=_environ(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def prompto_run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``prompto-run ARGS...``."""
    return run_module("from runner.cli._prompto_run import main; main()", args, timeout=timeout)


def prompto_merge(*args: str) -> subprocess.CompletedProcess[str]:
    """``prompto-merge ARGS...``."""
    return run_module(
        "import sys; from runner.cli._folder_commands import merge_main; sys.exit(merge_main())",
        args,
        timeout=60,
    )


def write_models(conf_dir: Path, names: Sequence[str]) -> None:
    """``conf/model/NAME.yaml``: fast simulated models whose replies name the model."""
    (conf_dir / "model").mkdir(parents=True, exist_ok=True)
    for name in names:
        (conf_dir / "model" / f"{name}.yaml").write_text(
            f"api: simulated\nmodel_name: {name}\nendpoint:\n  options: {{latency_s: 0.01}}\n"
        )


def write_prompts(path: Path, count: int) -> Path:
    """A prompt file of ``count`` prompts in two groups; every fifth has no id (one is derived)."""
    with path.open("w") as file:
        for number in range(count):
            prompt: dict[str, Any] = {"prompt": f"question {number}?", "group": f"g{number % 2}"}
            if number % 5:
                prompt = {"id": f"q-{number:03d}", **prompt}
            file.write(json.dumps(prompt) + "\n")
    return path


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a completed file by id, without their timing fields."""
    records: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        for field in TIMING_FIELDS:
            record.pop(field)
        assert record["id"] not in records, f"duplicate record {record['id']}"
        records[record["id"]] = record
    return records


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis server on a free port, without persistence; stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    pytest.importorskip("redis", reason="needs the redis extra")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
