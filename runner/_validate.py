"""The pre-run validation: one function, called by a run and by ``prompto-check``, so a file that checks
clean starts.

::

    experiment.file ─▶ (a run: copied into its folder) ─▶ build_plan ─▶ check_stages ─▶ Validation

:func:`~runner.prompts._plan.build_plan` reads the whole prompt file once (every line, the ids, each
endpoint's api and keys); when it finds no problem, the stages' checks follow (scorers, judge and
rephrase models, templates and the placeholders the prompts must fill). A run validates the copy it
keeps in its folder and writes the normalised prompts its queues read there; ``prompto-check`` reads the
file where it is and keeps the normalised prompts only while the templates are checked against them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runner.config._config import RunConfig
from runner.costs._estimate import Estimator
from runner.costs._prices import PriceBook
from runner.evaluation._stage_checks import check_stages
from runner.prompts._plan import Plan, build_plan
from runner.prompts._prompt_file import PromptFileError
from runner.run_folder._files import RunFolder, copy_input, record_input_checksum


@dataclass(frozen=True)
class Validation:
    """What the validation read and found."""

    prompt_file: Path
    """The prompt file the experiment names."""
    plan: Plan
    """The queues, or the problems (``plan.problem_count``)."""
    input_sha256: str | None = None
    """The SHA-256 of the copy kept in the run folder (a run's validation only)."""
    estimate: Estimator | None = None
    """What the plan is estimated to send and cost (stages included); ``None`` unless it is runnable."""

    @property
    def runnable(self) -> bool:
        """Whether the experiment has no problem."""
        return self.plan.problem_count == 0


def validate_experiment(
    config: RunConfig,
    environ: Mapping[str, str],
    folder: RunFolder | None = None,
    *,
    include: Callable[[str], bool] | None = None,
    book: PriceBook | None = None,
) -> Validation:
    """Validate the experiment ``config`` names; nothing is sent. Raise :class:`PromptFileError` if its
    prompt file does not exist.

    With ``folder`` (a run), the prompt file is copied into it first and the copy is validated; its
    normalised prompts go to ``folder.prompts``. ``include`` (given an id) leaves prompts out of the plan
    without that being a problem (resume, sharding). The plan's cost is estimated as it is read, at
    the prices of ``book`` (the run's own, so each model is looked up and warned about once).
    """
    source = config.resolve_prompt_file()
    if not source.is_file():
        raise PromptFileError(
            f"experiment.file '{config.experiment.file}' was not found in {config.input_folder}/ "
            "nor in the working directory"
        )
    if folder is None:
        with _scratch_prompts(config) as normalized:
            plan, estimate = _plan(config, source, normalized, environ, include, book)
            return Validation(source, plan, estimate=estimate)
    input_copy = copy_input(source, folder)
    # Hashed beside the validation: a million-line file's hash starts the run 0.1 s later otherwise.
    with ThreadPoolExecutor(1, thread_name_prefix="input-sha256") as hasher:
        sha256 = hasher.submit(record_input_checksum, input_copy, folder)
        with folder.prompts.open("w+b") as normalized:
            plan, estimate = _plan(config, input_copy, normalized, environ, include, book)
        return Validation(source, plan, sha256.result(), estimate)


def _plan(
    config: RunConfig,
    source: Path,
    normalized: IO[bytes],
    environ: Mapping[str, str],
    include: Callable[[str], bool] | None,
    book: PriceBook | None,
) -> tuple[Plan, Estimator | None]:
    estimator = Estimator(config, book or PriceBook(config))
    plan = build_plan(
        config,
        source,
        normalized,
        include=include,
        environ=environ,
        observe=estimator.observe,
        text_counter=estimator.text_counter,
    )
    if not plan.problem_count:  # the stages' checks read the normalised prompts: only a clean file has them
        check_stages(config, plan, environ)
    return plan, None if plan.problem_count else estimator


def _scratch_prompts(config: RunConfig) -> IO[bytes]:
    """Where a check writes the normalised prompts: a temporary file while judge and rephrase templates
    are checked against them, else nowhere."""
    if config.judges or config.rephrase:
        return tempfile.NamedTemporaryFile(suffix=".jsonl")
    return open(os.devnull, "wb")
