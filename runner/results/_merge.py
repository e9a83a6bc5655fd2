"""``prompto-merge SWEEP_DIR``: join the records of a sharded sweep into one completed file.

It finds every run folder under ``SWEEP_DIR`` (by its ``.hydra/config.yaml``), groups the shards
of one experiment (same config but for ``shard``), and for each group checks that

* shards ``0/n ... n-1/n`` are all there, once each, and read the same input (``input.sha256``);
* every prompt the shards planned (their ``prompts.jsonl``) has exactly one record.

Only then does it write ``merged/completed.jsonl`` (records copied byte for byte, shard by shard)
and ``merged/summary.json`` (recomputed from those records). A sweep that also varied other keys
(``-m model=a,b shard=0/2,1/2``) gets one ``merged/<overrides>/`` per combination. Otherwise it
lists the missing and duplicate ids, writes nothing and exits with status 2: re-run the failed
shard, then merge again. The shards' own folders are never changed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.config._compose import ConfigError
from runner.config._config import RunConfig
from runner.config._errors import UserError
from runner.config._shard import Shard
from runner.costs._spending import Spending
from runner.engine._queue import Finished
from runner.prompts._id_set import IdSet
from runner.prompts._routing import QueueKey, record_queue
from runner.results._summary import SummaryBuilder
from runner.run_folder._completed import CompletedFile, RecordLine
from runner.run_folder._files import SAVED_CONFIG, RunFolder, SweepFolder
from runner.run_folder._saved_config import load_run_config, saved_overrides

MAX_IDS_SHOWN = 20


class MergeError(UserError):
    """The shards do not add up to the whole experiment; nothing was written."""


@dataclass(frozen=True)
class ShardRun:
    """One shard's run folder and the config it ran with."""

    folder: RunFolder
    config: RunConfig
    shard: Shard
    overrides: tuple[str, ...]
    """The job's overrides other than ``shard``: they name its group's output folder."""


def find_shard_runs(sweep_dir: Path) -> list[ShardRun]:
    """Every sharded run folder under ``sweep_dir``; raise :class:`MergeError` on any other run."""
    runs = []
    for folder in SweepFolder(sweep_dir).run_folders():
        try:
            config = load_run_config(folder.path)
        except ConfigError as exc:
            raise MergeError(f"{folder.path}: its saved config is not valid: {exc}") from None
        if config.shard is None:
            raise MergeError(f"{folder.path} is not a shard (it ran without shard=i/n)")
        runs.append(ShardRun(folder, config, config.shard, _overrides(folder.path)))
    if not runs:
        raise MergeError(f"no run folders (with {SAVED_CONFIG}) under {sweep_dir}")
    return runs


def group_shards(runs: Sequence[ShardRun]) -> dict[str, list[ShardRun]]:
    """Runs of the same experiment, by label: equal configs but for ``shard``, the run folder and
    the prompt file's path (a shard repeated with ``rerun=`` reads the copy in its first folder;
    that the shards read the same input is checked on its hash).

    A group's label is made of the overrides that set it apart from the other groups (``model=a``).
    """
    by_config: dict[str, list[ShardRun]] = {}
    for run in runs:
        # A shard repeated with rerun= reads its first folder's copy and names the run explicitly.
        experiment = run.config.experiment.model_copy(
            update={"file": Path("."), "name": run.config.experiment.run_name}
        )
        identity = run.config.model_copy(
            update={"shard": None, "output_dir": Path("."), "experiment": experiment}
        )
        by_config.setdefault(identity.model_dump_json(), []).append(run)
    named = [_naming_overrides(group) for group in by_config.values()]
    common = set.intersection(*(set(overrides) for overrides in named))
    groups: dict[str, list[ShardRun]] = {}
    for number, (group, overrides) in enumerate(zip(by_config.values(), named, strict=True)):
        label = ",".join(o for o in overrides if o not in common).replace("/", "_")
        groups[label if label and label not in groups else f"{label}-{number}".lstrip("-")] = sorted(
            group, key=lambda run: run.shard.index
        )
    return groups


def _naming_overrides(group: Sequence[ShardRun]) -> tuple[str, ...]:
    """The overrides of a shard run as part of the sweep (not of one repeated with ``rerun=``)."""
    swept = [run.overrides for run in group if not any(o.startswith("rerun=") for o in run.overrides)]
    return (swept or [group[0].overrides])[0]


def check_shards(runs: Sequence[ShardRun]) -> Counter[QueueKey]:
    """Check that ``runs`` cover every prompt exactly once; return the records per queue."""
    _check_shard_set(runs)
    return _check_records(runs)


def write_merged(runs: Sequence[ShardRun], queue_sizes: Counter[QueueKey], out_dir: Path) -> dict[str, Any]:
    """Write the shards' records and their summary to ``out_dir``; return the summary."""
    out = RunFolder(out_dir)
    out.path.mkdir(parents=True, exist_ok=True)
    summary = SummaryBuilder(dict(queue_sizes))
    spending = Spending(runs[0].config)
    partial = out.completed.with_suffix(".jsonl.partial")
    with partial.open("wb") as merged:
        for run in runs:
            for line in _lines(run):
                assert line.record is not None  # check_shards refused any other line
                merged.write(line.terminated)
                key = record_queue(run.config, line.record)
                summary.add(Finished(key, line.record))
                spending.count_kept(key, line.record)
    partial.replace(out.completed)
    first = runs[0]
    result = summary.build(
        wall_time_s=max(_shard_summary(run).get("wall_time_s", 0.0) for run in runs),
        experiment=first.config.experiment.run_name,
        input_sha256=_input_sha256(first),
        shards=len(runs),
        merged_from=[str(run.folder.path) for run in runs],
        cost=spending.summary(),
    )
    out.write_summary(result)
    return result


