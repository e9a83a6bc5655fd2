"""prompto 0.2.1 itself, run against a fake server, to show what it sends for a prompt dict.

``PROMPTO_REFERENCE_PYTHON`` names a Python with ``prompto==0.2.1`` and its ``ollama`` and
``huggingface-tgi`` extras; without it, the reference venv CI makes (``.venv-prompto/``, see
tests/cli/prompto_reference.py) is used when it has them; the tests are skipped otherwise (prompto-run
does not depend on prompto).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import trio

from tests.cli.prompto_reference import reference_venv


def _reference_python() -> str | None:
    configured = os.environ.get("PROMPTO_REFERENCE_PYTHON")
    if configured:
        return configured
    venv = reference_venv()
    if venv is None:
        return None
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import ollama, openai"], capture_output=True, check=False)
    return str(python) if probe.returncode == 0 else None


REFERENCE_PYTHON = _reference_python()
needs_prompto = pytest.mark.skipif(
    not REFERENCE_PYTHON, reason="set PROMPTO_REFERENCE_PYTHON to a Python with prompto 0.2.1"
)

_PROBE = """
import asyncio, json, os, sys, tempfile
from prompto.settings import Settings
api, prompt = sys.argv[1], json.loads(sys.argv[2])
folder = tempfile.mkdtemp()
if api == "ollama":
    from prompto.apis.ollama.ollama import OllamaAPI as API
else:
    from prompto.apis.huggingface_tgi.huggingface_tgi import HuggingfaceTGIAPI as API
api = API(settings=Settings(data_folder=folder), log_file=os.path.join(folder, "log.txt"))
print(json.dumps(asyncio.run(api.query(prompt))))
"""


async def run_prompto(api: str, prompt_dict: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """prompto's ``query`` of ``prompt_dict`` for ``api``: the completed prompt dict it returns."""
    assert REFERENCE_PYTHON is not None
    result = await trio.run_process(
        [REFERENCE_PYTHON, "-c", _PROBE, api, json.dumps(prompt_dict)],
        env={**os.environ, **env},
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    completed: dict[str, Any] = json.loads(result.stdout.decode().splitlines()[-1])
    return completed
