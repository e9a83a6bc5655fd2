"""prompto-run's engine and Python API.

The public surface is listed in ``__all__`` (a test guards it); everything else is internal.
"""

from runner._api import load_config, run, run_async
from runner._rescore import RescoreResult, rejudge_run, rescore_run
from runner._run import RunResult, run_experiment
from runner.config._compose import ConfigError, load_run_config
from runner.config._config import (
    ApiLimit,
    CacheConfig,
    ExperimentConfig,
    ModelConfig,
    QueueLimit,
    RateLimits,
    RunConfig,
)
from runner.config._eval_config import JudgeSpec, RephraseSpec, ScorerSpec, StageModel, VerdictSpec
from runner.prompts._plan import ValidationFailed
from runner.prompts._prompt_file import PromptFileError

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
