"""A run folder's saved config, read back for ``resume=``, ``rerun=``, ``prompto-score``, ``prompto-judge``
and ``prompto-merge``.

The entry points call :func:`with_saved_run` on a composed config before validating it, so that
``runner.config`` only validates and never reads a folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.config._compose import ConfigError, to_run_config
from runner.config._config import RunConfig
from runner.run_folder._files import RunFolder

RESUME_MAY_CHANGE = (
    "max_queries",
    "max_attempts",
    "request_timeout_s",
    "rate_limits",
    "cache",
    "env_file",
    "max_reply_mb",
)
"""Settings a resumed run may override: pacing and retries, never what is asked of which model."""


def with_saved_run(cfg: DictConfig, overrides: Sequence[str] = ()) -> DictConfig:
    """``cfg``, or for ``resume=`` and ``rerun=`` the saved config of the run folder they name.

    ``overrides`` (the command line's) matter only when resuming: see :data:`RESUME_MAY_CHANGE`.
    """
    if cfg.get("resume"):
        return _resume_config(cfg, overrides)
    if cfg.get("rerun"):
        return _rerun_config(cfg)
    return cfg


def _saved_run_config(run_dir: Path, option: str) -> DictConfig:
    """A run folder's saved config, reading its own copy of the prompt file."""
    folder = RunFolder(run_dir)
    copy = folder.input_copy()
    if not folder.saved_config.is_file() or copy is None:
        raise ConfigError(
            f"`{option}={run_dir}` is not a run folder: it needs .hydra/config.yaml and the input-* copy "
            "that every prompto-run leaves behind."
        )
    loaded = OmegaConf.load(folder.saved_config)
    assert isinstance(loaded, DictConfig)
    if not loaded.experiment.get("name"):  # keep the run's name, not the copy's
        loaded.experiment.name = Path(str(loaded.experiment.file)).stem
    loaded.experiment.file = str(copy.resolve())
    loaded.rerun = None
    return loaded


def load_run_config(run_dir: Path, overrides: Sequence[str] = ()) -> RunConfig:
    """A finished run's config (``.hydra/config.yaml``) with ``key=value`` overrides applied.

    ``prompto-score`` and ``prompto-judge`` use it: ``scorers=[match,regex]`` or ``judges=[...]``
    replace the run's own, and everything else is as the run had it.
    """
    saved = RunFolder(run_dir).saved_config
    if not saved.is_file():
        raise ConfigError(f"'{run_dir}' is not a run folder: it has no .hydra/config.yaml")
    loaded = OmegaConf.load(saved)
    assert isinstance(loaded, DictConfig)
    loaded.output_dir = str(run_dir)
    try:
        cfg = OmegaConf.merge(loaded, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"cannot apply overrides {list(overrides)}: {exc}") from None
    assert isinstance(cfg, DictConfig)
    cfg.rerun = None
    return to_run_config(cfg)


def _rerun_config(cfg: DictConfig) -> DictConfig:
    loaded = _saved_run_config(Path(str(cfg.rerun)), "rerun")
    loaded.output_dir = cfg.output_dir
    loaded.resume = None
    return loaded


def _resume_config(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """Finish a run in its own folder, with the config and prompt file it started with."""
    run_dir = Path(str(cfg.resume)).resolve()
    loaded = _saved_run_config(run_dir, "resume")
    changes = [o.lstrip("+") for o in overrides if not o.startswith(("resume=", "hydra.", "hydra/"))]
    refused = [o for o in changes if o.split("=", 1)[0].split(".")[0] not in RESUME_MAY_CHANGE]
    if refused:
        raise ConfigError(
            f"`resume=` finishes a run with the config it started with; it cannot change {refused}. "
            f"Only {', '.join(RESUME_MAY_CHANGE)} may be overridden (or start a new run)."
        )
    if changes:
        merged = OmegaConf.merge(loaded, OmegaConf.from_dotlist(changes))
        assert isinstance(merged, DictConfig)
        loaded = merged
    loaded.output_dir = str(run_dir)
    loaded.resume = str(run_dir)
    return loaded


def saved_run_config(run_dir: Path) -> RunConfig:
    """The validated config a finished run saved in ``RUN_DIR/.hydra/config.yaml``."""
    saved = RunFolder(run_dir).saved_config
    if not saved.is_file():
        raise ConfigError(f"{run_dir} is not a run folder: it has no .hydra/config.yaml")
    loaded = OmegaConf.load(saved)
    assert isinstance(loaded, DictConfig)
    loaded.output_dir = str(run_dir)  # Hydra's ${hydra:runtime.output_dir} resolves only inside Hydra
    # a rerun's config names the run it repeated: that one is read too
    return to_run_config(with_saved_run(loaded))
