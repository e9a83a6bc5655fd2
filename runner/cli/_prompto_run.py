"""``prompto-run``: the Hydra application. Thin: compose, validate once, run, report."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hydra
import trio
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from runner._batch_cancel import cancel_batches_of
from runner._run import run_experiment
from runner.cli._exit import NOTHING_SENT, exit_status
from runner.cli._overrides import with_mapping_overrides
from runner.config._compose import (
    CONF_DIR,
    ConfigError,
    describe_override_error,
    register_resolvers,
    to_run_config,
    user_conf_overrides,
)
from runner.config._log import is_outcome
from runner.display._console import print_summary
from runner.results._exit_status import ProcessStatus
from runner.run_folder._saved_config import with_saved_run

PROG = "prompto-run"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _main(cfg: DictConfig) -> None:
    status = _run_job(cfg)
    ProcessStatus.report(status)
    if status >= 128 and HydraConfig.get().mode == RunMode.MULTIRUN:
        sys.exit(status)  # a signal stops the whole sweep, not only its current job


def _run_job(cfg: DictConfig) -> int:
    """One run (a sweep's job), its summary printed; returns its exit status."""
    return exit_status(PROG, lambda: _run_and_report(cfg), aftermath=NOTHING_SENT)


def _run_and_report(cfg: DictConfig) -> int:
    if cfg.get("cancel"):
        return cancel_batches_of(Path(str(cfg.cancel)))
    config = to_run_config(with_saved_run(cfg, HydraConfig.get().overrides.task))
    with _outcome_said_at_the_end():
        result = trio.run(run_experiment, config, None, False)
    print_summary(result.summary, str(result.run_dir))
    if result.summary["status"] == "empty":
        print(f"{PROG}: {config.experiment.file} holds no prompt; nothing was sent.", file=sys.stderr)
    elif result.summary["status"] == "incomplete_input":
        print(f"{PROG}: {result.summary['input_warning']}", file=sys.stderr)
    elif result.summary["status"] == "budget_exhausted":
        budget = result.summary.get("budget", {})
        print(
            f"The budget stopped the run (spent ${budget.get('spent_usd', 0):.4f}); the prompts it had no "
            "room for are recorded as not_sent. To send them: "
            f"prompto-run resume={result.run_dir} budget.max_usd=MORE"
        )
    elif pending := result.summary.get("batches", {}).get("pending"):
        print(batches_left_message(len(pending), result.run_dir))
    elif result.summary["status"] != "complete" or result.summary["failed"]:
        print(f"To send what is missing or failed: prompto-run resume={result.run_dir}")
    return result.exit_status


def batches_left_message(count: int, run_dir: Path) -> str:
    """What to do about batches still at the provider (``batch.wait=false``, Ctrl-C while waiting)."""
    return (
        f"{count} batch(es) still at the provider (they keep running). Collect them, waiting until "
        f"they end: prompto-run resume={run_dir}   Cancel them: prompto-run cancel={run_dir}"
    )


@contextmanager
def _outcome_said_at_the_end() -> Iterator[None]:
    """Keep the run's outcome records off Hydra's console: prompto-run says the outcome after the
    summary, so the user reads it once (run.log keeps them)."""
    consoles = [handler for handler in logging.getLogger().handlers if type(handler) is logging.StreamHandler]
    for handler in consoles:
        handler.addFilter(_not_an_outcome)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(_not_an_outcome)


def _not_an_outcome(record: logging.LogRecord) -> bool:
    return not is_outcome(record)


def with_user_conf(argv: list[str], search_path: list[str]) -> list[str]:
    """``argv`` with the user's ``./conf`` search path among its overrides.

    Hydra's command line takes its overrides as one run of positional arguments, so the search path
    goes just before the first of them (after ``-m``, ``--cfg job``...), or at the end when there is none.
    """
    for index, argument in enumerate(argv[1:], start=1):
        if "=" in argument and not argument.startswith("-"):
            return [*argv[:index], *search_path, *argv[index:]]
    return [*argv, *search_path]


def main() -> None:
    """Entry point of the ``prompto-run`` command."""
    sys.exit(run_main())


def run_main() -> int:
    """``prompto-run`` on ``sys.argv``; returns the exit status (the worst of a sweep's jobs)."""
    register_resolvers()
    sys.argv = with_user_conf(with_mapping_overrides(sys.argv), user_conf_overrides())
    # Hydra prints its own composition errors and exits 1; with HYDRA_FULL_ERROR it raises them, so a
    # misspelt key on the command line is reported as bad input (exit 2), with the key it resembles.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    return exit_status(PROG, _hydra_app, aftermath=NOTHING_SENT)


def _hydra_app() -> int:
    try:
        _main()
    except HydraException as exc:
        raise ConfigError(describe_override_error(exc)) from None
    return ProcessStatus.worst
