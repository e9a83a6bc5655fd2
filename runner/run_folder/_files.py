"""The run folder: what a run leaves behind, so that it can be read, resumed and repeated.

``<run dir>/`` (Hydra's, e.g. ``outputs/<experiment>/<YYYY-MM-DD_HH-MM-SS>/``) holds ``.hydra/``
(the composed config and overrides), ``input-<file name>`` (the prompt file as it was read) with
``input.sha256``, ``prompts.jsonl`` (the prompts as queued: ids filled in, CSV turned to JSONL),
``completed.jsonl``, ``summary.json``, ``run.log`` and ``report.html``; with evaluation stages
also ``judge.jsonl`` and ``rephrase.jsonl``, in batch mode ``batches.jsonl`` and ``batches/``,
after a resume ``failed-before-resume.jsonl``, and what
``prompto-score``, ``prompto-judge`` and ``prompto-export`` write beside the run's own files.
Every one of these names is spelt here, and only here; a sweep's folder is :class:`SweepFolder`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.config._compose import HYDRA_SUBDIR

COPY_CHUNK = 1 << 20
TIME_FORMAT = "%Y-%m-%d_%H-%M-%S"
"""The time in a run folder's name and in re-scored files' names (``conf/config.yaml`` spells it too)."""
INPUT_PREFIX = "input-"
SAVED_CONFIG = Path(HYDRA_SUBDIR, "config.yaml")
SAVED_OVERRIDES = Path(HYDRA_SUBDIR, "overrides.yaml")


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run's files."""

    path: Path

    @property
    def completed(self) -> Path:
        """Every finished record, one JSON object a line, in the order they finished."""
        return self.path / "completed.jsonl"

    @property
    def prompts(self) -> Path:
        """The prompts as queued (normalised JSONL)."""
        return self.path / "prompts.jsonl"

    @property
    def summary(self) -> Path:
        """Counts, timings and status of the run."""
        return self.path / "summary.json"

    @property
    def log(self) -> Path:
        """The run's log."""
        return self.path / "run.log"

    @property
    def report(self) -> Path:
        """The run's HTML report."""
        return self.path / "report.html"

    @property
    def judge(self) -> Path:
        """Every judge request and reply."""
        return self.path / "judge.jsonl"

    @property
    def rephrase(self) -> Path:
        """Every rephrasing request and reply."""
        return self.path / "rephrase.jsonl"

    @property
    def batch_ledger(self) -> Path:
        """Every batch submitted to a provider: one event a line, flushed to disk as it happens."""
        return self.path / "batches.jsonl"

    @property
    def batch_chunks(self) -> Path:
        """Each batch's request lines and prompts as sent (``<chunk>.requests.jsonl``, ``.prompts.jsonl``)."""
        return self.path / "batches"

    @property
    def failed_before_resume(self) -> Path:
        """The records a resume set aside (failed, not sent, repeated or unreadable): kept for audit."""
        return self.path / "failed-before-resume.jsonl"

    @property
    def lock(self) -> Path:
        """Held by the one process writing the folder."""
        return self.path / ".lock"

    @property
    def hydra(self) -> Path:
        """Hydra's folder: the saved config and the command line's overrides."""
        return self.path / SAVED_CONFIG.parent

    @property
    def saved_config(self) -> Path:
        """The config the run was started with (read back by :mod:`runner.run_folder._saved_config`)."""
        return self.path / SAVED_CONFIG

    @property
    def saved_overrides(self) -> Path:
        """The command line's overrides, as Hydra saved them."""
        return self.path / SAVED_OVERRIDES

    def exported(self, fmt: str) -> Path:
        """Where ``prompto-export`` writes the records as a table by default."""
        return self.path / f"records.{fmt}"

    def rescored(self, action: str, stamp: str) -> Rescored:
        """The files a ``prompto-score`` (``action`` "scored") or ``prompto-judge`` ("judged") writes."""
        return Rescored(
            records=self.path / f"completed-{action}-{stamp}.jsonl",
            summary=self.path / f"summary-{action}-{stamp}.json",
            judge=self.path / f"judge-{stamp}.jsonl",
            stamp=stamp,
        )

    def input_copy_of(self, source: Path) -> Path:
        """Where the copy of prompt file ``source`` goes."""
        return self.path / f"{INPUT_PREFIX}{source.name}"

    @property
    def input_checksum(self) -> Path:
        """``<sha256>  <input copy's name>``: what the run's answers were asked from."""
        return self.path / "input.sha256"

    def saved_input_sha256(self) -> tuple[str, str] | None:
        """The checksum and file name ``input.sha256`` holds, if the file is there and readable."""
        try:
            digest, _, name = self.input_checksum.read_text().strip().partition("  ")
        except (OSError, UnicodeDecodeError):
            return None
        return (digest, name) if digest and name else None

    def input_copy(self) -> Path | None:
        """The copy of the prompt file (the one ``input.sha256`` names), if one was made."""
        saved = self.saved_input_sha256()
        named = self.path / saved[1] if saved is not None else None
        if (
            named is not None
            and named.parent == self.path
            and named.name.startswith(INPUT_PREFIX)
            and named.is_file()
        ):
            return named
        return next(iter(sorted(self.path.glob(f"{INPUT_PREFIX}*"))), None)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (replacing it atomically)."""
        partial = self.summary.with_suffix(".json.partial")
        partial.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        partial.replace(self.summary)


@dataclass(frozen=True)
class Rescored:
    """What re-scoring or re-judging a run writes beside its own files (never over them)."""

    records: Path
    summary: Path
    judge: Path
    """The judge requests and replies (re-judging only)."""
    stamp: str


@dataclass(frozen=True)
class SweepFolder:
    """A ``-m`` sweep's folder: one run folder per job, and what is made from them all."""

    path: Path

    @property
    def comparison_csv(self) -> Path:
        """The jobs side by side (``runner.display._comparison``)."""
        return self.path / "comparison.csv"

    @property
    def comparison_html(self) -> Path:
        """The same, as a page with charts."""
        return self.path / "comparison.html"

    @property
    def merged(self) -> Path:
        """Where ``prompto-merge`` joins the shards' records."""
        return self.path / "merged"

    def run_folders(self) -> list[RunFolder]:
        """Every run folder under the sweep's, at any depth (found by its saved config), in path order."""
        return [RunFolder(saved.parents[1]) for saved in sorted(self.path.rglob(str(SAVED_CONFIG)))]


def copy_input(source: Path, folder: RunFolder) -> Path:
    """Copy the prompt file into the run folder (by the kernel, without passing through Python), and
    return the copy; :func:`record_input_checksum` hashes it.

    A prompt file already there as ``input-*`` (the pipeline moves files in) is left where it is.
    """
    folder.path.mkdir(parents=True, exist_ok=True)
    is_run_copy = source.name.startswith(INPUT_PREFIX) and (
        RunFolder(source.parent).input_checksum.is_file() or source.parent.resolve() == folder.path.resolve()
    )
    target = folder.path / source.name if is_run_copy else folder.input_copy_of(source)
    in_place = target.exists() and target.samefile(source)  # a resumed run, or a file the pipeline moved here
    if not in_place:
        shutil.copyfile(source, target)
    return target


def record_input_checksum(copy: Path, folder: RunFolder) -> str:
    """The SHA-256 of the run's input copy, written to ``input.sha256`` and returned. hashlib leaves
    the GIL while it hashes, so this runs in a thread beside the validation of the same copy."""
    sha256 = file_sha256(copy)
    folder.input_checksum.write_text(f"{sha256}  {copy.name}\n")
    return sha256


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (hex), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
