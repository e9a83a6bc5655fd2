"""prompto-run's engine and Python API.

The public surface is listed in ``__all__`` (a test guards it); everything else is internal.
"""

from runner._api import load_config, run, run_async
from runner._compose import ConfigError
from runner._config import (
    ApiLimit,
    CacheConfig,
    ExperimentConfig,
    ModelConfig,
    QueueLimit,
    RateLimits,
    RunConfig,
)
from runner._engine import RunResult, run_experiment
from runner._plan import ValidationFailed
from runner._prompt_file import PromptFileError

__all__ = [
    "ApiLimit",
    "CacheConfig",
    "ConfigError",
    "ExperimentConfig",
    "ModelConfig",
    "PromptFileError",
    "QueueLimit",
    "RateLimits",
    "RunConfig",
    "RunResult",
    "ValidationFailed",
    "load_config",
    "run",
    "run_async",
    "run_experiment",
]
