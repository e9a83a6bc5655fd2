"""From Hydra's composed config to a validated :class:`RunConfig`: the only module that sees a DictConfig.

Both entry points use it: the ``prompto-run`` CLI (under ``@hydra.main``) and the Python API (through
Hydra's compose API). A bad config becomes a :class:`ConfigError` whose message names the key and the
fix; the CLI prints it and exits with status 2 before anything is sent.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from pydantic import BaseModel, ValidationError

from runner._config import RunConfig

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
"""The shipped ``conf/`` folder."""


class ConfigError(ValueError):
    """The composed configuration is invalid; the message says which key and how to fix it."""


def run_name(name: str | None, file: str | None, rerun: str | None) -> str:
    """The output folder's name: ``experiment.name``, else the prompt file's stem."""
    if name:
        return str(name)
    if file:
        return Path(str(file)).stem
    if rerun:
        return f"rerun-{Path(str(rerun)).resolve().parent.name}"
    return "unnamed"


def user_conf_overrides(cwd: Path | None = None) -> list[str]:
    """Search ``./conf`` (a user's own experiments and models) besides the shipped ``conf/``."""
    user_conf = (cwd or Path.cwd()) / "conf"
    if not user_conf.is_dir() or user_conf.resolve() == CONF_DIR:
        return []
    return [f"hydra.searchpath=[file://{user_conf.resolve()}]"]


def register_resolvers() -> None:
    """Register the ``${run_name:...}`` resolver the Hydra run directory uses (idempotent)."""
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Validate a composed config, or raise :class:`ConfigError`."""
    if cfg.get("rerun"):
        cfg = _rerun_config(cfg)
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = exc.full_key or "a value"
        hint = (
            "choose an experiment with +experiment=NAME or set experiment.file=path/to/prompts.jsonl"
            if key == "experiment.file"
            else f"set it in your config or on the command line ({key}=...)"
        )
        raise ConfigError(f"`{key}` is not set: {hint}.") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the configuration cannot be resolved: {exc}") from None
    assert isinstance(container, dict)
    container.pop("hydra", None)
    container.pop("rerun", None)
    try:
        return RunConfig.model_validate(container)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, RunConfig)) from None


def _rerun_config(cfg: DictConfig) -> DictConfig:
    run_dir = Path(str(cfg.rerun))
    saved = run_dir / ".hydra" / "config.yaml"
    copies = sorted(run_dir.glob("input-*"))
    if not saved.is_file() or not copies:
        raise ConfigError(
            f"`rerun={run_dir}` is not a run folder: it needs .hydra/config.yaml and the input-* copy "
            "that every prompto-run leaves behind."
        )
    loaded = OmegaConf.load(saved)
    assert isinstance(loaded, DictConfig)
    loaded.experiment.file = str(copies[0].resolve())
    loaded.output_dir = cfg.output_dir
    loaded.rerun = None
    return loaded


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One paragraph per problem, naming the key, what is wrong and how to fix it."""
    paragraphs = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        key = ".".join(location)
        given = error.get("input")
        if error["type"] == "extra_forbidden":
            suggestion = _closest_key(model, location)
            hint = f" Did you mean `{suggestion}`?" if suggestion else ""
            paragraphs.append(
                f"Unknown key `{key}`.{hint} Check its spelling in your YAML or on the command line."
            )
        elif error["type"] == "missing":
            paragraphs.append(f"`{key}` is required but not set. Set it in your config or with {key}=...")
        else:
            fix = f"Fix it in your config or override it, e.g. {key}=..."
            paragraphs.append(f"`{key}`: {error['msg']} (got {given!r}). {fix}")
    return "Invalid configuration:\n  " + "\n  ".join(paragraphs)


def _closest_key(model: type[BaseModel], location: Sequence[str]) -> str | None:
    """The nearest valid key at the same level as an unknown one."""
    current: type[BaseModel] = model
    for part in location[:-1]:
        field = current.model_fields.get(part)
        annotation: Any = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    matches = difflib.get_close_matches(location[-1], list(current.model_fields), n=1)
    return ".".join([*location[:-1], matches[0]]) if matches else None


def saved_run_config(run_dir: Path) -> RunConfig:
    """The validated config a finished run saved in ``RUN_DIR/.hydra/config.yaml``."""
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{run_dir} is not a run folder: it has no .hydra/config.yaml")
    loaded = OmegaConf.load(saved)
    assert isinstance(loaded, DictConfig)
    loaded.output_dir = str(run_dir)  # Hydra's ${hydra:runtime.output_dir} resolves only inside Hydra
    return to_run_config(loaded)  # a rerun's config names the run it repeated: that one is read too
