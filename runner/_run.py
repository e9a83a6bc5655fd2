"""One run, start to end: validate, then every queue and the writer in one nursery.

::

    run nursery ─┬─ writer  ◀── results ──┬── queue "openai"  (ticker, feeder, dispatcher, attempts)
                 │                        ├── queue "gemini"
                 └─ Ctrl-C watcher        └── ...

Records pass through :class:`runner.evaluation._stages.Stages` (scorers, judges) on their way to the writer;
its judge and rephrase queues run beside the experiment's, and a rephrasing feeds the experiment's.

Ctrl-C cancels the queues (in-flight requests are abandoned, never recorded as answered); the writer
is outside that cancel scope and drains every record already finished before the summary is
written. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import contextvars
import errno
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from dotenv import dotenv_values

from runner._validate import validate_experiment
from runner.config._config import QueueLimit, RunConfig
from runner.config._log import LOGGER_NAME, OUTCOME
from runner.costs._estimate import estimate_line
from runner.costs._spending import Spending
from runner.display._progress_view import show_progress
from runner.display._report import write_report
from runner.engine._batch_queue import BatchQueueRunner
from runner.engine._batching import Batching, batch_summary, batches_left
from runner.engine._cache import open_cache
from runner.engine._collector import collector_set_for_a_run
from runner.engine._limiter import SharedTokens
from runner.engine._prompt_source import NoPrompts, PromptSource
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import QueueRunner, RunnableQueue
from runner.engine._shared_limiter import SharedBuckets, open_shared_buckets
from runner.engine._worker import in_worker_thread
from runner.evaluation._judging import judge_score_keys
from runner.evaluation._stages import Stages
from runner.prompts._plan import INCOMPLETE_INPUT, Plan, ValidationFailed
from runner.prompts._routing import QueueKey, batches_configured, queue_limit, record_queue
from runner.results._exit_status import STOP_SIGNALS, exit_status_of
from runner.results._score_summary import ScoreSummary, attach_scores
from runner.results._summary import SummaryBuilder
from runner.run_folder._batches import BatchLedger, PendingBatches
from runner.run_folder._files import RunFolder
from runner.run_folder._lock import folder_lock
from runner.run_folder._prompto_layout import publish as publish_prompto_files
from runner.run_folder._records import Finished
from runner.run_folder._redact_log import secrets_scrubbed
from runner.run_folder._resume import Resumed, check_resumable, rewrite_completed, scan_completed
from runner.run_folder._writer import RecordsUnwritable, write_records

logger = logging.getLogger(LOGGER_NAME)

RESULT_BUFFER = 1024
Results = trio.MemorySendChannel[Finished]
TYPICAL_REPLY_S = 2.0
"""Used to size HTTP connection pools: requests in flight ~ rate x typical reply time."""


@dataclass(frozen=True)
class RunResult:
    """Where a run wrote, and its summary (as in ``summary.json``)."""

    run_dir: Path
    summary: dict[str, Any]

    @property
    def completed_file(self) -> Path:
        """The run's ``completed.jsonl``."""
        return RunFolder(self.run_dir).completed

    @property
    def exit_status(self) -> int:
        """The status ``prompto-run`` exits with for this run (see :class:`ExitStatus`)."""
        return exit_status_of(self.summary)


class OutputsUnwritable(Exception):
    """The run folder could not be written (disk full, quota): the run stopped; its records are kept."""

    def __init__(self, reason: str, folder: Path, kept: int, *, sent: bool = True) -> None:
        what = (
            f"{kept} record(s) kept in {RunFolder(folder).completed}; free space and run "
            f"prompto-run resume={folder}"
            if sent
            else f"nothing was sent; free space in {folder.parent} and run again"
        )
        super().__init__(f"{reason}: {what}")
        self.folder = folder
        self.kept = kept


def _unwritable_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "disk full"
    return f"cannot write the run folder ({exc.strerror or exc})"


