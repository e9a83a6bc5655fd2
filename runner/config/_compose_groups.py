"""Resolving ``scorers: [match, includes]``, ``judges: [...]`` and ``rephrase: NAME`` to their configs.

A name is looked up as ``<group>/<name>.yaml`` in the user's ``./conf`` first, then in the shipped
``conf/``; a mapping given inline is used as is (a scorer's name defaults to its target's last part).
Works on plain containers (the composed config after ``OmegaConf.to_container``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

GROUPS = {"scorers": "scorer", "judges": "judge", "rephrase": "rephrase"}


class GroupLookupError(ValueError):
    """A stage names a config that no search directory holds."""


def resolve_stage_groups(container: dict[Any, Any], search_dirs: Sequence[Path]) -> None:
    """Replace every stage name in ``container`` by its config dict, in place."""
    for key, group in GROUPS.items():
        value = container.get(key)
        if value is None:
            continue
        if key == "rephrase":
            container[key] = _resolve(value, group, search_dirs)
        elif isinstance(value, list):
            container[key] = [_resolve(entry, group, search_dirs) for entry in value]
        elif isinstance(value, str):  # scorers=match on the command line
            container[key] = [_resolve(value, group, search_dirs)]


def _resolve(entry: Any, group: str, search_dirs: Sequence[Path]) -> Any:
    if isinstance(entry, dict):
        if group == "scorer" and "name" not in entry and isinstance(entry.get("_target_"), str):
            return {"name": entry["_target_"].replace(":", ".").rsplit(".", 1)[-1], **entry}
        return entry
    if not isinstance(entry, str):
        return entry  # pydantic reports the wrong type
    for directory in search_dirs:
        path = directory / group / f"{entry}.yaml"
        if path.is_file():
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            if not isinstance(loaded, dict):
                raise GroupLookupError(f"{path} must hold a mapping")
            config = {"name": entry, **{str(k): v for k, v in loaded.items()}}
            _anchor_template_file(config, path.parent)
            return config
    available = sorted({p.stem for d in search_dirs for p in (d / group).glob("*.yaml")})
    raise GroupLookupError(
        f"no {group} named '{entry}': add conf/{group}/{entry}.yaml "
        f"(available: {', '.join(available) or 'none'})"
    )


def _anchor_template_file(config: dict[str, Any], directory: Path) -> None:
    """A relative ``template_file`` next to the YAML that names it is made absolute."""
    template_file = config.get("template_file")
    if isinstance(template_file, str) and not Path(template_file).is_absolute():
        beside = directory / template_file
        if beside.is_file():
            config["template_file"] = str(beside.resolve())
