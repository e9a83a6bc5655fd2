"""The request schemas of the routes a plain-string prompt takes (issue 19): Ollama's ``/api/generate``
(``GenerateRequest``) and TGI's ``/v1/completions`` (``CompletionRequest``), as ``jsonschema`` validators
built as :mod:`tests.providers.specs_anthropic_ollama` builds chat's."""

from __future__ import annotations

import functools
import json

import yaml  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator

from tests.providers.specs_anthropic_ollama import SPECS, go_json_fields


@functools.cache
def generate_validator() -> Draft202012Validator:
    """``GenerateRequest`` of Ollama's OpenAPI document, closed with the Go type's fields."""
    spec = yaml.safe_load((SPECS / "ollama-openapi.yaml").read_text())
    defs = spec["components"]["schemas"]
    request = defs["GenerateRequest"]
    for name in go_json_fields("GenerateRequest"):
        request["properties"].setdefault(name, {"type": "boolean"} if name in ("truncate", "shift") else {})
    request["additionalProperties"] = False
    options = defs["ModelOptions"]
    for name in go_json_fields("Options"):
        options["properties"].setdefault(name, {})
    options["additionalProperties"] = False
    text = yaml.safe_dump({"$defs": defs, "$ref": "#/$defs/GenerateRequest"})
    return Draft202012Validator(yaml.safe_load(text.replace("#/components/schemas/", "#/$defs/")))


@functools.cache
def completion_validator() -> Draft202012Validator:
    """``CompletionRequest`` of TGI's OpenAPI document, closed (so that a field it lacks shows).

    The document gives ``Prompt`` as an array of strings only; TGI's deserializer for it takes a string
    too, as one prompt (what prompto's OpenAI client sends), so the string form is allowed here."""
    spec = json.loads((SPECS / "tgi-openapi.json").read_text())
    defs = spec["components"]["schemas"]
    defs["CompletionRequest"]["additionalProperties"] = False
    defs["Prompt"] = {"oneOf": [{"type": "string"}, defs["Prompt"]]}
    text = json.dumps({"$defs": defs, "$ref": "#/$defs/CompletionRequest"})
    return Draft202012Validator(json.loads(text.replace("#/components/schemas/", "#/$defs/")))
