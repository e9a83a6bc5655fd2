"""prompto's judge and rephrase folders, translated into prompto-run's stage configs.

A prompto judge folder holds ``settings.json`` (judge name → ``{api, model_name, parameters}``) and
template files whose placeholders are ``{INPUT_PROMPT}`` and ``{OUTPUT_RESPONSE}``; a rephrase folder
holds ``settings.json`` the same way and a template file with one template per line (placeholder
``{INPUT_PROMPT}``; prompto reads the two characters ``\\n`` in it as a newline). The templates keep
prompto's placeholders, which :mod:`runner.evaluation._templates` fills as prompto does. prompto keeps a
judge's reply as it is, so each translated judge reads its verdict as the reply's text (``parse:
{as_text: true}``); each template file becomes one judge, named after the file, whose models are the
judges chosen with ``--judge``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.config._compose import ConfigError


def judges_from_folder(folder: Path, template_names: str, judge_names: str) -> list[dict[str, Any]]:
    """``--judge-folder``, ``--judge-templates`` and ``--judge`` as inline ``judges`` entries."""
    models = _chosen_models(folder, judge_names, flag="--judge")
    judges = []
    for name in _names(template_names, flag="--judge-templates"):
        text = _read(folder / name, flag="--judge-templates")
        judges.append(
            {
                "name": Path(name).stem,
                "models": models,
                "template": text,
                "parse": {"as_text": True},
            }
        )
    return judges


def rephrase_from_folder(
    folder: Path, template_name: str, model_names: str, *, keep_original: bool
) -> dict[str, Any]:
    """``--rephrase-folder``, ``--rephrase-templates`` and ``--rephrase-model`` as an inline ``rephrase``."""
    models = _chosen_models(folder, model_names, flag="--rephrase-model")
    if len(models) != 1:
        raise ConfigError(
            "--rephrase-model: prompto-run rephrases with one model per run; name one of "
            + ", ".join(repr(model["model_name"]) for model in models)
        )
    lines = _read(folder / template_name, flag="--rephrase-templates").splitlines()
    templates = [line.replace("\\n", "\n").strip() for line in lines if line.strip()]  # as prompto reads them
    if not templates:
        raise ConfigError(f"--rephrase-templates: {folder / template_name} holds no template")
    return {
        "name": "rephrase",
        "model": models[0],
        "templates": templates,
        "n": 1,
        "parse": "single",
        "keep_original": keep_original,
    }


def _chosen_models(folder: Path, names: str, *, flag: str) -> list[dict[str, Any]]:
    settings_path = folder / "settings.json"
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{flag}: {settings_path} not found (prompto's folder holds settings.json)"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{flag}: {settings_path} is not valid JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{flag}: {settings_path} must hold an object of name → settings")
    models = []
    for name in _names(names, flag=flag):
        entry = settings.get(name)
        if not isinstance(entry, dict) or not {"api", "model_name"} <= entry.keys():
            known = ", ".join(sorted(settings)) or "none"
            raise ConfigError(
                f"{flag}: '{name}' is not in {settings_path} with an api and a model_name (known: {known})"
            )
        models.append({key: entry[key] for key in ("api", "model_name", "parameters") if key in entry})
    return models


def _names(text: str, *, flag: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{flag}: no name given")
    return names


def _read(path: Path, *, flag: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
