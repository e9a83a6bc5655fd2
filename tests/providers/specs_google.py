"""The vendors' request schemas for ``generateContent``, loaded once, as ``jsonschema`` validators.

* Gemini API: ``GenerateContentRequest`` of ``gemini-v1beta.schema.json`` (generated from Google's
  protos: every message a closed object, as proto3 JSON parsing rejects unknown fields). The protos
  (as of 2026-08-22) predate one field the live API takes: ``ThinkingConfig.thinkingLevel``, which
  Gemini 3 models use (python-genai's ``ThinkingConfig.thinking_level``, an enum of ``MINIMAL``,
  ``LOW``, ``MEDIUM``, ``HIGH``; Vertex's discovery document has it). The validator adds that one
  field, and only that one: where the spec is older than the API, the vendor's current reference wins.
* Vertex AI: ``GoogleCloudAiplatformV1GenerateContentRequest`` of the discovery document
  ``aiplatform.v1.json``, each schema translated to JSON Schema: ``$ref`` to ``#/$defs/...``, objects
  with ``properties`` closed (proto messages), ``any`` open, 64-bit integers as numbers or strings.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "specs"
THINKING_LEVELS = ["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"]


@functools.cache
def gemini_request_validator() -> Draft202012Validator:
    """``GenerateContentRequest`` of the Gemini API (v1beta)."""
    spec = json.loads((SPECS / "gemini-v1beta.schema.json").read_text())
    thinking = spec["$defs"]["ThinkingConfig"]["properties"]
    thinking.setdefault("thinkingLevel", {"enum": THINKING_LEVELS})
    schema = {"$defs": spec["$defs"], "$ref": "#/$defs/GenerateContentRequest"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@functools.cache
def vertex_request_validator() -> Draft202012Validator:
    """``GoogleCloudAiplatformV1GenerateContentRequest`` of Vertex AI (v1)."""
    spec = json.loads((SPECS / "aiplatform.v1.json").read_text())
    defs = {name: _json_schema(schema) for name, schema in spec["schemas"].items()}
    schema = {"$defs": defs, "$ref": "#/$defs/GoogleCloudAiplatformV1GenerateContentRequest"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _json_schema(discovery: dict[str, Any]) -> dict[str, Any]:
    """One discovery-document schema as JSON Schema."""
    if "$ref" in discovery:
        return {"$ref": f"#/$defs/{discovery['$ref']}"}
    kind, schema = discovery.get("type"), {}
    if kind == "any" or kind is None:
        return {}
    if kind == "object":
        schema["type"] = "object"
        if "properties" in discovery:
            schema["properties"] = {
                name: _json_schema(value) for name, value in discovery["properties"].items()
            }
            schema["additionalProperties"] = False
        if "additionalProperties" in discovery:
            schema["additionalProperties"] = _json_schema(discovery["additionalProperties"])
    elif kind == "array":
        schema = {"type": "array", "items": _json_schema(discovery.get("items", {}))}
    elif kind == "integer" or discovery.get("format") in ("int64", "uint64"):
        schema = (
            {"type": ["integer", "string"]} if "64" in discovery.get("format", "") else {"type": "integer"}
        )
    elif kind == "string" and discovery.get("format") == "google-duration":
        schema = {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"}
    else:
        schema = {"type": kind}
    if "enum" in discovery:
        schema["enum"] = discovery["enum"]
    return schema


def problems(validator: Draft202012Validator, body: Any) -> list[str]:
    """Each way ``body`` breaks the schema, as ``path: message`` (empty when it conforms)."""
    return [
        f"{'/'.join(str(step) for step in error.absolute_path) or '(body)'}: {error.message}"
        for error in sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    ]
