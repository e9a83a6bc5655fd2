"""Each built-in scorer on crafted records, and a user's own scorer named by ``_target_``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from runner.config._eval_config import ScorerSpec
from runner.evaluation._scoring import ScorerBuildError, build_scorers, score_record
from scorers import exact_label, includes, json_valid, match, numeric, regex


def record(response: Any, expected: Any = None, **extra: Any) -> dict[str, Any]:
    data = {"id": "r1", "response": response, "error": None, **extra}
    if expected is not None:
        data["expected_response"] = expected
    return data


@pytest.mark.parametrize(
    ("options", "response", "expected", "score"),
    [
        ({}, "Paris", "Paris", True),
        ({}, "  Paris\n", "Paris", True),  # ends stripped by default, as users expect
        ({}, "paris", "Paris", False),
        ({"ignore_case": True}, "PARIS", "paris", True),
        ({"whitespace": "keep"}, "Paris ", "Paris", False),
        ({"whitespace": "collapse"}, "New   York\tCity", "New York City", True),
        ({}, "Paris.", "Paris", False),
    ],
)
def test_match(options: dict[str, Any], response: str, expected: str, score: bool) -> None:
    assert match(**options)(record(response, expected)) is score


@pytest.mark.parametrize(
    ("options", "response", "expected", "score"),
    [
        ({}, "The capital is Paris.", "Paris", True),
        ({}, "The capital is paris.", "Paris", False),
        ({"ignore_case": True}, "THE CAPITAL IS PARIS", "paris", True),
        ({"whitespace": "collapse"}, "it is New\n  York", "New York", True),
        ({}, "Lyon", "Paris", False),
    ],
)
def test_includes(options: dict[str, Any], response: str, expected: str, score: bool) -> None:
    assert includes(**options)(record(response, expected)) is score


def test_text_scorers_read_the_last_reply_of_a_multi_turn_prompt() -> None:
    assert match()(record(["Hello!", "Paris"], "Paris")) is True


def test_regex() -> None:
    assert regex(pattern=r"\bParis\b")(record("It is Paris.")) is True
    assert regex(pattern=r"\bparis\b")(record("It is Paris.")) is False
    assert regex(pattern=r"\bparis\b", ignore_case=True)(record("It is Paris.")) is True
    assert regex(pattern=r"[A-Z][a-z]+", full=True)(record(" Paris \n")) is True
    assert regex(pattern=r"[A-Z][a-z]+", full=True)(record("It is Paris")) is False


@pytest.mark.parametrize(
    ("response", "options", "score"),
    [
        ('{"city": "Paris"}', {}, True),
        ('```json\n{"city": "Paris"}\n```', {}, True),
        ('```json\n{"city": "Paris"}\n```', {"allow_code_fence": False}, False),
        ("[1, 2]", {}, True),
        ("[1, 2]", {"require_object": True}, False),
        ("{city: Paris}", {}, False),
        ("", {}, False),
    ],
)
def test_json_valid(response: str, options: dict[str, Any], score: bool) -> None:
    assert json_valid(**options)(record(response)) is score


@pytest.mark.parametrize(
    ("response", "expected", "options", "score"),
    [
        ("The answer is 42.", "42", {}, True),
        ("I think 40, no wait: 42", "42", {}, True),
        ("I think 40, no wait: 42", "42", {"which": "first"}, False),
        ("Total: 1,234.5 units", "1234.5", {}, True),
        ("-3.0", -3, {}, True),
        ("about 101", "100", {"tolerance": 1}, True),
        ("about 102", "100", {"tolerance": 1}, False),
        ("about 104", "100", {"tolerance": 0.05, "relative": True}, True),
        ("1e3", "1000", {}, True),
        ("no idea", "42", {}, False),
    ],
)
def test_numeric(response: str, expected: Any, options: dict[str, Any], score: bool) -> None:
    assert numeric(**options)(record(response, expected)) is score


@pytest.mark.parametrize(
    ("response", "expected", "options", "score"),
    [
        ("Positive", "positive", {}, True),
        ("**positive.**", "positive", {}, True),
        ("negative", "positive", {}, False),
        ("Positive", "positive", {"ignore_case": False}, False),
        ("positive sentiment", "positive", {}, False),  # a classification answer is the label alone
        ("neutral", "neutral", {"labels": ["positive", "negative"]}, False),
    ],
)
def test_exact_label(response: str, expected: str, options: dict[str, Any], score: bool) -> None:
    if "labels" in options and expected not in options["labels"]:
        with pytest.raises(ValueError, match="is not one of"):
            exact_label(**options)(record(response, expected))
        return
    assert exact_label(**options)(record(response, expected)) is score


def test_bad_options_fail_when_the_scorer_is_built() -> None:
    with pytest.raises(ValueError, match="whitespace"):
        match(whitespace="squash")
    with pytest.raises(ValueError, match="which"):
        numeric(which="middle")


async def test_scores_land_in_the_record_and_missing_inputs_are_recorded_not_raised() -> None:
    scorers = build_scorers(
        [
            ScorerSpec.model_validate({"name": "match", "_target_": "scorers.match"}),
            ScorerSpec.model_validate({"name": "num", "_target_": "scorers.numeric", "tolerance": 0.5}),
        ]
    )
    answered = record("Paris", "Paris")
    await score_record(answered, scorers)
    assert answered["scores"] == {"match": True, "num": None}
    assert answered["score_errors"] == {"num": "'expected_response' is not one number"}

    no_expected = record("Paris")
    await score_record(no_expected, scorers)
    assert no_expected["scores"] == {"match": None, "num": None}
    assert no_expected["score_errors"]["match"] == "the record has no 'expected_response'"

    failed = {"id": "r2", "response": None, "error": {"type": "server_error"}}
    await score_record(failed, scorers)
    assert "scores" not in failed  # a failed request is not scored


# A user's own scorers, as the README shows them: a factory, a plain function, and an async one.
def starts_with(*, prefix: str) -> Any:
    def score(rec: dict[str, Any]) -> bool:
        return str(rec["response"]).startswith(prefix)

    return score


def word_count(rec: dict[str, Any], *, minimum: int = 0) -> int | None:
    words = len(str(rec["response"]).split())
    return words if words >= minimum else None


async def shouting(rec: dict[str, Any]) -> bool:
    return str(rec["response"]).isupper()


def broken(rec: dict[str, Any]) -> bool:
    raise RuntimeError("boom")


async def test_custom_scorers_by_target() -> None:
    specs = [
        {"name": "prefix", "_target_": "tests.evaluation.test_scorers.starts_with", "prefix": "The"},
        {
            "name": "words",
            "_target_": "tests.evaluation.test_scorers.word_count",
            "_partial_": True,
            "minimum": 2,
        },
        {"name": "loud", "_target_": "tests.evaluation.test_scorers:shouting", "_partial_": True},
        {"name": "broken", "_target_": "tests.evaluation.test_scorers.broken", "_partial_": True},
    ]
    scorers = build_scorers([ScorerSpec.model_validate(spec) for spec in specs])
    rec = record("The capital is Paris")
    await score_record(rec, scorers)
    assert rec["scores"] == {"prefix": True, "words": 4, "loud": False, "broken": None}
    assert rec["score_errors"] == {"broken": "RuntimeError: boom"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "_target_": "scorers.no_such_scorer"}, "scorer 'x': 'scorers.no_such_scorer': module"),
        ({"name": "x", "_target_": "no_such_module.scorer"}, "No module named 'no_such_module'"),
        ({"name": "x", "_target_": "scorers.match", "ignore_cases": True}, "unexpected keyword argument"),
        ({"name": "x", "_target_": "scorers.regex"}, "missing 1 required keyword-only argument: 'pattern'"),
    ],
)
def test_a_scorer_that_cannot_be_built_names_itself(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ScorerBuildError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_scorers([ScorerSpec.model_validate(spec)])


def test_a_scorer_module_in_the_project_folder_is_found_without_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "project_scorers_xyz.py").write_text(
        "def shout(record):\n    return record['response'].isupper()\n"
    )
    monkeypatch.chdir(tmp_path)
    # As under a console script: neither '' nor the project folder is on the import path.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "project_scorers_xyz", raising=False)
    spec = ScorerSpec.model_validate(
        {"name": "loud", "_target_": "project_scorers_xyz.shout", "_partial_": True}
    )
    (built,) = build_scorers([spec])
    assert built.scorer(record("HELLO")) is True
    with pytest.raises(ScorerBuildError, match="No module named 'not_in_project_xyz'"):
        build_scorers([ScorerSpec.model_validate({"name": "x", "_target_": "not_in_project_xyz.f"})])
