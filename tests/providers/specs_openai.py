"""The Chat Completions request schemas of the dialect's vendors, loaded once, as ``jsonschema`` validators.

* OpenAI: ``CreateChatCompletionRequest`` of ``openai.yaml`` (OpenAPI 3.1, as of 2026-08-21);
* Azure OpenAI: ``createChatCompletionRequest`` of ``azure-inference-2024-10-21.yaml`` (the provider's
  default API version). Two corrections, and nothing else: that document requires ``json_schema.type``
  inside ``response_format``'s ``json_schema`` object, a property it does not define (OpenAI's spec and
  the service require only ``name``), so that requirement is dropped; and it does not define ``model``,
  which the service ignores on a deployment URL and Azure's batch lines require (the deployment name),
  so ``model`` is added as a string;
* TGI: ``ChatRequest`` of ``tgi-openapi.json`` (OpenAPI 3.0).

The documents leave their objects open (no ``additionalProperties: false``), so an unknown field would
pass; the real servers ignore or reject one. Here every object that declares ``properties`` is closed
where it is used (a property's value, an array's items, the request itself) with
``unevaluatedProperties: false``, which sees through ``allOf`` / ``oneOf`` / ``$ref``: a field none of
the schema's branches defines fails, as a misspelt or foreign field should. Free-form objects (a JSON
Schema, a tool's parameters) stay open. OpenAPI 3.0's ``nullable`` becomes a ``null`` type.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator

SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "specs"
_IN_PLACE = ("allOf", "oneOf", "anyOf")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_SUBSCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


@functools.cache
def openai_request_validator() -> Draft202012Validator:
    """OpenAI's ``CreateChatCompletionRequest``."""
    spec = _yaml(SPECS / "openai.yaml")
    return _validator(spec["components"]["schemas"], "CreateChatCompletionRequest")


@functools.cache
def azure_request_validator() -> Draft202012Validator:
    """Azure OpenAI's ``createChatCompletionRequest`` (API version 2024-10-21)."""
    spec = _yaml(SPECS / "azure-inference-2024-10-21.yaml")
    schemas = spec["components"]["schemas"]
    json_schema = schemas["ResponseFormatJsonSchema"]["properties"]["json_schema"]
    json_schema["required"] = [name for name in json_schema["required"] if name != "type"]
    schemas["chatCompletionsRequestCommon"]["properties"]["model"] = {"type": "string"}
    return _validator(schemas, "createChatCompletionRequest")


@functools.cache
def tgi_request_validator() -> Draft202012Validator:
    """TGI's ``ChatRequest`` (``/v1/chat/completions``)."""
    spec = json.loads((SPECS / "tgi-openapi.json").read_text())
    return _validator(spec["components"]["schemas"], "ChatRequest")


def _yaml(path: Path) -> Any:
    """A YAML document, parsed with libyaml where it is installed (OpenAI's takes seconds otherwise)."""
    with path.open() as file:
        return yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def problems(validator: Draft202012Validator, body: Any) -> list[str]:
    """Each way ``body`` breaks the schema, as ``path: message`` (empty when it conforms)."""
    return sorted(
        f"{'/'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
        for error in validator.iter_errors(body)
    )


def _validator(schemas: dict[str, Any], root: str) -> Draft202012Validator:
    defs = {name: _converted(schemas[name]) for name in _reachable(schemas, root)}
    for name, schema in defs.items():
        defs[name] = _closed_uses(schema, defs)
    schema = _closed({"$ref": f"#/$defs/{root}"}, defs)
    schema["$defs"] = defs
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _reachable(schemas: dict[str, Any], root: str) -> set[str]:
    """The schemas ``root`` uses, itself included (the rest of the document is not checked here)."""
    found, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(_refs(schemas[name]))
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    if not isinstance(node, dict):
        return []
    own = [node["$ref"].rpartition("/")[2]] if isinstance(node.get("$ref"), str) else []
    return own + [ref for value in node.values() for ref in _refs(value)]


def _converted(node: Any) -> Any:
    """OpenAPI's dialect as JSON Schema 2020-12: ``#/components/schemas/X`` refs to ``#/$defs/X``,
    ``nullable: true`` as a ``null`` type, boolean ``exclusiveMinimum`` as a number, 2019-09's
    ``$recursiveRef`` left open."""
    if isinstance(node, list):
        return [_converted(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$recursiveRef" in node:  # 2019-09's recursion (filters of file search, unused here): open
        return {}
    converted = {
        key: _converted(value) for key, value in node.items() if key not in ("nullable", "$recursiveAnchor")
    }
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(converted.get(bound), bool):  # OpenAPI 3.0's boolean form
            exclusive = converted.pop(bound)
            if exclusive and limit in converted:
                converted[bound] = converted.pop(limit)
    if isinstance(ref := converted.get("$ref"), str):
        converted["$ref"] = ref.replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable") is True and isinstance(kind := converted.get("type"), str):
        converted["type"] = [kind, "null"]
    return converted


def _closed_uses(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every schema it uses as a value (a property, the items...) closed."""
    if not isinstance(node, dict):
        return node
    result = dict(node)
    for key in _SUBSCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            result[key] = {name: _closed(_closed_uses(sub, defs), defs) for name, sub in node[key].items()}
    for key in _SUBSCHEMA:
        if isinstance(node.get(key), dict):
            result[key] = _closed(_closed_uses(node[key], defs), defs)
    for key in _IN_PLACE:
        if isinstance(node.get(key), list):
            result[key] = [_closed_uses(sub, defs) for sub in node[key]]
    return result


def _closed(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` refusing fields none of its branches define, when it declares any (free-form stays open)."""
    if not isinstance(node, dict) or not _declares_properties(node, defs, set()):
        return node
    return {**node, "unevaluatedProperties": False}


def _declares_properties(node: Any, defs: dict[str, Any], seen: set[str]) -> bool:
    """Whether ``node`` (through its refs and in-place branches) names properties and allows no others."""
    if not isinstance(node, dict) or "additionalProperties" in node or "unevaluatedProperties" in node:
        return False
    if "properties" in node:
        return True
    if isinstance(ref := node.get("$ref"), str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name not in seen and _declares_properties(defs.get(name), defs, seen | {name}):
            return True
    return any(_declares_properties(sub, defs, seen) for key in _IN_PLACE for sub in node.get(key, []) or [])
