"""From Hydra's composed config to a validated :class:`RunConfig`: nothing after it sees a DictConfig.

Both entry points use it: the ``prompto-run`` CLI (under ``@hydra.main``) and the Python API (through
Hydra's compose API); a run folder's saved config is read back by :mod:`runner.run_folder._saved_config`.
A bad config becomes a :class:`ConfigError` whose message names the key and the fix; the CLI prints it
and exits with status 2 before anything is sent.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, ValidationError

from runner.config._compose_groups import GroupLookupError, resolve_stage_groups
from runner.config._config import PipelineConfig, RunConfig
from runner.config._errors import UserError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
"""The shipped ``conf/`` folder."""
HYDRA_SUBDIR = ".hydra"
"""Where Hydra saves the composed config in the run folder (``runner.run_folder`` names the files)."""


class ConfigError(UserError, ValueError):
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


def stage_search_dirs(cwd: Path | None = None) -> list[Path]:
    """Where ``conf/scorer/``, ``conf/judge/`` and ``conf/rephrase/`` entries are looked up, in order."""
    user_conf = (cwd or Path.cwd()) / "conf"
    return [user_conf, CONF_DIR] if user_conf.is_dir() and user_conf.resolve() != CONF_DIR else [CONF_DIR]


def resume_run_dir(resume: str | None, new_run_dir: str, cancel: str | None = None) -> str:
    """Hydra's run directory: the folder being resumed (or whose batches are cancelled), else a new one."""
    return str(resume or cancel) if resume or cancel else new_run_dir


def hydra_output_subdir(resume: str | None, cancel: str | None = None) -> str | None:
    """Where Hydra saves the composed config: nowhere when resuming or cancelling (the folder's own
    config stands)."""
    return None if resume or cancel else HYDRA_SUBDIR


def register_resolvers() -> None:
    """Register the resolvers the Hydra run directory uses (idempotent)."""
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("resume_run_dir", resume_run_dir, replace=True)
    OmegaConf.register_new_resolver("hydra_output_subdir", hydra_output_subdir, replace=True)


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Validate a composed config, or raise :class:`ConfigError`.

    ``resume=`` and ``rerun=`` name a run folder whose saved config is read first, by the entry point
    (:func:`runner.run_folder._saved_config.with_saved_run`): this only validates.
    """
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
    container.pop("cancel", None)
    try:
        resolve_stage_groups(container, stage_search_dirs())
    except GroupLookupError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return RunConfig.model_validate(container)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, RunConfig)) from None


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """Compose ``conf/`` (and ``./conf``) with these overrides, as ``prompto-run OVERRIDES...`` does.

    ``output_dir`` is left for the caller to set (Hydra's run directory does not exist here).
    """
    register_resolvers()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3", job_name="prompto_run"):
            return compose("config", overrides=[*user_conf_overrides(), *overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"the configuration cannot be composed: {exc}") from None


PER_FILE = Path("<each file in input/>")
"""``experiment.file`` of the pipeline's shared run settings: every file it picks up replaces it."""


class _PipelineSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: PipelineConfig


def to_pipeline_config(cfg: DictConfig) -> tuple[PipelineConfig, RunConfig]:
    """Split a config composed with ``+pipeline=default`` into the pipeline's settings and the run
    settings every experiment file shares (its file, name and run folder are set per file)."""
    cfg = copy.deepcopy(cfg)
    for option, what in (("rerun", "repeats"), ("resume", "finishes")):
        if cfg.get(option):
            raise ConfigError(f"`{option}=` {what} one run: use it with prompto-run, not prompto-pipeline.")
    with open_dict(cfg):
        section = {"pipeline": OmegaConf.to_container(cfg.pop("pipeline", {}), resolve=True)}
        cfg.experiment.file = str(PER_FILE)
        cfg.experiment.name = None
        cfg.output_dir = "."
    try:
        settings = _PipelineSection.model_validate(section).pipeline
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, _PipelineSection)) from None
    return settings, to_run_config(cfg)


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


def describe_override_error(exc: Exception) -> str:
    """Hydra's refusal of a command line, as one paragraph naming the key and the likely fix."""
    text = str(exc)
    found = re.search(r"Could not override '([^']+)'", text)
    if found and "is not in struct" in f"{text} {exc.__cause__}":
        key = found.group(1)
        suggestion = _closest_key(RunConfig, key.split("."))
        if suggestion == key:  # a mapping of the user's own keys, given as a whole
            return (
                f"`{key}` takes keys of your own: `'++{key}={{name: value}}'` replaces it, "
                f"`+{key}.name=value` adds one."
            )
        hint = f" Did you mean `{suggestion}`?" if suggestion else ""
        return (
            f"Unknown key `{key}` on the command line.{hint} Check its spelling; `+{key}=...` adds a key "
            "only where the config takes new ones (endpoints, rate_limits...)."
        )
    return f"the command line cannot be composed into a config: {text}"


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
