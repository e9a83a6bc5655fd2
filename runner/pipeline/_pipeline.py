"""Pipeline mode: watch the data folder's ``input/`` and run each experiment file dropped there.

::

    pipeline nursery ─┬─ intake: poll input/ ─▶ stable file, oldest first ─▶ move into its run folder
                      │          (waits for a free slot: at most pipeline.max_experiments at once)
                      └─ one task per experiment: run_experiment (its own queues) ─▶ done, or
                                                  failed validation ─▶ input/failed/ + error file

Each experiment runs with the same settings (one validated :class:`RunConfig`, its file, name and run
folder set per file) and writes a full run folder: ``.hydra/config.yaml``, the input file itself,
``prompts.jsonl``, ``completed.jsonl``, ``run.log`` and ``summary.json``.

Setting ``stop`` (the CLI does on Ctrl-C) takes no new file and interrupts the running experiments as
Ctrl-C interrupts ``prompto-run``: finished records are kept and the summary says ``interrupted``.

An entry of ``input/`` that cannot be read or moved is skipped and reported (:attr:`PipelineReport.
unreadable`); the others still run. A file written to after it was taken (its writer had only paused)
ends with status ``incomplete_input``: the lines added were neither validated nor sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import trio

from runner._run import RunResult, run_experiment
from runner.config._config import PipelineConfig, RunConfig
from runner.config._log import LOGGER_NAME
from runner.pipeline._inbox import Claimed, claim, quarantine
from runner.pipeline._watch import InputWatcher
from runner.prompts._plan import ValidationFailed
from runner.prompts._prompt_file import PromptFileError
from runner.run_folder._saved_config import save_config

logger = logging.getLogger(LOGGER_NAME)


@dataclass
class PipelineReport:
    """What a pipeline did, in the order it happened."""

    completed: list[RunResult] = field(default_factory=list)
    """Runs that ended (complete, or interrupted by ``stop``)."""
    failed: list[Path] = field(default_factory=list)
    """Files that failed validation, now in ``input/failed/``."""
    unreadable: dict[Path, str] = field(default_factory=dict)
    """Entries of ``input/`` skipped because they could not be read or moved, and why."""
    interrupted: bool = False


def config_for(run_settings: RunConfig, claimed: Claimed) -> RunConfig:
    """The run settings with this file, its name and its run folder."""
    experiment = run_settings.experiment.model_copy(
        update={"file": claimed.input_file.resolve(), "name": claimed.name}
    )
    return run_settings.model_copy(update={"experiment": experiment, "output_dir": claimed.run_dir})


async def run_pipeline(
    run_settings: RunConfig,
    settings: PipelineConfig,
    *,
    stop: trio.Event | None = None,
    environ: Mapping[str, str] | None = None,
    watcher: InputWatcher | None = None,
    on_completed: Callable[[RunResult], None] = lambda result: None,
) -> PipelineReport:
    """Run every experiment file that settles in ``input/`` until ``stop`` is set (or, with
    ``settings.once``, until ``input/`` holds no experiment file)."""
    pipeline = _Pipeline(
        run_settings,
        settings,
        trio.Event() if stop is None else stop,
        environ,
        watcher or InputWatcher(run_settings.input_folder, stable_for_s=settings.stable_for_s),
        on_completed,
    )
    previous_level = logger.level
    logger.setLevel(min(previous_level or logging.INFO, logging.INFO))  # runs log INFO to run.log
    try:
        await pipeline.run()
    finally:
        logger.setLevel(previous_level)
    return pipeline.report


class _Pipeline:
    def __init__(
        self,
        run_settings: RunConfig,
        settings: PipelineConfig,
        stop: trio.Event,
        environ: Mapping[str, str] | None,
        watcher: InputWatcher,
        on_completed: Callable[[RunResult], None],
    ) -> None:
        self._run_settings = run_settings
        self._settings = settings
        self._stop = stop
        self._environ = environ
        self._watcher = watcher
        self._on_completed = on_completed
        self._slots = trio.CapacityLimiter(settings.max_experiments)
        self.report = PipelineReport()

    async def run(self) -> None:
        self._watcher.folder.mkdir(parents=True, exist_ok=True)  # ready for files, as prompto does
        logger.info(
            "watching %s/ (up to %d experiment(s) at once)",
            self._watcher.folder,
            self._settings.max_experiments,
        )
        async with trio.open_nursery() as experiments, trio.open_nursery() as intake:
            intake.start_soon(self._cancel_intake_on_stop, intake.cancel_scope)
            await self._take_files(experiments)
            intake.cancel_scope.cancel()
        self.report.interrupted = self._stop.is_set()
        self.report.unreadable = self._watcher.unreadable

    async def _cancel_intake_on_stop(self, intake: trio.CancelScope) -> None:
        await self._stop.wait()
        logger.warning("stopping: no new experiment is taken; running ones keep what they finished")
        intake.cancel()

    async def _take_files(self, experiments: trio.Nursery) -> None:
        while True:
            slot = object()
            await self._slots.acquire_on_behalf_of(slot)
            path = await self._wait_for_stable_file()
            if path is None:
                self._slots.release_on_behalf_of(slot)
                return
            self._watcher.forget(path)
            try:
                claimed = claim(
                    path,
                    self._run_settings.data_folder / "output",
                    datetime.now(),
                    prompto=self._run_settings.prompto_files.enabled,
                )
            except OSError as exc:  # input/ not writable, a file that cannot be moved
                self._watcher.skip(path, exc)
                claimed = None
            if claimed is None:
                self._slots.release_on_behalf_of(slot)
                continue
            logger.info("taking %s into %s", path.name, claimed.run_dir)
            experiments.start_soon(self._run_one, claimed, slot)

    async def _wait_for_stable_file(self) -> Path | None:
        """The oldest stable experiment file; None once input/ is empty in ``once`` mode."""
        while True:
            ready = self._watcher.poll()
            if ready:
                return ready[0]
            if self._settings.once and not self._watcher.pending:
                return None
            settles_in = self._watcher.settles_in()
            interval = self._settings.poll_interval_s
            await trio.sleep(interval if settles_in is None else min(interval, max(settles_in, 0.01)))

    async def _run_one(self, claimed: Claimed, slot: object) -> None:
        try:
            config = config_for(self._run_settings, claimed)
            save_config(config)
            try:
                result = await run_experiment(config, self._environ, interrupt=self._stop)
            except (ValidationFailed, PromptFileError) as exc:
                failed = quarantine(claimed, self._run_settings.input_folder / "failed", str(exc))
                logger.error("%s failed validation; moved to %s (see its .error.txt)", claimed.name, failed)
                self.report.failed.append(failed)
                return
            self.report.completed.append(result)
            self._on_completed(result)
        finally:
            self._slots.release_on_behalf_of(slot)
