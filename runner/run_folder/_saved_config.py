"""A run folder's saved config: the one loader of ``.hydra/config.yaml`` and of ``.hydra/overrides.yaml``.

Every run leaves the config it started with in ``.hydra/config.yaml``: ``prompto-run`` through
Hydra (the config as composed, and its command line in ``overrides.yaml``), the Python API and the
pipeline through :func:`save_config` (the validated config). :func:`saved_config` reads either
back, the same way for every reader (``resume=``, ``rerun=``, ``prompto-score``, ``prompto-judge``,
``prompto-merge``):

* ``output_dir`` is the folder itself, and ``experiment.file`` the folder's own input copy (the
  original may have moved or changed since); the run keeps its name.
* A folder that ``rerun=`` made holds Hydra's copy of that command line, which only names the folder
  it repeated: its config is that folder's, read the same way, with this folder's own input copy.

The entry points call :func:`with_saved_run` on a composed config before validating it, so that
``runner.config`` only validates and never reads a folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.config._compose import ConfigError, to_run_config
from runner.config._config import RunConfig
from runner.run_folder._files import SAVED_CONFIG, RunFolder

RESUME_MAY_CHANGE = (
    "max_queries",
    "max_attempts",
    "request_timeout_s",
    "rate_limits",
    "cache",
    "env_file",
    "max_reply_mb",
    "budget",
    "progress",
    "report",
    "batch.wait",
    "batch.retry",
    "batch.poll_interval_s",
    "batch.max_poll_interval_s",
)
"""Settings a resumed run may override: pacing, retries, budgets and what is shown, never what is
asked of which model. Any other override is accepted when it changes nothing (the run's own command
line, pressed up-arrow and given ``resume=``)."""


def saved_config(run_dir: Path) -> DictConfig:
    """The config the run in ``run_dir`` ran with (see the module's docstring); :class:`ConfigError`
    if the folder has none."""
    folder = RunFolder(run_dir)
    loaded, seen = _load(folder), {folder.path.resolve()}
    while loaded.get("rerun"):  # Hydra saved `prompto-run rerun=FOLDER`: the run's config is FOLDER's
        repeated = RunFolder(Path(str(loaded.rerun)))
        if repeated.path.resolve() in seen:
            raise ConfigError(f"{run_dir}: its saved config repeats {repeated.path}, which repeats it")
        seen.add(repeated.path.resolve())
        if not repeated.saved_config.is_file():
            raise ConfigError(
                f"{run_dir} was made with rerun={repeated.path}, whose {SAVED_CONFIG} is gone: the "
                "settings it ran with were that folder's. Put the folder back to read this one."
            )
        loaded = _load(repeated)
    experiment = loaded.experiment
    copy = folder.input_copy()
    if copy is not None:
        if not experiment.get("name") and not OmegaConf.is_missing(experiment, "file"):
            experiment.name = Path(str(experiment.file)).stem  # the run's name, not the copy's
        experiment.file = str(copy.resolve())
    loaded.output_dir = str(run_dir)  # Hydra's ${hydra:runtime.output_dir} resolves only inside Hydra
    loaded.rerun = None
    loaded.resume = None
    return loaded


def save_config(config: RunConfig) -> None:
    """Leave the validated config where Hydra would, unless the folder has one already (Hydra's, or
    the run's being resumed), so that ``rerun=`` and ``resume=`` work for every run folder."""
    saved = RunFolder(config.output_dir).saved_config
    if saved.exists():
        return
    saved.parent.mkdir(parents=True, exist_ok=True)
    partial = saved.with_name(saved.name + ".partial")  # a crash leaves no half-written config
    OmegaConf.save(OmegaConf.create(config.model_dump(mode="json", by_alias=True)), partial)
    partial.replace(saved)


def saved_overrides(run_dir: Path) -> list[str]:
    """The command line Hydra saved (``.hydra/overrides.yaml``), one ``key=value`` each; [] if none."""
    file = RunFolder(run_dir).saved_overrides
    if not file.is_file():
        return []
    items = OmegaConf.to_container(OmegaConf.load(file))
    return [str(item) for item in items] if isinstance(items, list) else []


def load_run_config(run_dir: Path, overrides: Sequence[str] = ()) -> RunConfig:
    """A finished run's validated config, with ``key=value`` overrides applied.

    ``prompto-score`` and ``prompto-judge`` use it: ``scorers=[match,regex]`` or ``judges=[...]``
    replace the run's own, and everything else is as the run had it. ``prompto-merge`` reads each
    shard's with it.
    """
    loaded = saved_config(run_dir)
    try:
        cfg = OmegaConf.merge(loaded, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"cannot apply overrides {list(overrides)}: {exc}") from None
    assert isinstance(cfg, DictConfig)
    return to_run_config(cfg)


def with_saved_run(cfg: DictConfig, command_line: Sequence[str] = ()) -> DictConfig:
    """``cfg``, or for ``resume=`` and ``rerun=`` the saved config of the run folder they name.

    ``command_line`` (the overrides) matters only when resuming: see :data:`RESUME_MAY_CHANGE`.
    """
    if cfg.get("resume"):
        return _resumed(Path(str(cfg.resume)).resolve(), command_line)
    if cfg.get("rerun"):
        repeated = _run_to_send_again(Path(str(cfg.rerun)), "rerun")
        repeated.output_dir = cfg.output_dir
        return repeated
    return cfg


def _run_to_send_again(run_dir: Path, option: str) -> DictConfig:
    """The saved config of a folder whose prompts are sent again: it needs its input copy too."""
    folder = RunFolder(run_dir)
    if not folder.saved_config.is_file() or folder.input_copy() is None:
        raise ConfigError(
            f"`{option}={run_dir}` is not a run folder: it needs {SAVED_CONFIG} and the input-* copy "
            "that every prompto-run leaves behind."
        )
    return saved_config(run_dir)


def _resumed(run_dir: Path, command_line: Sequence[str]) -> DictConfig:
    """Finish a run in its own folder, with the config and prompt file it started with."""
    loaded = _run_to_send_again(run_dir, "resume")
    started_with = {o.lstrip("+") for o in saved_overrides(run_dir)}
    given = [o.lstrip("+") for o in command_line if not o.startswith(("resume=", "hydra.", "hydra/"))]
    changes = [o for o in given if o not in started_with and not _unchanged(loaded, o)]
    refused = [o for o in changes if not _may_change(o.split("=", 1)[0])]
    if refused:
        raise ConfigError(
            f"`resume=` finishes a run with the config it started with; it cannot change "
            f"{'; '.join(_change(loaded, o) for o in refused)}. Only {', '.join(RESUME_MAY_CHANGE)} may "
            "be overridden (or start a new run)."
        )
    if loaded.get("batch") is not None:
        loaded.batch.wait = True  # a run that only submitted (batch.wait=false) is resumed to collect
    for change in changes:  # parsed as Hydra parses them (``off`` is a string, not YAML 1.1's false)
        key, value = _parsed(change)
        OmegaConf.update(loaded, key, value, merge=True, force_add=True)
    loaded.resume = str(run_dir)
    return loaded


def _unchanged(loaded: DictConfig, override: str) -> bool:
    """Whether ``key=value`` sets what the saved config already holds."""
    try:
        key, wanted = _parsed(override)
        return bool(OmegaConf.select(loaded, key, default=_ABSENT) == wanted)
    except (HydraException, OmegaConfBaseException, ValueError):  # a group choice, an odd value
        return False


def _parsed(override: str) -> tuple[str, Any]:
    """An override's key and value, read with Hydra's own grammar (``off`` is a string there, not
    YAML 1.1's false as ``OmegaConf.from_dotlist`` would read it)."""
    parsed = OverridesParser.create().parse_override(override)
    return parsed.key_or_group, parsed.value()


def _change(loaded: DictConfig, override: str) -> str:
    """``key`` from its saved value to the new one, for the refusal."""
    key, _, value = override.partition("=")
    saved = OmegaConf.select(loaded, key, default=_ABSENT)
    return f"`{key}` (saved: {'absent' if saved is _ABSENT else saved!r}, given: {value!r})"


_ABSENT = object()


def _may_change(key: str) -> bool:
    return any(key == allowed or key.startswith(f"{allowed}.") for allowed in RESUME_MAY_CHANGE)


def _load(folder: RunFolder) -> DictConfig:
    if not folder.saved_config.is_file():
        raise ConfigError(f"{folder.path} is not a run folder: it has no {SAVED_CONFIG}")
    loaded = OmegaConf.load(folder.saved_config)
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{folder.saved_config} is not a config (a YAML mapping)")
    return loaded
