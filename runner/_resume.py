"""Resuming a run in its own folder: keep every answer already paid for, retry everything else.

Before a resumed run sends anything, ``completed.jsonl`` is put in order:

1. A torn last line (a ``kill -9`` in the middle of a write) is cut off: the file is truncated to its
   last complete line. A last line that is whole JSON but lacks its newline is kept.
2. The file is rewritten keeping only answered records (``error`` is null), one per id. Failed and
   not-sent records, and any line that is not a JSON object, move to ``failed-before-resume.jsonl``
   for audit. The rewrite goes to a temporary file that replaces the original atomically, so a crash
   during resume leaves either the old file or the new one, never a mix.
3. The ids of the kept records (one hash each, 8 bytes a prompt) tell the validation pass which
   prompts to leave out; only the rest is queued and appended to the same file.

So after any number of interruptions and resumes, the file holds each prompt exactly once.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner._outputs import RunFolder

logger = logging.getLogger("prompto_run")

FAILED_BEFORE_RESUME = "failed-before-resume.jsonl"
TAIL_CHUNK = 1 << 16


@dataclass
class Resumed:
    """What a resume found in the folder."""

    answered: set[int] = field(default_factory=set)
    """``hash(id)`` of every prompt already answered."""
    kept: int = 0
    moved: int = 0
    """Failed, not-sent or unreadable records moved to the side file (they are retried)."""
    torn_bytes: int = 0
    """Bytes of a torn last line that were dropped."""

    def is_unanswered(self, prompt_id: str) -> bool:
        """Whether the prompt still has to be sent (``build_plan``'s ``include``)."""
        return hash(prompt_id) not in self.answered

    def as_summary(self) -> dict[str, int]:
        """The ``resumed`` entry of ``summary.json``."""
        return {"kept": self.kept, "moved_to_side_file": self.moved, "torn_bytes_dropped": self.torn_bytes}


def drop_torn_tail(path: Path) -> int:
    """Cut a torn last line off ``path``; returns how many bytes were dropped (0 if none)."""
    with path.open("r+b") as file:
        size = file.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - TAIL_CHUNK)
            file.seek(start)
            chunk = file.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                last_complete = start + newline + 1
                break
            end = start
        else:
            last_complete = 0
        if last_complete == size:
            return 0
        file.seek(last_complete)
        tail = file.read()
        if _is_record(tail):
            file.seek(0, os.SEEK_END)
            file.write(b"\n")
            return 0
        file.truncate(last_complete)
        return len(tail)


def resume_folder(folder: RunFolder, on_kept: Callable[[dict[str, Any]], None] = lambda _: None) -> Resumed:
    """Put ``completed.jsonl`` in order for a resume (module docs); ``on_kept`` sees each kept record."""
    resumed = Resumed()
    completed = folder.completed
    if not completed.exists():
        return resumed
    resumed.torn_bytes = drop_torn_tail(completed)
    if resumed.torn_bytes:
        logger.warning("resume: dropped a torn last line (%d bytes) from %s", resumed.torn_bytes, completed)
    partial = completed.with_name(completed.name + ".resume-partial")
    with (
        completed.open("rb") as source,
        partial.open("wb") as kept,
        (folder.path / FAILED_BEFORE_RESUME).open("ab") as side,
    ):
        for raw in source:
            record = _parse(raw)
            key = hash(str(record["id"])) if record is not None and "id" in record else None
            if record is not None and key is not None and record.get("error") is None:
                if key not in resumed.answered:
                    resumed.answered.add(key)
                    resumed.kept += 1
                    kept.write(raw)
                    on_kept(record)
                continue  # a second answer to the same id: the first one stands
            if raw.strip():
                side.write(raw)
                resumed.moved += 1
        kept.flush()
        os.fsync(kept.fileno())
        side.flush()
        os.fsync(side.fileno())
    partial.replace(completed)
    side_file = folder.path / FAILED_BEFORE_RESUME
    if side_file.stat().st_size == 0:
        side_file.unlink()
    logger.info(
        "resume: %d prompts already answered are kept; %d failed or unsent records moved to %s",
        *(resumed.kept, resumed.moved, FAILED_BEFORE_RESUME),
    )
    return resumed


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _is_record(raw: bytes) -> bool:
    return _parse(raw) is not None
