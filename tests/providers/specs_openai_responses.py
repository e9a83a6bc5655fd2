"""OpenAI's ``CreateResponse`` (``POST /v1/responses``) from ``openai.yaml``, loaded once, as a
``jsonschema`` validator that rejects what the API does not define.

The spec's objects are open (no ``additionalProperties``), so as written any extra key would pass. The
validator closes them: a plain object gets ``additionalProperties: false``; an ``allOf`` of several
(``CreateResponse`` itself) gets ``unevaluatedProperties: false`` over the union, its members left open.
``oneOf`` unions are OpenAPI's discriminated unions (``InputItem``: an ``EasyInputMessage`` is also a
valid ``InputMessage``), read as ``anyOf``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "specs"
PREFIX = "#/components/schemas/"


@functools.cache
def openai_schemas() -> dict[str, Any]:
    """``components.schemas`` of ``openai.yaml`` (a few seconds to parse: read once per test run)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SPECS / "openai.yaml").open() as file:
        spec = yaml.load(file, Loader=loader)
    return dict(spec["components"]["schemas"])


@functools.cache
def create_response_validator() -> Draft202012Validator:
    """``CreateResponse``, closed."""
    schemas = _reachable(openai_schemas(), "CreateResponse")
    members = {
        part["$ref"].removeprefix(PREFIX)
        for schema in _walk(schemas)
        for part in schema.get("allOf", [])
        if isinstance(part, dict) and "$ref" in part
    }
    defs = {name: _closed(schema, top=name not in members) for name, schema in schemas.items()}
    schema = {"$defs": defs, "$ref": "#/$defs/CreateResponse"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def create_response_properties() -> set[str]:
    """Every top-level field ``CreateResponse`` defines."""
    schemas = openai_schemas()

    def fields(schema: dict[str, Any]) -> set[str]:
        if "$ref" in schema:
            return fields(schemas[schema["$ref"].removeprefix(PREFIX)])
        found = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            found |= fields(part)
        return found

    return fields(schemas["CreateResponse"])


def _reachable(schemas: dict[str, Any], root: str) -> dict[str, Any]:
    """The schemas ``root`` refers to, directly or not (and itself)."""
    found: dict[str, Any] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = schemas[name]
            pending += [
                ref.removeprefix(PREFIX)
                for item in _walk(schemas[name])
                if isinstance(ref := item.get("$ref"), str)
            ]
    return found


def _walk(value: Any) -> Any:
    """Every dict inside ``value``."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _closed(value: Any, *, top: bool = True) -> Any:
    """``value`` with refs into ``$defs``, ``oneOf`` as ``anyOf``, and its objects closed (``top``: the
    schema is not itself a member of an ``allOf``, whose siblings' fields it must let through)."""
    if isinstance(value, list):
        return [_closed(item) for item in value]
    if not isinstance(value, dict):
        return value
    schema: dict[str, Any] = {}
    for key, item in value.items():
        if key == "$ref" and isinstance(item, str):
            schema[key] = "#/$defs/" + item.removeprefix(PREFIX)
        elif key == "allOf":
            schema[key] = [_closed(part, top=False) for part in item]
        elif key == "oneOf":
            schema["anyOf"] = _closed(item)
        elif key in ("properties", "$defs", "patternProperties"):
            schema[key] = {name: _closed(sub) for name, sub in item.items()}
        elif key in ("discriminator", "example", "examples", "x-oaiMeta", "$recursiveAnchor"):
            continue
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(item, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if item and bound in value:  # OpenAPI 3.0's boolean form, in a few old schemas
                schema[key] = value[bound]
        else:
            schema[key] = _closed(item)
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in schema:
            schema.pop("minimum" if key == "exclusiveMinimum" else "maximum", None)
    if top and "allOf" in schema:
        schema.setdefault("unevaluatedProperties", False)
    elif top and "properties" in schema and "additionalProperties" not in schema and "$ref" not in schema:
        schema["additionalProperties"] = False
    return schema


def problems(validator: Draft202012Validator, body: Any) -> list[str]:
    """Each way ``body`` breaks the schema, as ``path: message`` (empty when it conforms)."""
    return sorted(
        f"{'/'.join(str(step) for step in error.absolute_path) or '(body)'}: {error.message}"
        for error in validator.iter_errors(body)
    )
