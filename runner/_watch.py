"""Watching ``input/``: which experiment files have stopped changing and may be taken, oldest first.

A file is *stable* once its size and modification time have stayed the same for ``stable_for_s``
seconds of observation, so a file still being copied or written is left alone until it settles. Time
comes from an injectable clock (``trio.current_time`` by default, so tests run in virtual time) and
file state from an injectable ``stat``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from runner._prompt_file import FileState, stat_state

logger = logging.getLogger("prompto_run")

EXPERIMENT_SUFFIXES = frozenset({".jsonl", ".csv"})


@dataclass(slots=True)
class _Seen:
    state: FileState
    since: float
    """Clock time at which ``state`` was first observed."""


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

    @property
    def pending(self) -> int:
        """Experiment files seen at the last poll (ready or still settling)."""
        return len(self._seen)

    def poll(self) -> list[Path]:
        """Experiment files whose size and mtime held for ``stable_for_s``, oldest mtime first."""
        now = self._clock()
        current: dict[Path, _Seen] = {}
        for path in self._candidates():
            try:
                state = self._stat(path)
            except FileNotFoundError:
                continue  # gone between listing and stat
            seen = self._seen.get(path)
            current[path] = seen if seen is not None and seen.state == state else _Seen(state, now)
        self._seen = current
        ready = [path for path, seen in current.items() if now - seen.since >= self._stable_for_s]
        return sorted(ready, key=lambda path: (current[path].state.mtime_ns, path.name))

    def settles_in(self) -> float | None:
        """Seconds until the next file seen still settling could be stable (None: none is settling)."""
        now = self._clock()
        waits = [seen.since + self._stable_for_s - now for seen in self._seen.values()]
        return max(0.0, min(waits)) if waits else None

    def forget(self, path: Path) -> None:
        """Stop tracking ``path`` (it has been taken)."""
        self._seen.pop(path, None)

    def _candidates(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        files = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            if Path(entry.name).suffix.lower() in EXPERIMENT_SUFFIXES:
                files.append(Path(entry.path))
            elif entry.name not in self._ignored:
                self._ignored.add(entry.name)
                logger.warning(
                    "%s is not an experiment file (.jsonl or .csv); the pipeline leaves it", entry.path
                )
        return files
