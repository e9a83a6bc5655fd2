"""The Python API, for scripts and notebooks.

>>> from runner import load_config, run
>>> config = load_config("capitals", ["model=simulated_fast", "max_queries=600"])
>>> result = run(config)            # works in a script and in a Jupyter cell
>>> result.run_dir, result.summary["ok"]

Inside trio code, ``await run_async(config)`` instead. Each run writes the same folder as
``prompto-run``, including ``.hydra/config.yaml`` so that ``prompto-run rerun=RUN_DIR`` repeats it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import trio

from runner._run import RunResult, run_experiment
from runner.config._compose import compose_config, run_name, to_run_config
from runner.config._config import RunConfig
from runner.run_folder._files import TIME_FORMAT
from runner.run_folder._saved_config import save_config, with_saved_run


def load_config(
    experiment: str | None = None,
    overrides: Sequence[str] = (),
    *,
    output_dir: str | Path | None = None,
) -> RunConfig:
    """Compose ``conf/`` (and ``./conf``) as ``prompto-run +experiment=NAME OVERRIDES...`` would.

    The run folder defaults to ``outputs/<experiment name>/<timestamp>/`` under the working directory.
    """
    all_overrides = [*([f"+experiment={experiment}"] if experiment else []), *overrides]
    cfg = compose_config(all_overrides)
    if cfg.get("resume"):
        return to_run_config(with_saved_run(cfg, all_overrides))  # the run folder's own config and folder
    if output_dir is None:
        name = run_name(cfg.experiment.get("name"), cfg.experiment.get("file"), cfg.get("rerun"))
        output_dir = Path("outputs") / name / datetime.now().strftime(TIME_FORMAT)
    cfg.output_dir = str(output_dir)
    return to_run_config(with_saved_run(cfg))


async def run_async(config: RunConfig, *, environ: Mapping[str, str] | None = None) -> RunResult:
    """Run under trio; returns the run folder and summary."""
    save_config(config)
    return await run_experiment(config, environ)


def run(
    config: RunConfig | str,
    overrides: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
) -> RunResult:
    """Run from a plain script or a Jupyter cell; ``config`` is a RunConfig or an experiment name."""
    if isinstance(config, str):
        config = load_config(config, overrides)
    elif overrides:
        raise ValueError(
            "overrides apply to an experiment name; change a RunConfig with model_copy(update=...)"
        )
    if not _asyncio_loop_running():
        return trio.run(_run, config, environ)
    # Jupyter already runs an asyncio loop in this thread; trio gets a thread of its own.
    outcome: list[RunResult | BaseException] = []
    worker = threading.Thread(target=lambda: outcome.append(_capture(config, environ)), name="prompto-run")
    worker.start()
    worker.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


async def _run(config: RunConfig, environ: Mapping[str, str] | None) -> RunResult:
    return await run_async(config, environ=environ)


def _capture(config: RunConfig, environ: Mapping[str, str] | None) -> RunResult | BaseException:
    try:
        return trio.run(_run, config, environ)
    except BaseException as exc:  # handed to the calling thread, which re-raises it
        return exc


def _asyncio_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
