"""One run, start to end: validate, then every queue and the writer in one nursery.

::

    run nursery ─┬─ writer  ◀── results ──┬── queue "openai"  (ticker, feeder, dispatcher, attempts)
                 │                        ├── queue "gemini"
                 └─ Ctrl-C watcher        └── ...

Ctrl-C cancels the queues (in-flight requests are abandoned, never recorded as answered); the writer
is outside that cancel scope and drains every record already finished before the summary is
written. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from dotenv import dotenv_values

from runner._config import RunConfig
from runner._limiter import SharedTokens
from runner._outputs import RunFolder, copy_input
from runner._plan import Plan, ValidationFailed, build_plan
from runner._prompt_file import PromptFileError
from runner._provider_set import ProviderSet
from runner._queue import Finished, QueueRunner
from runner._routing import queue_limit
from runner._shared_limiter import SharedBuckets, open_shared_buckets
from runner._summary import SummaryBuilder
from runner._writer import write_records

logger = logging.getLogger("prompto_run")

RESULT_BUFFER = 1024
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
        return self.run_dir / "completed.jsonl"


def effective_environ(config: RunConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the env file's variables added (never overriding what is already set)."""
    environ = dict(os.environ if base is None else base)
    if config.env_file is not None and config.env_file.is_file():
        file_values = {k: v for k, v in dotenv_values(config.env_file).items() if v is not None}
        environ = {**file_values, **environ}
    return environ


def prepare(config: RunConfig, folder: RunFolder, environ: Mapping[str, str]) -> tuple[Plan, str]:
    """Copy the prompt file into the run folder and validate it; raise :class:`ValidationFailed`."""
    source = config.resolve_prompt_file()
    if not source.is_file():
        raise PromptFileError(
            f"experiment.file '{config.experiment.file}' was not found in {config.input_folder}/ "
            "nor in the working directory"
        )
    input_copy, sha256 = copy_input(source, folder)
    with folder.prompts.open("w+b") as normalized:
        include = config.shard.includes if config.shard is not None else None
        plan = build_plan(config, input_copy, normalized, include=include, environ=environ)
    if plan.problem_count:
        raise ValidationFailed(plan)
    return plan, sha256


async def run_experiment(
    config: RunConfig,
    environ: Mapping[str, str] | None = None,
    log_to_file: bool = True,
) -> RunResult:
    """Run the experiment ``config`` describes into ``config.output_dir``."""
    folder = RunFolder(config.output_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    with _run_log(folder, enabled=log_to_file):
        run_environ = effective_environ(config, environ)
        plan, sha256 = prepare(config, folder, run_environ)
        logger.info(
            "experiment %s: %d prompts in %d queue(s): %s",
            config.experiment.run_name,
            plan.total,
            len(plan.queues),
            ", ".join(f"{q.key} ({q.count} at {q.limit.max_queries:g}/min)" for q in plan.queues.values()),
        )
        summary, interrupted, wall_time = await _run_queues(config, plan, folder, run_environ)
        result = summary.build(
            wall_time_s=wall_time,
            interrupted=interrupted,
            experiment=config.experiment.run_name,
            input_sha256=sha256,
            **({"shard": str(config.shard)} if config.shard is not None else {}),
        )
        folder.write_summary(result)
        logger.info(
            "%s: %d of %d prompts finished (%d ok, %d failed) in %.1f s; records in %s",
            "interrupted" if interrupted else "done",
            *(
                result["finished"],
                result["prompts"],
                result["ok"],
                result["failed"],
                wall_time,
                folder.completed,
            ),
        )
    return RunResult(folder.path, result)


async def _run_queues(
    config: RunConfig, plan: Plan, folder: RunFolder, environ: Mapping[str, str]
) -> tuple[SummaryBuilder, bool, float]:
    summary = SummaryBuilder({key: queue.count for key, queue in plan.queues.items()})
    expected_in_flight = sum(
        max(1, int(TYPICAL_REPLY_S * (queue.limit.max_queries or config.max_queries) / 60))
        for queue in plan.queues.values()
    )
    send_results, receive_results = trio.open_memory_channel[Finished](RESULT_BUFFER)
    interrupted = _Interrupted()
    started = time.monotonic()
    folder.completed.touch()
    async with (
        ProviderSet(config, environ, expected_concurrency=expected_in_flight) as providers,
        open_shared_buckets(config.rate_limits.shared) as shared,
    ):
        queue_channels = [send_results.clone() for _ in plan.queues]
        send_results.close()
        queues = [
            QueueRunner(
                queue, plan.prompt_file, config, providers, channel, _shared_bucket(config, shared, key)
            )
            for (key, queue), channel in zip(plan.queues.items(), queue_channels, strict=True)
        ]
        writer = partial(write_records, folder.completed, receive_results, secrets=providers.secrets)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(writer, on_record=[summary.add]))
            with trio.CancelScope() as queues_scope:
                async with trio.open_nursery() as watch_nursery:
                    if threading.current_thread() is threading.main_thread():
                        watch_nursery.start_soon(_cancel_on_sigint, queues_scope, interrupted)
                    async with trio.open_nursery() as queue_nursery:
                        for queue in queues:
                            queue_nursery.start_soon(queue.run)
                    watch_nursery.cancel_scope.cancel()
            for channel in queue_channels:
                channel.close()  # a queue cancelled before it started still holds its channel
    return summary, interrupted.value, time.monotonic() - started


def _shared_bucket(config: RunConfig, shared: SharedBuckets | None, key: str) -> SharedTokens | None:
    """The queue's bucket in Redis, filled at its configured rate (whole, even when shards split it)."""
    if shared is None:
        return None
    return shared.bucket(key, queue_limit(config, key).max_queries or config.max_queries)


class _Interrupted:
    value = False


async def _cancel_on_sigint(scope: trio.CancelScope, interrupted: _Interrupted) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            logger.warning("interrupted: cancelling requests in flight; finished records are kept")
            interrupted.value = True
            scope.cancel()


@contextmanager
def _run_log(folder: RunFolder, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    handler = logging.FileHandler(folder.log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(previous_level or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        handler.close()
