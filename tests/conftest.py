"""Shared fixtures: a scratch workspace, prompt-file writers, and a recording provider."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from providers import ChatRequest, Completion, Provider, ProviderError, Usage, register, unregister

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder with ``data/input`` and ``data/media``, as the working directory."""
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "data" / "media").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write prompt dicts as JSONL."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``prompto-run`` from this checkout's sources (``python -m runner``)."""
    env_path = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        check=False,
    )


INSTALLED = Path(sys.executable).parent
"""The venv's ``bin/``: the console scripts where ``pip install`` put them."""


def run_installed(
    name: str, *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The installed console script ``name`` run as a user runs it from ``cwd``, its output captured;
    ``env`` replaces the environment (default: this process's)."""
    return subprocess.run(
        [str(INSTALLED / name), *args],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_python(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``python ARGS...`` from this checkout's sources, its output captured."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": os.environ.get("PATH", "/usr/bin")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_once_written(
    process: subprocess.Popen[str],
    root: Path,
    pattern: str,
    records: int,
    stop: signal.Signals = signal.SIGINT,
) -> tuple[str, str]:
    """Press Ctrl-C (or send ``stop``) once the ``completed.jsonl`` matching ``pattern`` holds
    ``records`` records."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        completed = list(root.glob(pattern))
        if completed and len(read_jsonl(completed[0])) >= records:
            break
        time.sleep(0.05)
    process.send_signal(stop)
    return process.communicate(timeout=30)


@dataclass
class Sent:
    """One request a :class:`RecordingProvider` received."""

    at: float
    model: str
    prompt: str
    messages: tuple[tuple[str, str], ...]


@dataclass
class Script:
    """What the recording provider does: per prompt text, a list of outcomes consumed in order."""

    latency_s: float = 0.0
    outcomes: dict[str, list[ProviderError | str]] = field(default_factory=dict)
    gates: dict[str, trio.Event] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)


class RecordingProvider(Provider):
    """``api: recording``: records every request with its (virtual) time; replies as scripted."""

    api: ClassVar[str] = "recording"
    script: ClassVar[Script] = Script()

    async def complete(self, request: ChatRequest) -> Completion:
        script = type(self).script
        prompt = request.messages[-1].text
        messages = tuple((m.role, m.text) for m in request.messages)
        script.sent.append(Sent(trio.current_time(), self.model_name, prompt, messages))
        if prompt in script.gates:
            await script.gates[prompt].wait()
        await trio.sleep(script.latency_s)
        outcomes = script.outcomes.get(prompt)
        outcome = outcomes.pop(0) if outcomes else f"{self.model_name} says {prompt}"
        if isinstance(outcome, ProviderError):
            raise outcome
        return Completion(outcome, "stop", Usage(len(prompt.split()), len(outcome.split())), self.model_name)


@pytest.fixture
def recording() -> Iterator[Script]:
    """Register the recording provider with a fresh script; unregister afterwards."""
    RecordingProvider.script = Script()
    register(RecordingProvider)
    try:
        yield RecordingProvider.script
    finally:
        unregister("recording")


PromptFactory = Callable[..., Path]
