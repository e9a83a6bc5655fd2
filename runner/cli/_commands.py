"""``prompto-pipeline`` and ``prompto-check``: the same Hydra overrides as ``prompto-run``.

Both compose ``conf/`` (and ``./conf``) through :func:`runner.config._compose.compose_config`, validate it
once, and exit 2 on a bad config or experiment, printing what to fix.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import trio

from runner._check import check_experiment, format_check
from runner._run import RunResult
from runner.cli._exit import exit_status
from runner.config._compose import compose_config, to_pipeline_config, to_run_config
from runner.config._config import PipelineConfig, RunConfig
from runner.config._log import LOGGER_NAME
from runner.display._console import format_summary
from runner.pipeline._pipeline import PipelineReport, run_pipeline
from runner.results._exit_status import STOP_SIGNALS, ExitStatus
from runner.run_folder._saved_config import with_saved_run

logger = logging.getLogger(LOGGER_NAME)

OVERRIDES_HELP = "Hydra overrides, as for prompto-run: +experiment=NAME, model=NAME, max_queries=N, ..."


def pipeline_main(argv: Sequence[str] | None = None) -> int:
    """``prompto-pipeline [--once] [OVERRIDE ...]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="prompto-pipeline",
        description="Watch DATA_FOLDER/input/ and run each experiment file dropped there, oldest first.",
    )
    parser.add_argument("--once", action="store_true", help="process what input/ holds, then exit")
    parser.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    args = parser.parse_args(argv)
    overrides = ["+pipeline=default", *args.overrides, *(["pipeline.once=true"] if args.once else [])]
    return exit_status("prompto-pipeline", lambda: _pipeline(overrides))


def _pipeline(overrides: Sequence[str]) -> int:
    settings, run_settings = to_pipeline_config(compose_config(overrides))
    with _console_log():
        report = trio.run(_serve, run_settings, settings)
    print(
        f"prompto-pipeline: {len(report.completed)} experiment(s) run, {len(report.failed)} moved to "
        f"{run_settings.input_folder / 'failed'}/" + (" (interrupted)" if report.interrupted else "")
    )
    if report.failed:
        return ExitStatus.USER_ERROR
    if any(run.exit_status == ExitStatus.INCOMPLETE_INPUT for run in report.completed):
        return ExitStatus.INCOMPLETE_INPUT
    # Ctrl-C is how a watching pipeline ends; a --once pipeline stopped early has not done its work.
    return ExitStatus.INTERRUPTED if report.interrupted and settings.once else ExitStatus.OK


async def _serve(run_settings: RunConfig, settings: PipelineConfig) -> PipelineReport:
    """The pipeline with Ctrl-C: the first stops it cleanly, a second one at once."""
    stop = trio.Event()
    report = PipelineReport(interrupted=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signals, stop, nursery.cancel_scope)
        report = await run_pipeline(run_settings, settings, stop=stop, on_completed=_print_summary)
        nursery.cancel_scope.cancel()
    return report


async def _stop_on_signals(stop: trio.Event, everything: trio.CancelScope) -> None:
    """Ctrl-C, SIGTERM or SIGHUP: the first stops cleanly, a second one at once."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for _ in signals:
            if stop.is_set():
                logger.warning("second stop signal: stopping at once")
                everything.cancel()
            stop.set()


def _print_summary(result: RunResult) -> None:
    print(format_summary(result.summary, str(result.run_dir)), flush=True)


@contextmanager
def _console_log() -> Iterator[None]:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s", "%H:%M:%S"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def check_main(argv: Sequence[str] | None = None) -> int:
    """``prompto-check [OVERRIDE ...]``; returns 0 when the experiment can run, 2 when not."""
    parser = argparse.ArgumentParser(
        prog="prompto-check",
        description="Validate an experiment without sending anything, and show its queues and timing.",
    )
    parser.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    args = parser.parse_args(argv)
    return exit_status("prompto-check", lambda: print_check(*check_text(args.overrides)))


def check_text(overrides: Sequence[str]) -> tuple[str, bool]:
    """The check's report for an experiment composed with ``overrides``, and whether it can run."""
    report = check_experiment(to_run_config(with_saved_run(compose_config([*overrides, "output_dir=."]))))
    return format_check(report), report.runnable


def print_check(text: str, runnable: bool) -> int:
    """Print the check's report (on stderr when the experiment cannot run); return the exit status."""
    print(text, file=sys.stdout if runnable else sys.stderr)
    return ExitStatus.OK if runnable else ExitStatus.USER_ERROR


def pipeline() -> None:
    """Entry point of ``prompto-pipeline``."""
    sys.exit(pipeline_main())


def check() -> None:
    """Entry point of ``prompto-check``."""
    sys.exit(check_main())