def effective_environ(config: RunConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the env file's variables added (never overriding what is already set)."""
    environ = dict(os.environ if base is None else base)
    if config.env_file is not None and config.env_file.is_file():
        file_values = {k: v for k, v in dotenv_values(config.env_file).items() if v is not None}
        environ = {**file_values, **environ}
    return environ


def _included(
    config: RunConfig, resumed: Resumed | None, pending: PendingBatches | None
) -> Callable[[str], bool] | None:
    """Which prompt ids this run sends: not those already answered (resume) or waiting in a batch of
    an earlier session (re-attached instead), only its shard's."""
    tests = [
        test
        for test in (
            resumed.is_unanswered if resumed is not None else None,
            (lambda prompt_id: not pending.excludes(prompt_id)) if pending is not None else None,
            config.shard.includes if config.shard is not None else None,
        )
        if test is not None
    ]
    if not tests:
        return None
    return lambda prompt_id: all(test(prompt_id) for test in tests)


async def run_experiment(
    config: RunConfig,
    environ: Mapping[str, str] | None = None,
    log_to_file: bool = True,
    *,
    interrupt: trio.Event | None = None,
) -> RunResult:
    """Run the experiment ``config`` describes into ``config.output_dir``.

    ``interrupt``, when given, replaces the run's own Ctrl-C handling: setting it stops the run as
    Ctrl-C would (records kept, summary status ``interrupted``). The pipeline uses it.
    """
    folder = RunFolder(config.output_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder.path), _run_log(folder, enabled=log_to_file):
        run_environ = effective_environ(config, environ)
        summary = SummaryBuilder({})
        scores = ScoreSummary(judge_score_keys(config))
        spending = Spending(config)
        resumed = _resume(config, folder, summary, scores, spending) if config.resume is not None else None
        ledger = BatchLedger(folder) if batches_configured(config) or folder.batch_ledger.exists() else None
        pending = PendingBatches(ledger, resumed.is_unanswered) if ledger and resumed else None
        try:
            include = _included(config, resumed, pending)
            # In a worker thread: a million-line file takes seconds to validate, and in pipeline mode the
            # other experiments' queues go on meanwhile.
            validation = await in_worker_thread(
                partial(validate_experiment, config, run_environ, folder, include=include, book=spending.book)
            )
            if not validation.runnable:
                raise ValidationFailed(validation.plan)
            plan, sha256 = validation.plan, validation.input_sha256
            if resumed is not None:
                rewrite_completed(folder)  # only now that the plan is valid: a failed resume changes nothing
        except OSError as exc:
            if exc.errno not in _WRITE_ERRNOS:
                raise
            raise OutputsUnwritable(_unwritable_reason(exc), folder.path, 0, sent=False) from None
        empty = (
            plan.total == 0
            and plan.skipped == 0
            and (resumed is None or resumed.kept == 0)
            and not (pending and pending.chunks)
        )
        if empty:
            logger.warning(
                "the prompt file %s holds no prompt: nothing to send",
                config.resolve_prompt_file(),
                extra=OUTCOME,
            )
        estimate = validation.estimate.as_dict() if validation.estimate is not None else None
        if estimate is not None:
            logger.info("estimated cost: %s", estimate_line(estimate))
        logger.info(
            "experiment %s: %d prompts in %d queue(s): %s",
            config.experiment.run_name,
            plan.total,
            len(plan.queues),
            ", ".join(f"{q.key} ({q.count} at {q.limit.max_queries:g}/min)" for q in plan.queues.values()),
        )
        unwritable: RecordsUnwritable | None = None
        interrupted, started = _Interrupted(), time.monotonic()
        batching = Batching(ledger, pending, spending) if ledger is not None else None
        try:
            with collector_set_for_a_run():
                await _run_queues(
                    config,
                    plan,
                    folder,
                    run_environ,
                    summary,
                    scores,
                    interrupt,
                    interrupted,
                    batching,
                    spending,
                )
        except* RecordsUnwritable as failures:
            unwritable = _first(failures)
        finally:
            if ledger is not None:
                ledger.close()
        left = batches_left(ledger)
        status = _status(interrupted, empty=empty, unwritable=unwritable is not None)
        if left and status == "complete":
            status = "submitted" if not config.batch.wait else "batches_pending"
        if spending.budget.exhausted and status in ("complete", "submitted"):
            status = "budget_exhausted"
            logger.warning("the budget stopped the run: %s", _budget_line(spending), extra=OUTCOME)
        result = summary.build(
            wall_time_s=time.monotonic() - started,
            status=status,
            **({"batches": batch_summary(ledger, left)} if ledger is not None and ledger.chunks else {}),
            cost=spending.summary(),
            **({"estimate": estimate} if estimate is not None else {}),
            **({"budget": budget} if (budget := spending.budget_summary()) is not None else {}),
            experiment=config.experiment.run_name,
            input_sha256=sha256,
            **({"stopped_by": interrupted.signal} if interrupted.signal else {}),
            **({"resumed": resumed.as_summary()} if resumed is not None else {}),
            **({"scores": scores.as_dict()} if config.scorers or config.judges else {}),
            **({"shard": str(config.shard)} if config.shard is not None else {}),
        )
        if "scores" in result:
            attach_scores(result, result["scores"])
        if (input_warning := plan.input_changed_warning()) is not None:  # a file its writer had not finished
            logger.warning("%s", input_warning, extra=OUTCOME)
            result["input_warning"] = input_warning
            if result["status"] in ("complete", "empty"):  # not "interrupted": that stays said
                result["status"] = INCOMPLETE_INPUT
        try:
            folder.write_summary(result)
        except OSError as exc:
            if exc.errno not in _WRITE_ERRNOS:
                raise
            unwritable = unwritable or RecordsUnwritable(exc)
        if unwritable is not None:
            raise OutputsUnwritable(_unwritable_reason(unwritable.error), folder.path, result["finished"])
        del plan, summary, scores  # per-prompt offsets and latencies: freed before the report reads the file
        if config.report.auto:
            report = await trio.to_thread.run_sync(write_report, folder.path, config.report.samples_per_model)
            logger.info("report: %s", report)
        logger.info(
            "%s: %d of %d prompts finished (%d ok, %d failed) in %.1f s; records in %s",
            result["status"],
            *(
                result["finished"],
                result["prompts"],
                result["ok"],
                result["failed"],
                result["wall_time_s"],
                folder.completed,
            ),
        )
        if config.prompto_files.enabled:  # prompto's commands: prompto's own files too
            logger.info("prompto's files: %s", publish_prompto_files(config).completed)
    return RunResult(folder.path, result)


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
"""Write errors that stop a run with a message (and exit status 5) instead of a traceback."""


def _budget_line(spending: Spending) -> str:
    budget = spending.budget_summary() or {}
    return (
        f"spent ${budget.get('spent_usd', 0):.4f} of ${budget.get('max_usd') or 0:g}; the prompts it had no "
        "room for are recorded as not_sent (reason budget): raise budget.max_usd and resume= to send them"
    )


def _first(failures: BaseExceptionGroup[RecordsUnwritable]) -> RecordsUnwritable:
    """The first write failure of a group (every queue and the writer stop at the first)."""
    first = failures.exceptions[0]
    return first if isinstance(first, RecordsUnwritable) else _first(first)


def _status(interrupted: _Interrupted, *, empty: bool, unwritable: bool) -> str:
    """``summary.json``'s status: how the run ended (:attr:`RunResult.exit_status` maps it)."""
    if unwritable:
        return "outputs_unwritable"
    if interrupted.value:
        return "interrupted"
    return "empty" if empty else "complete"


def _resume(
    config: RunConfig, folder: RunFolder, summary: SummaryBuilder, scores: ScoreSummary, spending: Spending
) -> Resumed:
    """Keep the folder's answered records (counted in the summary); the rest will be sent again.

    Raise :class:`ResumeRefused` first if the folder is not as the run left it.
    """
    check_resumable(folder, config.resolve_prompt_file())

    def count_kept(record: dict[str, Any]) -> None:
        key = record_queue(config, record)
        summary.plan(key, 1)
        summary.add(Finished(key, record))
        scores.add(Finished(key, record))
        spending.count_kept(key, record)

    resumed = scan_completed(folder, on_kept=count_kept)
    logger.info(
        "resume: %d prompts already answered are kept; %d failed or unsent records will be retried",
        *(resumed.kept, resumed.moved),
    )
    return resumed


async def _run_queues(
    config: RunConfig,
    plan: Plan,
    folder: RunFolder,
    environ: Mapping[str, str],
    summary: SummaryBuilder,
    scores: ScoreSummary,
    interrupt: trio.Event | None,
    interrupted: _Interrupted,
    batching: Batching | None,
    spending: Spending,
) -> None:
    expected_in_flight = sum(
        max(1, int(TYPICAL_REPLY_S * (queue.limit.max_queries or config.max_queries) / 60))
        for queue in plan.queues.values()
    )
    send_results, receive_results = trio.open_memory_channel[Finished](RESULT_BUFFER)
    folder.completed.touch()
    async with (
        ProviderSet(config, environ, expected_concurrency=expected_in_flight) as providers,
        secrets_scrubbed(logger, providers.secrets),
        open_cache(config.cache) as cache,
        open_shared_buckets(config.rate_limits.shared) as shared,
    ):
        for api, model_name in sorted(plan.endpoints):
            # Created before the first permit: a provider's clients and TLS context (~20 ms) are not
            # built on the schedule's time, which would make the first requests leave late, then bunched.
            providers.get(api, model_name)
        stages = Stages(config, plan, providers, folder, providers.secrets, batching, spending)
        sources: dict[QueueKey, tuple[QueueLimit, PromptSource]] = {
            key: (queue.limit, stages.prompt_source(queue)) for key, queue in plan.queues.items()
        }
        if batching is not None:
            for key in batching.reattached_queues(config, sources):
                sources[key] = (queue_limit(config, key), NoPrompts())
        queue_channels = [send_results.clone() for _ in sources]
        send_results.close()

        def live_queue(
            key: QueueKey, limit: QueueLimit, source: PromptSource, channel: Results
        ) -> QueueRunner:
            shared_bucket = _shared_bucket(config, shared, key)
            return QueueRunner(
                key,
                limit,
                source,
                config,
                providers,
                channel,
                cache=cache,
                shared=shared_bucket,
                spending=spending,
            )

        queues: list[RunnableQueue] = [
            live_queue(key, limit, source, channel)
            if batching is None
            else batching.queue(key, partial(live_queue, key, limit), source, config, providers, channel)
            for (key, (limit, source)), channel in zip(sources.items(), queue_channels, strict=True)
        ]
        for queue in queues:
            summary.plan_from(queue.key, queue.source)
            if isinstance(queue, BatchQueueRunner):
                summary.plan(queue.key, queue.reattached_total)
        send_staged, receive_staged = trio.open_memory_channel[Finished](RESULT_BUFFER)
        writer = partial(write_records, folder.completed, receive_staged, secrets=providers.secrets)
        async with trio.open_nursery() as nursery:
            count_scores = lambda finished: spending.count_scores(finished.record)  # noqa: E731
            nursery.start_soon(partial(writer, on_record=[summary.add, scores.add, count_scores]))
            nursery.start_soon(stages.run, receive_results, send_staged)
            with trio.CancelScope() as queues_scope:
                async with trio.open_nursery() as watch_nursery:
                    if interrupt is not None:
                        watch_nursery.start_soon(_cancel_on_event, interrupt, queues_scope, interrupted)
                    elif threading.current_thread() is threading.main_thread():
                        watch_nursery.start_soon(_cancel_on_stop_signals, queues_scope, interrupted)
                    watch_nursery.start_soon(show_progress, queues, config.progress, None, spending.spent_usd)
                    async with trio.open_nursery() as queue_nursery:
                        for queue in [*queues, *stages.queues]:
                            queue_nursery.start_soon(queue.run)
                    watch_nursery.cancel_scope.cancel()
            for channel in queue_channels:
                channel.close()  # a queue cancelled before it started still holds its channel
            stages.close_unstarted()


def _shared_bucket(config: RunConfig, shared: SharedBuckets | None, key: QueueKey) -> SharedTokens | None:
    """The queue's bucket in Redis, filled at its configured rate (whole, even when shards split it)."""
    if shared is None:
        return None
    return shared.bucket(str(key), queue_limit(config, key).max_queries or config.max_queries)


@dataclass
class _Interrupted:
    value: bool = False
    signal: str | None = None
    """The signal's name (``SIGINT``, ``SIGTERM``, ``SIGHUP``) when one stopped the run."""


async def _cancel_on_stop_signals(scope: trio.CancelScope, interrupted: _Interrupted) -> None:
    """Ctrl-C, SIGTERM (SLURM's time limit, ``docker stop``, systemd) and SIGHUP all stop cleanly."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for signal_number in signals:
            name = signal.Signals(signal_number).name
            logger.warning("interrupted (%s): cancelling requests in flight; finished records are kept", name)
            interrupted.value, interrupted.signal = True, interrupted.signal or name
            scope.cancel()


async def _cancel_on_event(event: trio.Event, scope: trio.CancelScope, interrupted: _Interrupted) -> None:
    await event.wait()
    logger.warning("interrupted: cancelling requests in flight; finished records are kept")
    interrupted.value = True
    scope.cancel()


_CURRENT_RUN: contextvars.ContextVar[Path | None] = contextvars.ContextVar("prompto_run_dir", default=None)
"""The run folder of the task logging (trio tasks inherit it), so concurrent runs keep separate logs."""


class _ThisRunOnly(logging.Filter):
    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self._run_dir = run_dir

    def filter(self, record: logging.LogRecord) -> bool:
        return _CURRENT_RUN.get() == self._run_dir


class _RunLogHandler(logging.FileHandler):
    """``run.log``: a line it cannot write (disk full) is dropped, not printed as a traceback."""

    _warned = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)  # a bug in a log call: keep logging's own report
        elif not self._warned:
            self._warned = True
            print(f"prompto-run: cannot write {self.baseFilename}; its later lines are lost", file=sys.stderr)


@contextmanager
def _run_log(folder: RunFolder, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    handler = _RunLogHandler(folder.log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    handler.addFilter(_ThisRunOnly(folder.path))
    token = _CURRENT_RUN.set(folder.path)
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(previous_level or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        _CURRENT_RUN.reset(token)
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        handler.close()
