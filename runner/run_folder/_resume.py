"""Resuming a run in its own folder: keep every answer already paid for, retry everything else.

First, :func:`check_resumable` refuses a folder that is not as the run left it: a prompt file whose
SHA-256 is not the one ``input.sha256`` saved (the answers kept would belong to other prompts), or
no ``completed.jsonl`` at all (every prompt would be sent, and paid for, again).

A resume then reads ``completed.jsonl`` twice:

1. :func:`scan_completed` (read only): the ids of answered records (``error`` is null), kept in an
   :class:`~runner.prompts._id_set.IdSet` (12 to 24 bytes a prompt), tell the validation pass which prompts to
   leave out. If validation then fails, the folder is left exactly as it was.
2. :func:`rewrite_completed`, once the plan is valid: the file is rewritten keeping only the first
   answer per id. Failed and not-sent records, and any line that is not a JSON object, move to
   ``failed-before-resume.jsonl`` for audit; a torn last line (a ``kill -9`` in the middle of a write)
   is dropped. The rewrite goes to a temporary file that replaces the original atomically, so a crash
   during resume leaves either the old file or the new one, never a mix.

The queues then append to the same file, so after any number of interruptions and resumes it holds
each prompt exactly once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from runner.config._errors import UserError
from runner.config._log import LOGGER_NAME
from runner.prompts._id_set import IdSet
from runner.run_folder._completed import CompletedFile, RecordLine
from runner.run_folder._files import RunFolder, file_sha256

logger = logging.getLogger(LOGGER_NAME)


@dataclass
class Resumed:
    """What a resume found in the folder."""

    answered: IdSet = field(default_factory=IdSet)
    """The id of every prompt already answered."""
    kept: int = 0
    moved: int = 0
    """Failed, not-sent or unreadable records moved to the side file (they are retried)."""
    torn_bytes: int = 0
    """Bytes of a torn last line that were dropped."""

    def is_unanswered(self, prompt_id: str) -> bool:
        """Whether the prompt still has to be sent (``build_plan``'s ``include``)."""
        return prompt_id not in self.answered

    def as_summary(self) -> dict[str, int]:
        """The ``resumed`` entry of ``summary.json``."""
        return {"kept": self.kept, "moved_to_side_file": self.moved, "torn_bytes_dropped": self.torn_bytes}


class ResumeRefused(UserError):
    """The run folder is not as the run left it; nothing was sent and nothing in it was changed."""


def check_resumable(folder: RunFolder, prompt_file: Path) -> None:
    """Refuse (:class:`ResumeRefused`) a resume of ``folder`` that would send ``prompt_file`` wrongly.

    The checksum comes first: the advice for a missing ``completed.jsonl`` (send the same prompts
    again) holds only for the prompt file the run started with.
    """
    if not prompt_file.is_file():
        raise ResumeRefused(f"cannot resume {folder.path}: its prompt file {prompt_file} is missing.")
    saved = folder.saved_input_sha256()
    if saved is None:
        raise ResumeRefused(
            f"cannot resume {folder.path}: {folder.input_checksum} is missing or unreadable, so nothing "
            f"shows that {prompt_file} is the prompt file the run's answers belong to. (A run stopped "
            "before writing it had sent nothing.) Start a new run with experiment.file=YOUR_PROMPT_FILE."
        )
    sha256 = file_sha256(prompt_file)
    if sha256 != saved[0]:
        raise ResumeRefused(
            f"cannot resume {folder.path}: {prompt_file} was changed after the run started (its sha256 is "
            f"{sha256}; {folder.input_checksum.name} saved {saved[0]}). The answers in "
            f"{folder.completed.name} belong to the prompts as they were, so a resume would keep old "
            "answers for changed prompts. Put the original file back, or start a new run with the edited "
            "file (experiment.file=...)."
        )
    if not folder.completed.exists() and not folder.summary.exists():
        # Stopped before its first request (``completed.jsonl`` is created just before it): e.g. a
        # ``kill -9`` while a million-line file was being validated. Nothing was sent or is lost.
        logger.warning("resume: %s never started sending; every prompt will be sent", folder.path)
    elif not folder.completed.exists():
        raise ResumeRefused(
            f"cannot resume {folder.path}: {folder.completed.name} is missing, so no prompt is recorded as "
            "answered and every prompt would be sent (and paid for) again. If the file was moved, put it "
            f"back. To send every prompt again on purpose, start a new run with rerun={folder.path}, or "
            f"create an empty {folder.completed} and resume."
        )


def scan_completed(folder: RunFolder, on_kept: Callable[[dict[str, Any]], None] = lambda _: None) -> Resumed:
    """What ``completed.jsonl`` already holds (nothing is changed); ``on_kept`` sees each answer kept."""
    resumed = Resumed()
    for line, kind in _classified(folder.completed, resumed.answered):
        if kind is _Kind.ANSWER:
            assert line.record is not None
            resumed.kept += 1
            on_kept(line.record)
        elif kind is _Kind.TORN:
            resumed.torn_bytes = len(line.raw)
        elif kind is _Kind.MOVED:
            resumed.moved += 1
    return resumed


def rewrite_completed(folder: RunFolder) -> None:
    """Keep only the first answer per id in ``completed.jsonl``; move the rest to the side file."""
    completed, side_file = folder.completed, folder.failed_before_resume
    if not completed.exists():
        return
    partial = completed.with_name(completed.name + ".resume-partial")
    with partial.open("wb") as kept, side_file.open("ab") as side:
        for line, kind in _classified(completed, IdSet()):
            if kind is _Kind.ANSWER:
                kept.write(line.terminated)
            elif kind is _Kind.MOVED:
                side.write(line.terminated)
            elif kind is _Kind.TORN:
                logger.warning(
                    "resume: dropped a torn last line (%d bytes) from %s", len(line.raw), completed
                )
        for file in (kept, side):
            file.flush()
            os.fsync(file.fileno())
    partial.replace(completed)
    if side_file.stat().st_size == 0:
        side_file.unlink()


class _Kind(Enum):
    ANSWER = "answer"
    """The first answered record of its id: kept."""
    MOVED = "moved"
    """A failure, a not-sent record, a second answer to an id, or a line that is not a record."""
    TORN = "torn"
    """A torn last line (see :class:`~runner.run_folder._completed.RecordLine`): dropped."""


def _classified(path: Path, answered: IdSet) -> Iterator[tuple[RecordLine, _Kind]]:
    """Each line with its kind; the id of each answer is added to ``answered`` as it is met."""
    if not path.exists():
        return
    for line in CompletedFile(path).lines():
        record = line.record
        if line.torn:
            kind = _Kind.TORN
        elif (
            record is not None
            and "id" in record
            and record.get("error") is None
            and answered.add(record["id"])
        ):
            kind = _Kind.ANSWER
        else:
            kind = _Kind.MOVED
        yield line, kind
