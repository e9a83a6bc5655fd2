"""The exit statuses of every command, named once; the README's Reliability section lists them.

A script chaining ``prompto-run … && next-step`` goes on only when every prompt has its record.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from enum import IntEnum
from typing import Any


class ExitStatus(IntEnum):
    """What a command's exit status tells a calling script."""

    OK = 0
    """Every prompt has its record (some may record a failure: see the summary)."""
    USER_ERROR = 2
    """A bad config, prompt file or command line: the message says what to fix; nothing was sent."""
    EMPTY = 3
    """The prompt file holds no prompt: nothing to send."""
    INCOMPLETE_INPUT = 4
    """The prompt file changed after it was validated (its writer had not finished): lines are missing."""
    OUTPUTS_UNWRITABLE = 5
    """The run folder could not be written (disk full): records written so far are kept; resume."""
    BATCHES_PENDING = 6
    """Batches are still at the provider, not collected although ``batch.wait`` was on (polling them
    failed, e.g. a revoked key): ``resume=`` collects them. (With ``batch.wait=false`` a run that
    submitted its batches exits 0, as asked.)"""
    BUDGET_EXHAUSTED = 7
    """The budget (``budget.max_usd``, a queue's or a stage's ``max_usd``) had no room for some prompts:
    they are recorded as ``not_sent`` (reason ``budget``); ``resume=`` with a larger budget sends them."""
    INTERRUPTED = 128 + signal.SIGINT
    """Stopped by Ctrl-C; a stop by another signal exits 128 + its number (SIGTERM 143, SIGHUP 129)."""


def interrupted_by(signal_number: int | None) -> int:
    """The status of a run stopped by ``signal_number`` (128 + it, the shells' convention)."""
    return 128 + signal_number if signal_number is not None else int(ExitStatus.INTERRUPTED)


STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that stop a run cleanly: Ctrl-C, and SLURM's, ``docker stop``'s and systemd's SIGTERM."""


def exit_status_of(summary: Mapping[str, Any]) -> int:
    """The status a run exits with, from its ``summary.json``."""
    status = summary.get("status")
    if status == "interrupted":
        stopped_by = str(summary.get("stopped_by"))
        return interrupted_by(
            signal.Signals[stopped_by] if stopped_by in signal.Signals.__members__ else None
        )
    return int(
        {
            "empty": ExitStatus.EMPTY,
            "incomplete_input": ExitStatus.INCOMPLETE_INPUT,
            "outputs_unwritable": ExitStatus.OUTPUTS_UNWRITABLE,
            "batches_pending": ExitStatus.BATCHES_PENDING,
            "budget_exhausted": ExitStatus.BUDGET_EXHAUSTED,
        }.get(str(status), ExitStatus.OK)
    )


class ProcessStatus:
    """The worst status of the runs this process started: a sweep's jobs report here, in this process
    or (through the sweep callback, which reads their summaries) in launcher processes."""

    worst = int(ExitStatus.OK)

    @classmethod
    def report(cls, status: int) -> None:
        """Count one job's status."""
        cls.worst = max(cls.worst, status)
