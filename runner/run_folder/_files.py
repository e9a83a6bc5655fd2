"""The run folder: what a run leaves behind, so that it can be read, resumed and repeated.

``<run dir>/`` (Hydra's, e.g. ``outputs/<experiment>/<YYYY-MM-DD_HH-MM-SS>/``) holds ``.hydra/``
(the composed config and overrides), ``input-<file name>`` (the prompt file as it was read) with
``input.sha256``, ``prompts.jsonl`` (the prompts as queued: ids filled in, CSV turned to JSONL),
``completed.jsonl``, ``summary.json`` and ``run.log``.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COPY_CHUNK = 1 << 20


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
            and named.name.startswith("input-")
            and named.is_file()
        ):
            return named
        return next(iter(sorted(self.path.glob("input-*"))), None)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (replacing it atomically)."""
        partial = self.summary.with_suffix(".json.partial")
        partial.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        partial.replace(self.summary)


def copy_input(source: Path, folder: RunFolder) -> tuple[Path, str]:
    """Copy the prompt file into the run folder (streamed), returning the copy and its sha256.

    A prompt file already there as ``input-*`` (the pipeline moves files in) is hashed, not copied.
    """
    folder.path.mkdir(parents=True, exist_ok=True)
    is_run_copy = source.name.startswith("input-") and (
        (source.parent / "input.sha256").is_file() or source.parent.resolve() == folder.path.resolve()
    )
    target = folder.path / (source.name if is_run_copy else f"input-{source.name}")
    digest = hashlib.sha256()
    in_place = target.exists() and target.samefile(source)  # a resumed run, or a file the pipeline moved here
    with source.open("rb") as reader, nullcontext() if in_place else target.open("wb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            digest.update(chunk)
            if writer is not None:
                writer.write(chunk)
    sha256 = digest.hexdigest()
    folder.input_checksum.write_text(f"{sha256}  {target.name}\n")
    return target, sha256


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (hex), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
