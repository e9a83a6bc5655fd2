"""The exit statuses of every command, named once; the README's Reliability section lists them.

A script chaining ``prompto-run … && next-step`` goes on only when every prompt has its record.
"""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitStatus(IntEnum):
    """What a command's exit status tells a calling script."""

    OK = 0
    """Every prompt has its record (some may record a failure: see the summary)."""
    USER_ERROR = 2
    """A bad config, prompt file or command line: the message says what to fix; nothing was sent."""
    EMPTY = 3
    """The prompt file holds no prompt: nothing to send."""
    OUTPUTS_UNWRITABLE = 5
    """The run folder could not be written (disk full): records written so far are kept; resume."""
    INTERRUPTED = 128 + signal.SIGINT
    """Stopped by Ctrl-C; a stop by another signal exits 128 + its number (SIGTERM 143, SIGHUP 129)."""


def interrupted_by(signal_number: int | None) -> int:
    """The status of a run stopped by ``signal_number`` (128 + it, the shells' convention)."""
    return 128 + signal_number if signal_number is not None else int(ExitStatus.INTERRUPTED)


STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that stop a run cleanly: Ctrl-C, and SLURM's, ``docker stop``'s and systemd's SIGTERM."""
