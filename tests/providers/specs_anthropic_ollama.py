"""The request schemas of Anthropic's Messages API and Ollama's ``/api/chat``, built once, as ``jsonschema``
validators.

* Anthropic publishes no machine-readable spec (``../shared/reference/specs/README.md``). The schema below
  is written from the official SDK's request types (``anthropic`` on PyPI: ``types/message_create_params.py``
  and the block params), version 0.125.0, the last that sends ``anthropic-version: 2023-06-01`` with the
  sampling parameters (``temperature``, ``top_p``, ``top_k``: SDK 2.x targets API version 2026-10-21,
  which removed them; 1.x already dropped them from its types); ``thinking`` and ``output_config`` as in
  2.15.0 (the same fields). Every object is closed, as the API's are (``additionalProperties: false``:
  a validating mock answered 422 "found 'detail'").
* Ollama: ``ChatRequest`` of ``ollama-openapi.yaml`` (``$ref``s resolved), closed with the field list of
  the Go type the server decodes (``api/types.go``: ``ChatRequest`` for the top level, ``Options`` and
  its embedded ``Runner`` for ``options``, ``Message`` for a message). The OpenAPI document leaves
  ``options`` open and lacks ``truncate`` and ``shift``; the Go types are what Ollama reads, and an
  unknown ``options`` name is dropped there with "invalid option provided".
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator

SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "specs"


def _closed(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def _const(value: str) -> dict[str, Any]:
    return {"const": value}


_CACHE = _closed(["type"], type=_const("ephemeral"), ttl={"enum": ["5m", "1h"]})
_OBJECT = {"type": "object"}
_STRING = {"type": "string"}
_URL_SOURCE = _closed(["type", "url"], type=_const("url"), url=_STRING)
_FILE_SOURCE = _closed(["type", "file_id"], type=_const("file"), file_id=_STRING)
_IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]
_TEXT = _closed(
    ["type", "text"],
    type=_const("text"),
    text=_STRING,
    cache_control=_CACHE,
    citations={"type": ["array", "null"]},
)
_IMAGE = _closed(
    ["type", "source"],
    type=_const("image"),
    source={
        "oneOf": [
            _closed(
                ["type", "media_type", "data"],
                type=_const("base64"),
                media_type={"enum": _IMAGE_TYPES},
                data=_STRING,
            ),
            _URL_SOURCE,
            _FILE_SOURCE,
        ]
    },
    cache_control=_CACHE,
    transformations=_closed([], oversized_image={"enum": ["downsize", "error"]}),
)
_DOCUMENT = _closed(
    ["type", "source"],
    type=_const("document"),
    source={
        "oneOf": [
            _closed(
                ["type", "media_type", "data"],
                type=_const("base64"),
                media_type=_const("application/pdf"),
                data=_STRING,
            ),
            _closed(
                ["type", "media_type", "data"],
                type=_const("text"),
                media_type=_const("text/plain"),
                data=_STRING,
            ),
            _closed(["type", "content"], type=_const("content"), content={"type": ["string", "array"]}),
            _URL_SOURCE,
            _FILE_SOURCE,
        ]
    },
    cache_control=_CACHE,
    citations=_closed([], enabled={"type": "boolean"}),
    context={"type": ["string", "null"]},
    title={"type": ["string", "null"]},
)
_TOOL = _closed(
    ["name", "input_schema"],
    name={"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,128}$"},
    description=_STRING,
    input_schema={"type": "object", "required": ["type"], "properties": {"type": _const("object")}},
    cache_control=_CACHE,
    strict={"type": "boolean"},
    type={"enum": ["custom", None]},
)
_PARALLEL = {"type": "boolean"}
MESSAGES_REQUEST = _closed(
    ["model", "max_tokens", "messages"],
    model=_STRING,
    max_tokens={"type": "integer", "minimum": 1},
    messages={
        "type": "array",
        "items": _closed(
            ["role", "content"],
            role={"enum": ["user", "assistant"]},
            content={"oneOf": [_STRING, {"type": "array", "items": {"oneOf": [_TEXT, _IMAGE, _DOCUMENT]}}]},
        ),
    },
    system={"oneOf": [_STRING, {"type": "array", "items": _TEXT}]},
    temperature={"type": "number", "minimum": 0, "maximum": 1},
    top_p={"type": "number", "minimum": 0, "maximum": 1},
    top_k={"type": "integer", "minimum": 0},
    stop_sequences={"type": "array", "items": _STRING},
    stream={"type": "boolean"},
    metadata=_closed([], user_id={"type": ["string", "null"]}),
    service_tier={"enum": ["auto", "standard_only"]},
    cache_control=_CACHE,
    container={"type": ["string", "object", "null"]},
    inference_geo={"type": ["string", "null"]},
    thinking={
        "oneOf": [
            _closed(
                ["type", "budget_tokens"],
                type=_const("enabled"),
                budget_tokens={"type": "integer", "minimum": 1024},
                display={"enum": ["summarized", "omitted", None]},
            ),
            _closed(["type"], type=_const("adaptive"), display={"enum": ["summarized", "omitted", None]}),
            _closed(["type"], type=_const("disabled")),
        ]
    },
    output_config=_closed(
        [],
        effort={"enum": ["low", "medium", "high", "xhigh", "max", None]},
        format={
            "oneOf": [
                {"type": "null"},
                _closed(["type", "schema"], type=_const("json_schema"), schema=_OBJECT),
            ]
        },
    ),
    tools={"type": "array", "items": _TOOL},
    tool_choice={
        "oneOf": [
            _closed(["type"], type=_const("auto"), disable_parallel_tool_use=_PARALLEL),
            _closed(["type"], type=_const("any"), disable_parallel_tool_use=_PARALLEL),
            _closed(["type"], type=_const("none")),
            _closed(["type", "name"], type=_const("tool"), name=_STRING, disable_parallel_tool_use=_PARALLEL),
        ]
    },
)


@functools.cache
def anthropic_request_validator() -> Draft202012Validator:
    """The Messages API's request body (``POST /v1/messages``), every object closed."""
    Draft202012Validator.check_schema(MESSAGES_REQUEST)
    return Draft202012Validator(MESSAGES_REQUEST)


