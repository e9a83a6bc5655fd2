"""The reply follows a JSON Schema: the request's own ``response_schema``, or one the scorer names.

With ``response_schema`` set, a record has ``parsed`` (the reply decoded as JSON, ``null`` when it was
not JSON); the scorer validates that against the schema with the ``jsonschema`` package. A record
without ``parsed`` (a run without ``response_schema``, scored against a schema of the scorer's own) is
decoded from its ``response``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorers._types import Scorer, ScorerInputError, response_text

if TYPE_CHECKING:  # imported where a schema is checked: every run imports the scorers, few use this one
    import jsonschema


def json_schema(*, schema: Mapping[str, Any] | None = None, schema_file: str | None = None) -> Scorer:
    """True when the reply is JSON that validates against ``schema`` (or the file ``schema_file``), else
    against the schema its request asked for (``parameters.response_schema``)."""
    import jsonschema

    fixed = _load(schema, schema_file)
    checkers: dict[str, jsonschema.protocols.Validator] = {}

    def score(record: Mapping[str, Any]) -> bool:
        wanted = fixed if fixed is not None else (record.get("parameters") or {}).get("response_schema")
        if not isinstance(wanted, Mapping):
            raise ScorerInputError("no schema: the request had no response_schema and the scorer names none")
        if "parsed" in record:
            value = record["parsed"]
            if value is None:
                return False
        else:
            try:
                value = json.loads(response_text(record))
            except ValueError:
                return False
        key = json.dumps(wanted, sort_keys=True)
        if key not in checkers:
            validator = jsonschema.validators.validator_for(wanted)
            checkers[key] = validator(wanted)
        return bool(checkers[key].is_valid(value))

    return score


def _load(schema: Mapping[str, Any] | None, schema_file: str | None) -> Mapping[str, Any] | None:
    if schema is not None and schema_file is not None:
        raise ValueError("json_schema takes schema or schema_file, not both")
    if schema_file is not None:
        loaded = json.loads(Path(schema_file).read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError(f"{schema_file} does not hold a JSON Schema object")
        return loaded
    if schema is not None:
        import jsonschema

        jsonschema.validators.validator_for(schema).check_schema(dict(schema))
    return schema
