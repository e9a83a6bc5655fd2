"""``response_schema`` as a prompt may give it, turned into the JSON Schema every provider renders.

Three forms, in a model config, an experiment's parameters or a prompt line:

* a JSON Schema, inline (a mapping);
* a file holding one (``response_schema: schemas/answer.json``, JSON or YAML), found from the working
  directory, then from its ``conf/`` (the file next to the config that names it);
* a pydantic model (``response_schema: {_target_: my_project.Answer}``), whose ``model_json_schema()``
  is the schema.

Each distinct file or model is read once per process: a million prompts naming one file read it once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no types; it comes with Hydra
from pydantic import BaseModel

from providers import TargetImportError, import_object
from runner.prompts._conversation import PromptError

SEARCHED = (Path("."), Path("conf"))


def with_resolved_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with its ``response_schema`` as a JSON Schema mapping (:class:`PromptError` if it
    names a file or model that cannot be read)."""
    schema = parameters.get("response_schema")
    if schema is None or (isinstance(schema, Mapping) and "_target_" not in schema):
        return parameters
    if isinstance(schema, str):
        resolved = _schema_file(schema)
    elif isinstance(schema, Mapping):
        resolved = _model_schema(str(schema["_target_"]))
    else:
        raise PromptError(
            f"response_schema must be a JSON Schema, a file or {{_target_: Model}}, not {schema!r}"
        )
    return {**parameters, "response_schema": resolved}


@functools.cache
def _schema_file(name: str) -> dict[str, Any]:
    for folder in SEARCHED:
        path = folder / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
                loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise PromptError(f"response_schema file {path} cannot be read: {exc}") from None
            if not isinstance(loaded, dict):
                raise PromptError(f"response_schema file {path} does not hold a JSON Schema object")
            return loaded
    raise PromptError(f"response_schema file {name!r} was not found (looked in ./ and ./conf/)")


@functools.cache
def _model_schema(target: str) -> dict[str, Any]:
    try:
        model = import_object(target)
    except TargetImportError as exc:
        raise PromptError(f"response_schema: {exc}") from None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PromptError(f"response_schema: {target} is not a pydantic model")
    return model.model_json_schema()
