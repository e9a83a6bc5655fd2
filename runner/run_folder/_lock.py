"""One writer per run folder: a resume started while the run is still going must not double its records.

The run holds an exclusive ``flock`` on ``<run dir>/.lock`` for its whole life. The operating system
releases it when the process ends, however it ends (``kill -9`` included), so a stale lock never
blocks a resume. Where ``fcntl`` does not exist (Windows) the folder is not locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.config._errors import UserError
from runner.run_folder._files import RunFolder

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class FolderBusy(UserError):
    """Another prompto-run is writing to this run folder."""


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock inside the block, or raise :class:`FolderBusy` at once."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path = RunFolder(folder).lock
    with path.open("a+") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            raise FolderBusy(
                f"{folder} is in use by a running prompto-run ({holder}); wait for it to end or stop it "
                "before resuming."
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()}\n")
        file.flush()
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