def _check_shard_set(runs: Sequence[ShardRun]) -> None:
    count = runs[0].shard.count
    if any(run.shard.count != count for run in runs):
        counts = sorted({run.shard.count for run in runs})
        raise MergeError(f"shards of different splits ({counts}) cannot be merged")
    indices = Counter(run.shard.index for run in runs)
    missing = [f"{i}/{count}" for i in range(count) if i not in indices]
    repeated = [f"{i}/{count}" for i, seen in sorted(indices.items()) if seen > 1]
    problems = [f"shard {s} has no run folder" for s in missing]
    problems += [f"shard {s} ran more than once (remove the extra run folder)" for s in repeated]
    problems += [
        f"{run.folder.path} (shard {run.shard}) has no {file.name}: it stopped before running"
        for run in runs
        for file in (run.folder.prompts, run.folder.completed)
        if not file.is_file()
    ]
    if len({_input_sha256(run) for run in runs}) > 1:
        problems.append(
            f"the shards read different input files ({runs[0].folder.input_checksum.name} differs)"
        )
    if problems:
        raise MergeError("; ".join(problems))


def _check_records(runs: Sequence[ShardRun]) -> Counter[QueueKey]:
    """Per queue, how many records; raise :class:`MergeError` listing missing and duplicate ids."""
    planned, twice_planned = IdSet(), []
    for prompt_id in _planned_ids(runs):
        if not planned.add(prompt_id):
            twice_planned.append(prompt_id)
    seen = IdSet()
    duplicates, unexpected, unreadable = [], [], []
    queue_sizes: Counter[QueueKey] = Counter()
    for run in runs:
        for line in _lines(run):
            record = line.record
            if record is None:
                unreadable.append(f"{run.folder.completed} line {line.number}")
                continue
            prompt_id = str(record.get("id"))
            if not seen.add(prompt_id):
                duplicates.append(prompt_id)
                continue
            if prompt_id not in planned:
                unexpected.append(prompt_id)
            queue_sizes[record_queue(run.config, record)] += 1
    missing = [prompt_id for prompt_id in _planned_ids(runs) if prompt_id not in seen]
    problems = [
        _listing("prompts without a record (re-run their shard)", sorted(missing)),
        _listing("ids with more than one record", sorted(set(duplicates))),
        _listing("records of prompts no shard planned", sorted(set(unexpected))),
        _listing("ids planned by more than one shard", sorted(set(twice_planned))),
        _listing("unreadable record lines (a job killed mid-write?)", unreadable),
    ]
    text = "\n".join(problem for problem in problems if problem)
    if text:
        raise MergeError(f"the shards do not add up:\n{text}")
    return queue_sizes


def _planned_ids(runs: Sequence[ShardRun]) -> Iterator[str]:
    """Every shard's planned ids, read again from its prompts file rather than held in memory."""
    for run in runs:
        with run.folder.prompts.open("rb") as prompts:
            for line in prompts:
                yield str(json.loads(line)["id"])


def _listing(what: str, ids: Sequence[str]) -> str:
    if not ids:
        return ""
    more = len(ids) - MAX_IDS_SHOWN
    shown = ", ".join(ids[:MAX_IDS_SHOWN]) + (f", ... and {more} more" if more > 0 else "")
    return f"  {len(ids)} {what}: {shown}"


def _lines(run: ShardRun) -> Iterator[RecordLine]:
    return CompletedFile(run.folder.completed).lines()


def _shard_summary(run: ShardRun) -> dict[str, Any]:
    if not run.folder.summary.is_file():
        return {}
    summary: dict[str, Any] = json.loads(run.folder.summary.read_text())
    return summary


def _input_sha256(run: ShardRun) -> str:
    saved = run.folder.saved_input_sha256()
    return saved[0] if saved is not None else ""


def _overrides(run_dir: Path) -> tuple[str, ...]:
    return tuple(o for o in saved_overrides(run_dir) if not o.lstrip("+~").startswith(("shard=", "hydra")))


def merge_sweep(sweep_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Merge every group of shards under ``sweep_dir`` into ``sweep_dir/merged[/<overrides>]``."""
    groups = group_shards(find_shard_runs(sweep_dir))
    checked = []
    for label, runs in groups.items():  # every group is checked before anything is written
        try:
            checked.append((label, runs, check_shards(runs)))
        except MergeError as exc:
            raise MergeError(f"{label}: {exc}" if len(groups) > 1 else str(exc)) from None
    merged = SweepFolder(sweep_dir).merged
    return [
        (out_dir, write_merged(runs, sizes, out_dir))
        for label, runs, sizes in checked
        for out_dir in [merged / label if len(groups) > 1 else merged]
    ]
