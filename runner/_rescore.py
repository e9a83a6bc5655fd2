"""Scoring and judging a finished run again, without sending anything to the run's own models.

``prompto-score RUN_DIR scorers=[...]`` re-scores every record of ``completed.jsonl``;
``prompto-judge RUN_DIR judges=[...]`` sends each answered record to the judges (and only to them).
Either writes a new file next to the old one (``completed-scored-<time>.jsonl``,
``completed-judged-<time>.jsonl``; judge requests in ``judge-<time>.jsonl``) with its summary
(``summary-scored-<time>.json``...); the run's own files are never changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import trio

from runner._run import effective_environ
from runner.config._config import RunConfig
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import Finished
from runner.evaluation._judging import JudgeStage, judge_score_keys
from runner.evaluation._scoring import build_scorers, score_record
from runner.evaluation._stage_checks import check_judge_templates, check_scorers, check_stage_models
from runner.evaluation._stage_queue import StageFile
from runner.prompts._plan import Plan, ValidationFailed
from runner.prompts._routing import QueueKey
from runner.results._score_summary import ScoreSummary
from runner.run_folder._completed import CompletedFile
from runner.run_folder._files import TIME_FORMAT, Rescored, RunFolder
from runner.run_folder._writer import write_records

RECORD_BUFFER = 256
RESCORE_QUEUE = QueueKey(stage="rescore")


@dataclass(frozen=True)
class RescoreResult:
    """The file written and its summary."""

    records_file: Path
    summary_file: Path
    summary: dict[str, Any]


async def rescore_run(config: RunConfig, *, stamp: str | None = None) -> RescoreResult:
    """Score every answered record of the run in ``config.output_dir`` with ``config.scorers``."""
    folder = RunFolder(config.output_dir)
    plan = Plan(prompt_file=folder.completed)
    if not folder.completed.is_file():
        plan.add_problem(None, f"'{folder.completed}' does not exist")
    if not config.scorers:
        plan.add_problem(None, "no scorers: name them with scorers=[match,includes]")
    check_scorers(config, plan)
    if plan.problem_count:
        raise ValidationFailed(plan)
    scorers = build_scorers(config.scorers)
    name = folder.rescored("scored", stamp or _now())
    scores = ScoreSummary()
    partial = name.records.with_name(name.records.name + ".partial")
    try:
        with partial.open("wb") as out:
            for record in CompletedFile(folder.completed).records():
                await score_record(record, scorers)
                out.write((json.dumps(record, ensure_ascii=False, default=str) + "\n").encode())
                scores.add_record(record)
    except BaseException:  # a line that is not a record, Ctrl-C: no half-scored file is left
        partial.unlink(missing_ok=True)
        raise
    partial.replace(name.records)
    return _finish(folder, name, scores, config)


async def rejudge_run(
    config: RunConfig, *, environ: Mapping[str, str] | None = None, stamp: str | None = None
) -> RescoreResult:
    """Send every answered record of the run to ``config.judges``; nothing goes to the run's models."""
    folder = RunFolder(config.output_dir)
    plan = Plan(prompt_file=folder.completed)
    run_environ = effective_environ(config, environ)
    completed = CompletedFile(folder.completed)  # read twice: checked, then judged
    if not folder.completed.is_file():
        plan.add_problem(None, f"'{folder.completed}' does not exist")
    elif config.judges:
        check_judge_templates(config, plan, completed.records())
    if not config.judges:
        plan.add_problem(None, "no judges: name them with judges=[correctness]")
    check_stage_models(config.model_copy(update={"rephrase": None}), plan, run_environ)
    if plan.problem_count:
        raise ValidationFailed(plan)
    name = folder.rescored("judged", stamp or _now())
    scores = ScoreSummary(judge_score_keys(config))
    async with ProviderSet(config, run_environ) as providers:
        judge = JudgeStage(config.judges, config, providers, StageFile(name.judge, providers.secrets))
        send_records, receive_records = trio.open_memory_channel[Finished](RECORD_BUFFER)
        writer = partial(write_records, name.records, receive_records, secrets=providers.secrets)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(writer, on_record=[scores.add]))
            nursery.start_soon(judge.collect, send_records.clone())
            for queue in judge.queues:
                nursery.start_soon(queue.run)
            async with send_records:
                for record in completed.records():
                    await judge.submit(Finished(RESCORE_QUEUE, record), send_records)
            judge.close()
    return _finish(folder, name, scores, config)


def _now() -> str:
    return datetime.now().strftime(TIME_FORMAT)


def _finish(folder: RunFolder, name: Rescored, scores: ScoreSummary, config: RunConfig) -> RescoreResult:
    summary = {
        "experiment": config.experiment.run_name,
        "source": folder.completed.name,
        "records_file": name.records.name,
        "scorers": [scorer.name for scorer in config.scorers],
        "judges": [judge.name for judge in config.judges],
        "scores": scores.as_dict(),
    }
    name.summary.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return RescoreResult(name.records, name.summary, summary)
