"""A completed file prompto made, as a run folder ``prompto-score`` and ``prompto-judge`` can read.

``prompto-score data/output/x/<ts>-completed-x.jsonl scorers=[match]`` works as on a prompto-run
folder: the records are copied into ``<ts>-completed-x.prompto-run/completed.jsonl`` beside the file
(never into prompto's own names, so prompto-style globs find nothing new), with prompto's error
answers marked as errors (prompto writes an error's text into ``response``: ``An unexpected error
occurred when querying the API: (...) after maximum N attempts``, or ``KeyError - ...`` for its
non-retried errors), so that they are neither scored nor judged. The config is the defaults with
``experiment.file`` the completed file and the command's ``key=value`` overrides; the scored or judged
file and its summary are written into that folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.cli._overrides import override
from runner.config._compose import ConfigError, compose_config, to_run_config
from runner.config._config import RunConfig

FOLDER_SUFFIX = ".prompto-run"
_PROMPTO_ERROR = re.compile(
    r"An unexpected error occurred when querying the API: \(.*\) after maximum \d+ attempts"
    r"|(?:NotImplementedError|KeyError|ValueError|TypeError|FileNotFoundError) - .*",
    re.DOTALL,
)
"""The two texts prompto 0.2.1 writes into ``response`` when a prompt failed (``Experiment.process``)."""


def completed_file_config(path: Path, overrides: Sequence[str]) -> RunConfig:
    """The config ``prompto-score`` / ``prompto-judge`` use for a prompto-made completed file."""
    if path.suffix != ".jsonl":
        raise ConfigError(f"{path}: a completed file is a .jsonl file (or give a prompto-run folder)")
    folder = path.with_name(path.stem + FOLDER_SUFFIX)
    folder.mkdir(exist_ok=True)
    _copy_records(path, folder / "completed.jsonl")
    cfg = compose_config([override("experiment.file", str(path.resolve()))])
    cfg.output_dir = str(folder)
    try:
        merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"cannot apply overrides {list(overrides)}: {exc}") from None
    assert isinstance(merged, DictConfig)
    return to_run_config(merged)


def _copy_records(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    with source.open(encoding="utf-8") as lines, partial.open("w", encoding="utf-8") as out:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ConfigError(f"{source}: line {number} is not JSON, so not a completed record") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{source}: line {number} is not a JSON object")
            out.write(json.dumps(as_record(record, number), ensure_ascii=False) + "\n")
    partial.replace(target)


def as_record(record: dict[str, Any], line_no: int) -> dict[str, Any]:
    """A prompto record as prompto-run reads one: an id, and prompto's error answers as ``error``."""
    record.setdefault("id", f"line-{line_no}")
    response = record.get("response")
    if "error" not in record:
        if "response" not in record:
            record["error"] = {"type": "prompto", "message": "the record has no response"}
        elif isinstance(response, str) and _PROMPTO_ERROR.fullmatch(response):
            record["error"] = {"type": "prompto", "message": response}
    return record