def go_json_fields(struct: str) -> list[str]:
    """The JSON names of a Go struct's fields in ``ollama-types.go`` (embedded structs' included)."""
    source = (SPECS / "ollama-types.go").read_text()
    match = re.search(rf"^type {struct} struct {{\n(.*?)^}}", source, re.S | re.M)
    assert match is not None, f"no struct {struct} in ollama-types.go"
    names: list[str] = []
    for line in match[1].splitlines():
        code = line.split("//")[0].strip()
        if tag := re.search(r'json:"([^",]+)', code):
            names.append(tag[1])
        elif re.fullmatch(r"[A-Z]\w*", code):  # an embedded struct
            names += go_json_fields(code)
    return names


@functools.cache
def ollama_request_validator() -> Draft202012Validator:
    """``ChatRequest`` of Ollama's OpenAPI document, closed with the Go types' fields."""
    spec = yaml.safe_load((SPECS / "ollama-openapi.yaml").read_text())
    defs = spec["components"]["schemas"]
    request = defs["ChatRequest"]
    for name in go_json_fields("ChatRequest"):
        request["properties"].setdefault(name, {"type": "boolean"} if name in ("truncate", "shift") else {})
    request["additionalProperties"] = False
    options = defs["ModelOptions"]
    for name in go_json_fields("Options"):
        options["properties"].setdefault(name, {})
    options["additionalProperties"] = False
    message = defs["ChatMessage"]
    for name in go_json_fields("Message"):
        message["properties"].setdefault(name, {})
    message["additionalProperties"] = False
    schema = {"$defs": defs, "$ref": "#/$defs/ChatRequest"}
    text = yaml.safe_dump(schema).replace("#/components/schemas/", "#/$defs/")
    resolved = yaml.safe_load(text)
    Draft202012Validator.check_schema(resolved)
    return Draft202012Validator(resolved)


def problems(validator: Draft202012Validator, body: Any) -> list[str]:
    """Each way ``body`` breaks the schema, as ``path: message`` (empty when it conforms)."""
    return [
        f"{'/'.join(str(step) for step in error.absolute_path) or '(body)'}: {error.message}"
        for error in sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    ]
