"""Running prompto 0.2.1 itself, for tests that compare its files with prompto-run's.

prompto lives in its own venv (it pins its own dependencies): ``$PROMPTO_REFERENCE_VENV``, else
``.venv-prompto/`` at the checkout's root (``.ci/run`` makes it: ``pip install 'prompto[openai]==0.2.1'``).
Tests that need it are skipped when neither holds ``bin/prompto_run_experiment``. prompto's OpenAI
client is the ``openai`` SDK, which reads ``OPENAI_BASE_URL``: both programs are pointed at the same
:class:`~tests.fakes.server.FakeServer` through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.fakes.replies import openai_chat, openai_error
from tests.fakes.server import RecordedRequest, Reply

PROMPTO_TIMESTAMP = r"\d{2}-\d{2}-\d{4}-\d{2}-\d{2}-\d{2}"


def reference_venv() -> Path | None:
    """The venv holding prompto 0.2.1's console scripts, if there is one."""
    configured = os.environ.get("PROMPTO_REFERENCE_VENV")
    venv = Path(configured) if configured else REPO_ROOT / ".venv-prompto"
    return venv if (venv / "bin" / "prompto_run_experiment").is_file() else None


def reference_bin() -> str | None:
    """The ``bin/`` of prompto 0.2.1's environment: ``$PROMPTO_REFERENCE``, else the reference venv's."""
    configured = os.environ.get("PROMPTO_REFERENCE")
    if configured:
        return configured
    venv = reference_venv()
    return None if venv is None else str(venv / "bin")


needs_prompto = pytest.mark.skipif(
    reference_venv() is None, reason="prompto 0.2.1 not installed (PROMPTO_REFERENCE_VENV or .venv-prompto/)"
)


def environment(base_url: str, cwd: Path) -> dict[str, str]:
    """What both programs run with: the fake server as OpenAI, a key, nothing else of this machine's."""
    return {
        "OPENAI_BASE_URL": f"{base_url}/v1",
        "OPENAI_API_KEY": "sk-test",
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO_ROOT),
        "NO_PROXY": "127.0.0.1",
    }


def run_reference(
    command: str, *args: str, cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """One of prompto 0.2.1's console scripts."""
    venv = reference_venv()
    assert venv is not None
    return subprocess.run(
        [str(venv / "bin" / command), *args],
        cwd=cwd,
        env={key: value for key, value in env.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_ours(command: str, *args: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The same command of this checkout's (``runner.cli._prompto_commands``)."""
    code = f"from runner.cli._prompto_commands import {command}; {command}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def openai_responder(request: RecordedRequest) -> Reply:
    """Answers that depend only on the request: the last user message, upper-cased; "fail" is a 400;
    a judge's prompt ("Judge: ...") gets "GOOD"."""
    body: Any = request.json or {}
    messages = body.get("messages") or [{"content": ""}]
    text = str(messages[-1].get("content", ""))
    if "fail" in text:
        return openai_error(400, "this prompt is refused")
    if text.startswith("Judge:"):
        return openai_chat("GOOD")
    return openai_chat(text.upper())


def comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its send time (the two programs sent at different moments)."""
    return {key: value for key, value in record.items() if key != "timestamp_sent"}
