"""prompto's files, left by prompto's commands (``prompto_files.enabled``) beside the run folder.

For ``prompto_run_experiment -f data/input/x.jsonl -d data`` prompto 0.2.1 writes, with ``<ts>`` the
experiment's start (``%d-%m-%Y-%H-%M-%S``)::

    data/output/x/<ts>-completed-x.jsonl     the records, in prompto's shape (_prompto_records)
    data/output/x/<ts>-input-x.jsonl         the input file, moved out of data/input/
    data/output/x/<ts>-input-x.csv           (a CSV input: the file itself; the .jsonl is its prompts)
    data/output/x/<ts>-log-x.txt             the log
    data/output/x/<ts>-completed-x.csv       with --output-as-csv
    data/output/judge-x/<ts>-...-judge-x.*   the judge experiment's files, the same way

The run folder itself (``.hydra/``, ``completed.jsonl``, ``summary.json``, ``report.html``...) is
``data/output/x/.prompto-run/<ts>/``: a hidden folder, so no glob of prompto's (``*-completed-*``,
``os.listdir`` of ``output/x``) meets it, and its name is the timestamp of the files it made. A
``prompto-run resume=data/output/x/.prompto-run/<ts>`` writes prompto's files again from it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.config._config import RunConfig
from runner.prompts._prompt_file import read_prompt_lines
from runner.prompts._resolve import derived_id
from runner.run_folder._completed import CompletedFile
from runner.run_folder._files import RunFolder
from runner.run_folder._prompto_judge import (
    JudgeNames,
    judge_names,
    prompto_judge_input,
    prompto_judge_record,
)
from runner.run_folder._prompto_records import PROMPTO_TIME_FORMAT, prompto_record

RUNS_SUBFOLDER = ".prompto-run"


def prompto_run_dir(output_folder: Path, name: str, now: datetime) -> Path:
    """The run folder of experiment ``name`` started at ``now``: ``<output>/<name>/.prompto-run/<ts>``."""
    return output_folder / name / RUNS_SUBFOLDER / now.strftime(PROMPTO_TIME_FORMAT)


@dataclass(frozen=True)
class PromptoFiles:
    """The names of one prompto experiment's files."""

    folder: Path
    stamp: str
    name: str

    def _file(self, kind: str, suffix: str) -> Path:
        return self.folder / f"{self.stamp}-{kind}-{self.name}{suffix}"

    @property
    def completed(self) -> Path:
        return self._file("completed", ".jsonl")

    @property
    def completed_csv(self) -> Path:
        return self._file("completed", ".csv")

    @property
    def input(self) -> Path:
        return self._file("input", ".jsonl")

    @property
    def input_csv(self) -> Path:
        return self._file("input", ".csv")

    @property
    def log(self) -> Path:
        return self._file("log", ".txt")

    def judge(self) -> PromptoFiles:
        """The judge experiment's files (prompto runs it as ``judge-<name>``)."""
        name = f"judge-{self.name}"
        return PromptoFiles(self.folder.parent / name, self.stamp, name)


def files_of(config: RunConfig) -> PromptoFiles:
    """prompto's files for the run in ``config.output_dir`` (``<output>/<name>/.prompto-run/<ts>``)."""
    run_dir = config.output_dir
    return PromptoFiles(run_dir.parent.parent, run_dir.name, config.experiment.run_name)


def publish(config: RunConfig) -> PromptoFiles:
    """Write (again) prompto's files from the run folder; move the input file out of ``input/``."""
    folder, files = RunFolder(config.output_dir), files_of(config)
    scorers = [scorer.name for scorer in config.scorers]
    files.folder.mkdir(parents=True, exist_ok=True)
    _place_input(config, folder, files)
    lines = _lines_by_id(folder)
    records = [
        prompto_record(
            record, lines.get(str(record.get("id"))), max_attempts=config.max_attempts, scorers=scorers
        )
        for record in CompletedFile(folder.completed).records()
    ]
    _write_jsonl(files.completed, records)
    if folder.log.is_file():
        shutil.copyfile(folder.log, files.log)
    if config.prompto_files.csv:
        write_prompto_csv(files.completed_csv, records)
    if folder.judge.is_file():
        _publish_judge(config, folder, files.judge(), records, judge_names(config))
    return files


