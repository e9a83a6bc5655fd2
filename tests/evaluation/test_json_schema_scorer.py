"""The json_schema scorer and response_schema's three forms (inline, file, pydantic model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from runner.prompts._conversation import PromptError
from runner.prompts._schemas import with_resolved_schema
from scorers import ScorerInputError, json_schema

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


class Answer(BaseModel):
    answer: int


def test_parsed_replies_are_validated_against_the_requests_schema() -> None:
    score = json_schema()
    params = {"response_schema": SCHEMA}
    assert score({"parameters": params, "parsed": {"answer": 4}, "response": '{"answer": 4}'}) is True
    assert score({"parameters": params, "parsed": {"answer": "four"}, "response": "x"}) is False
    assert score({"parameters": params, "parsed": None, "response": "not json"}) is False


def test_a_schema_of_the_scorers_own_reads_the_response() -> None:
    score = json_schema(schema=SCHEMA)
    assert score({"response": '{"answer": 1}'}) is True
    assert score({"response": "{}"}) is False
    assert score({"response": "no"}) is False


def test_no_schema_anywhere_is_a_scorer_input_error() -> None:
    with pytest.raises(ScorerInputError, match="no schema"):
        json_schema()({"response": "{}", "parameters": {}})


def test_response_schema_from_a_file_and_from_a_pydantic_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "answer.json").write_text(json.dumps(SCHEMA))
    assert with_resolved_schema({"response_schema": "answer.json"})["response_schema"] == SCHEMA
    from_model = with_resolved_schema({"response_schema": {"_target_": f"{__name__}.Answer"}})
    assert from_model["response_schema"] == Answer.model_json_schema()
    with pytest.raises(PromptError, match="was not found"):
        with_resolved_schema({"response_schema": "missing.json"})
    with pytest.raises(PromptError, match="not a pydantic model"):
        with_resolved_schema({"response_schema": {"_target_": "json.dumps"}})
