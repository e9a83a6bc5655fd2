"""prompto-run's engine and Python API.

The public surface is listed in ``__all__`` (a test guards it); everything else is internal. The
subpackages follow the data flow of a run, each importing only those below it (``lint-imports``
checks it)::

    cli/          command lines in, exit statuses out: prompto-run, -check, -pipeline, prompto's own
    pipeline/     watch input/ and run each file dropped there
    _api, _run    the Python API, and one run from start to end (_check: the same, sending nothing;
                  _validate: the one pre-run validation both call)
    display/      console summary, live progress, report.html, charts, sweep comparison
    results/      summary.json, scores, exit statuses, export, merging shards
    evaluation/   scorers, LLM judges and rephrasing, wired between the queues and the writer
    engine/       queues, pacing (limiters, token buckets, Redis), retries, the cache, the providers
    run_folder/   the on-disk contract: file names, lock, records (one writer, one reader), resume,
                  saved configs
    prompts/      prompt files, conversations, resolution, the validation pass and the plan
    config/       Hydra composition and the typed, validated settings

A prompt goes down the middle: ``prompts`` reads and validates it, ``engine`` sends it through a
provider (``providers/``, outside this package), ``evaluation`` scores or judges the record,
``run_folder`` writes it, ``results`` and ``display`` add it up.
"""

from runner._api import load_config, run, run_async
from runner._rescore import RescoreResult, rejudge_run, rescore_run
from runner._run import RunResult, run_experiment
from runner.config._compose import ConfigError
from runner.config._config import (
    ApiLimit,
    CacheConfig,
    ExperimentConfig,
    ModelConfig,
    QueueLimit,
    RateLimits,
    RunConfig,
)
from runner.config._errors import UserError
from runner.config._eval_config import JudgeSpec, RephraseSpec, ScorerSpec, StageModel, VerdictSpec
from runner.prompts._plan import ValidationFailed
from runner.prompts._prompt_file import PromptFileError
from runner.run_folder._saved_config import load_run_config

__all__ = [
    "ApiLimit",
    "CacheConfig",
    "ConfigError",
    "ExperimentConfig",
    "JudgeSpec",
    "ModelConfig",
    "PromptFileError",
    "QueueLimit",
    "RateLimits",
    "RephraseSpec",
    "RescoreResult",
    "RunConfig",
    "RunResult",
    "ScorerSpec",
    "StageModel",
    "UserError",
    "ValidationFailed",
    "VerdictSpec",
    "load_config",
    "load_run_config",
    "rejudge_run",
    "rescore_run",
    "run",
    "run_async",
    "run_experiment",
]