def _place_input(config: RunConfig, folder: RunFolder, files: PromptoFiles) -> None:
    """The input in ``output/<name>/`` as prompto leaves it: moved there from ``input/`` (once)."""
    source = config.resolve_prompt_file()
    is_csv = source.suffix.lower() == ".csv"
    target = files.input_csv if is_csv else files.input
    if not target.exists():
        if source.parent.resolve() == config.input_folder.resolve() and source.is_file():
            os.replace(source, target)  # the file moves, as prompto's does
        elif (copy := folder.input_copy()) is not None:
            shutil.copyfile(copy, target)
    if is_csv and not files.input.exists():  # prompto also writes the CSV's prompts as JSONL
        _write_jsonl(files.input, (line.data for line in read_prompt_lines(target) if line.data is not None))


def _lines_by_id(folder: RunFolder) -> dict[str, dict[str, Any]]:
    """Each prompt dict as its file had it, by the id its record has (an id-less line's derived one)."""
    copy = folder.input_copy()
    if copy is None:
        return {}
    lines: dict[str, dict[str, Any]] = {}
    for line in read_prompt_lines(copy):
        if line.data is not None:
            key = str(line.data["id"]) if "id" in line.data else derived_id(line.data)
            lines.setdefault(key, line.data)
    return lines


def _publish_judge(
    config: RunConfig,
    folder: RunFolder,
    files: PromptoFiles,
    records: list[dict[str, Any]],
    judge_names: JudgeNames,
) -> None:
    """prompto's judge experiment: its input (what prompto's ``Judge`` makes) and its completed file."""
    by_id = {str(record.get("id")): record for record in records}
    inputs, completed = [], []
    for judge_record in CompletedFile(folder.judge).records():
        judged = by_id.get(str(judge_record.get("judged_id")))
        if judged is None:
            continue
        inputs.append(prompto_judge_input(judge_record, judged, judge_names))
        completed.append(prompto_judge_record(judge_record, judged, judge_names, config.max_attempts))
    files.folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(files.input, inputs)
    _write_jsonl(files.completed, completed)
    if folder.log.is_file():  # one run, one log: the judge stage's lines are in it too
        shutil.copyfile(folder.log, files.log)
    if config.prompto_files.csv:
        write_prompto_csv(files.completed_csv, completed)


def _write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """One ``json.dump`` a line, as prompto writes (ASCII-escaped), replacing the file atomically."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as file:
        for record in records:
            json.dump(record, file)
            file.write("\n")
    partial.replace(path)


def write_prompto_csv(path: Path, records: list[dict[str, Any]]) -> None:
    """prompto's ``save_completed_responses_to_csv``: ``pandas.DataFrame.from_records(...).to_csv``, with
    ``parameters`` as JSON. Written here with the csv module, cell for cell as pandas writes them; the
    structured ``error`` stays in the JSONL file only, so that the columns are prompto's."""
    columns = [key for key in dict.fromkeys(key for record in records for key in record) if key != "error"]
    floats = {column for column in columns if _pandas_float_column(record.get(column) for record in records)}
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow(
                _cell(record.get(column, _MISSING), column, as_float=column in floats) for column in columns
            )


def _pandas_float_column(values: Iterator[Any]) -> bool:
    """Whether pandas makes the column float: numbers only, a float among them or a missing value."""
    seen = list(values)
    numbers = [value for value in seen if value is not None]
    if not numbers or any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers):
        return False
    return len(numbers) < len(seen) or any(isinstance(v, float) for v in numbers)


_MISSING = object()


def _cell(value: Any, column: str, *, as_float: bool) -> str:
    if column == "parameters":  # prompto applies json.dumps to the whole column: a missing cell is NaN
        return "NaN" if value is _MISSING else json.dumps(value)
    if value is None or value is _MISSING:
        return ""
    if as_float:
        return repr(float(value))
    return str(value)  # pandas writes other objects with str(): dicts and lists as Python reprs
