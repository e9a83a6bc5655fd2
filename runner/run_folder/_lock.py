"""One writer per run folder: a resume started while the run is still going must not double its records.

The run holds an exclusive ``flock`` on ``<run dir>/.lock`` for its whole life. The operating system
releases it when the process ends, however it ends (``kill -9`` included), so a stale lock never
blocks a resume. A run that ends on its own removes ``.lock`` while it still holds it, so a finished
folder holds no lock file. A process that opened the file just before its removal may then get a lock
on a file no longer named ``.lock``: it sees that the name now leads elsewhere (or nowhere) and tries
again with the file that is there. Where ``fcntl`` does not exist (Windows) the folder is not locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

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
    """Hold the folder's lock inside the block, or raise :class:`FolderBusy` at once; remove it after."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path = RunFolder(folder).lock
    with _locked(path, folder) as file:
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()}\n")
        file.flush()
        try:
            yield
        finally:
            with suppress(OSError):  # a lock file left behind blocks no one: the flock is the lock
                path.unlink()
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def _locked(path: Path, folder: Path) -> IO[str]:
    """``path`` opened and exclusively locked, with ``path`` still naming that very file."""
    while True:
        file = path.open("a+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise FolderBusy(
                f"{folder} is in use by a running prompto-run ({holder}); wait for it to end or stop it "
                "before resuming."
            ) from None
        if _names(path, file):
            return file
        file.close()  # its run removed it as we opened it, and has ended: take the one there now


def _names(path: Path, file: IO[str]) -> bool:
    """Whether ``path`` still leads to the open ``file`` (not removed, nor replaced by a new one)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(file.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
