"""Moving experiment files out of ``input/``: into their run folder, or into ``input/failed/``.

A file taken by the pipeline is moved (not copied) to ``<data>/output/<name>/<timestamp>/input-<file>``
before anything is sent, so it is never taken twice and its run folder holds it. A file that fails
validation goes to ``input/failed/`` with ``<file>.error.txt`` beside it naming every problem.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runner.run_folder._files import TIME_FORMAT, RunFolder
from runner.run_folder._prompto_layout import RUNS_SUBFOLDER, prompto_run_dir

ERROR_SUFFIX = ".error.txt"


@dataclass(frozen=True, slots=True)
class Claimed:
    """An experiment file moved into its new run folder."""

    original: Path
    """Where the file was in ``input/``."""
    run_dir: Path
    input_file: Path
    """The file itself, now ``<run_dir>/input-<name>``."""

    @property
    def name(self) -> str:
        """The experiment's name: the file's stem."""
        return self.original.stem


def claim(path: Path, output_folder: Path, now: datetime, *, prompto: bool = False) -> Claimed | None:
    """Move ``path`` into a new ``<output_folder>/<stem>/<timestamp>/`` (with ``prompto``, prompto's
    commands' ``<output_folder>/<stem>/.prompto-run/<prompto's timestamp>/``); None if it vanished."""
    base = (
        prompto_run_dir(output_folder, path.stem, now)
        if prompto
        else output_folder / path.stem / now.strftime(TIME_FORMAT)
    )
    run_dir = _new_dir(base)
    input_file = RunFolder(run_dir).input_copy_of(path)
    try:
        shutil.move(path, input_file)
    except FileNotFoundError:
        run_dir.rmdir()
        return None
    return Claimed(path, run_dir, input_file)


def quarantine(claimed: Claimed, failed_folder: Path, error: str) -> Path:
    """Move a claimed file to ``failed_folder`` with its error file; remove its unused run folder."""
    failed_folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(failed_folder / claimed.original.name)
    shutil.move(claimed.input_file, target)
    target.with_name(target.name + ERROR_SUFFIX).write_text(
        f"{claimed.original} was not run: {error}\n"
        f"Fix it and move it back to {claimed.original.parent}/ to run it.\n",
        encoding="utf-8",
    )
    shutil.rmtree(claimed.run_dir)
    for parent in claimed.run_dir.parents[: 2 if claimed.run_dir.parent.name == RUNS_SUBFOLDER else 1]:
        if not any(parent.iterdir()):
            parent.rmdir()
    return target


def _new_dir(base: Path) -> Path:
    """``base``, or ``base_2``, ``base_3``... whichever does not exist yet (created here)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, suffix = base, 1
    while True:
        try:
            candidate.mkdir()
        except FileExistsError:
            suffix += 1
            candidate = base.with_name(f"{base.name}_{suffix}")
        else:
            return candidate


def _free_name(path: Path) -> Path:
    candidate, suffix = path, 1
    while candidate.exists() or candidate.with_name(candidate.name + ERROR_SUFFIX).exists():
        suffix += 1
        candidate = path.with_name(f"{path.stem}-{suffix}{path.suffix}")
    return candidate
