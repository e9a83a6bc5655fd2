"""``prompto-run``: the Hydra application. Thin: compose, validate once, run, report."""

from __future__ import annotations

import logging
import os
import sys

import hydra
import trio
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig

from runner._compose import (
    CONF_DIR,
    ConfigError,
    describe_override_error,
    register_resolvers,
    to_run_config,
    user_conf_overrides,
)
from runner._console import print_summary
from runner._engine import run_experiment
from runner._plan import ValidationFailed
from runner._prompt_file import PromptFileError
from runner._shared_limiter import SharedLimiterError

logger = logging.getLogger("prompto_run")

EXIT_INVALID = 2


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _main(cfg: DictConfig) -> None:
    try:
        config = to_run_config(cfg, HydraConfig.get().overrides.task)
        result = trio.run(run_experiment, config, None, False)
    except (ConfigError, ValidationFailed, PromptFileError, SharedLimiterError) as exc:
        logger.error("%s", exc)
        print(f"prompto-run: {exc}\nNothing was sent.", file=sys.stderr)
        sys.exit(EXIT_INVALID)
    print_summary(result.summary, str(result.run_dir))
    if result.summary["status"] != "complete" or result.summary["failed"]:
        print(f"To send what is missing or failed: prompto-run resume={result.run_dir}")


def main() -> None:
    """Entry point of the ``prompto-run`` command."""
    register_resolvers()
    sys.argv[1:1] = user_conf_overrides()
    # Hydra prints its own composition errors and exits 1; with HYDRA_FULL_ERROR it raises them, so a
    # misspelt key on the command line is reported as bad input (exit 2), with the key it resembles.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        _main()
    except HydraException as exc:
        print(f"prompto-run: {describe_override_error(exc)}\nNothing was sent.", file=sys.stderr)
        sys.exit(EXIT_INVALID)
