"""The installed console scripts (beside this Python), run as a user runs them: in a folder of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, run_installed

BIN = Path(sys.executable).parent
TIMING_FIELDS = ("timestamp_sent", "latency_s")


def run_command(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``NAME ARGS...`` (``prompto-run``, ``prompto-score``...) in ``cwd``, its output captured."""
    return run_installed(name, *args, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)


def answers(completed: Path) -> dict[str, dict[str, Any]]:
    """A records file's records by id, without the fields that differ from one run to the next."""
    records = {}
    for line in completed.read_text().splitlines():
        record = json.loads(line)
        for name in TIMING_FIELDS:
            record.pop(name, None)
        records[record["id"]] = record
    return records
