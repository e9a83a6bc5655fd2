"""Watching ``input/``: which experiment files have stopped changing and may be taken, oldest first.

A file is *stable* once its size and modification time have stayed the same for ``stable_for_s``
seconds of observation, so a file still being copied or written is left alone until it settles. Time
comes from an injectable clock (``trio.current_time`` by default, so tests run in virtual time) and
file state from an injectable ``stat``.

Stillness cannot tell a finished file from one whose writer has paused, so producers should write
elsewhere (or under a name the watcher ignores: dotfiles, ``*.tmp``, ``*.part``) and rename the
finished file into ``input/``. An entry that cannot be read (a link loop, a broken link, no permission)
is skipped and reported once; the other files still run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from runner.config._log import LOGGER_NAME
from runner.prompts._prompt_file import FileState, stat_state

logger = logging.getLogger(LOGGER_NAME)

EXPERIMENT_SUFFIXES = frozenset({".jsonl", ".csv"})
IN_PROGRESS_SUFFIXES = (".tmp", ".part")
"""Names of files still being written (``exp.jsonl.part``), left alone without a word, as dotfiles are."""


@dataclass(slots=True)
class _Seen:
    state: FileState
    since: float
    """Clock time at which ``state`` was first observed."""


@dataclass(frozen=True, slots=True)
class _Unreadable:
    reason: str
    state: FileState | None
    """The entry's state when it could not be read (None: not even its state): looked at again once
    that changes."""


class InputWatcher:
    """Call :meth:`poll` now and then; it returns the experiment files ready to be taken."""

    def __init__(
        self,
        folder: Path,
        *,
        stable_for_s: float,
        clock: Callable[[], float] = trio.current_time,
        stat: Callable[[Path], FileState] = stat_state,
    ) -> None:
        self.folder = folder
        self._stable_for_s = stable_for_s
        self._clock = clock
        self._stat = stat
        self._seen: dict[Path, _Seen] = {}
        self._ignored: set[str] = set()
        self._unreadable: dict[Path, _Unreadable] = {}

    @property
    def pending(self) -> int:
        """Experiment files seen at the last poll (ready or still settling)."""
        return len(self._seen)

    @property
    def unreadable(self) -> dict[Path, str]:
        """Entries skipped because they could not be read, and why."""
        return {path: entry.reason for path, entry in self._unreadable.items()}

    def poll(self) -> list[Path]:
        """Experiment files whose size and mtime held for ``stable_for_s``, oldest mtime first."""
        now = self._clock()
        current: dict[Path, _Seen] = {}
        for path in self._candidates():
            try:
                state = self._stat(path)
            except FileNotFoundError:
                continue  # gone between listing and stat (or a broken link)
            except OSError as exc:
                self.skip(path, exc)
                continue
            if self._still_unreadable(path, state):
                continue
            seen = self._seen.get(path)
            current[path] = seen if seen is not None and seen.state == state else _Seen(state, now)
        self._seen = current
        stable = [path for path, seen in current.items() if now - seen.since >= self._stable_for_s]
        ready = [path for path in stable if self._readable(path)]
        return sorted(ready, key=lambda path: (current[path].state.mtime_ns, path.name))

    def settles_in(self) -> float | None:
        """Seconds until the next file seen still settling could be stable (None: none is settling)."""
        now = self._clock()
        waits = [seen.since + self._stable_for_s - now for seen in self._seen.values()]
        return max(0.0, min(waits)) if waits else None

    def forget(self, path: Path) -> None:
        """Stop tracking ``path`` (it has been taken)."""
        self._seen.pop(path, None)

    def _readable(self, path: Path) -> bool:
        """Whether the file opens for reading; if not, it is skipped (and reported once)."""
        try:
            with open(path, "rb"):
                return True
        except OSError as exc:
            self.skip(path, exc)
            return False

    def _still_unreadable(self, path: Path, state: FileState | None) -> bool:
        skipped = self._unreadable.get(path)
        if skipped is None:
            return False
        if skipped.state == state:
            return True
        del self._unreadable[path]  # it changed: look at it again
        return False

    def skip(self, path: Path, error: OSError) -> None:
        """Leave ``path`` alone (it cannot be read, or moved) until it changes; say so once."""
        try:
            state: FileState | None = self._stat(path)
        except OSError:
            state = None
        self._seen.pop(path, None)
        if self._still_unreadable(path, state):
            return
        reason = error.strerror or str(error)
        self._unreadable[path] = _Unreadable(reason, state)
        logger.warning("%s cannot be read (%s); the pipeline skips it and goes on", path, reason)

    def _candidates(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        files = []
        names = set()
        for entry in entries:
            names.add(entry.name)
            if entry.name.startswith(".") or entry.name.lower().endswith(IN_PROGRESS_SUFFIXES):
                continue
            is_experiment = Path(entry.name).suffix.lower() in EXPERIMENT_SUFFIXES
            try:
                is_file = entry.is_file()  # follows links: a link loop raises
            except OSError as exc:
                if is_experiment:
                    self.skip(Path(entry.path), exc)
                continue
            if is_experiment and is_file:
                files.append(Path(entry.path))
            elif entry.name not in self._ignored:
                self._ignored.add(entry.name)
                logger.warning(
                    "%s is not an experiment file (.jsonl or .csv); the pipeline leaves it", entry.path
                )
        # An entry gone from input/ is forgotten: one put back under its name is looked at afresh.
        self._unreadable = {path: e for path, e in self._unreadable.items() if path.name in names}
        return files
