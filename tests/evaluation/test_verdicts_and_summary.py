"""Reading judge verdicts, and the statistics the summary reports."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runner.config._eval_config import VerdictSpec
from runner.evaluation._verdict import VerdictError, VerdictParser
from runner.results._score_summary import ScoreSummary, cohen_kappa, wilson_interval


@pytest.mark.parametrize(
    ("spec", "reply", "score"),
    [
        ({"regex": r"VERDICT:\s*(\w+)", "labels": {"yes": True, "no": False}}, "... VERDICT: No.", False),
        ({"regex": r"VERDICT:\s*(\w+)", "labels": {"yes": True, "no": False}}, "VERDICT: YES", True),
        ({"labels": ["A", "B", "C"]}, "b", "B"),
        ({"labels": ["A", "B", "C"]}, "The answer is (C).", "C"),
        ({"labels": {"correct": 1, "incorrect": 0}}, "This is incorrect.", 0),
        ({"labels": ["Yes", "No"], "ignore_case": False}, "Yes", "Yes"),
        ({"regex": r"Score: (\d+)/10"}, "Reasoning...\nScore: 7/10", 7),
        ({}, "  4.5 ", 4.5),
        ({"regex": r"rating=\d"}, "rating=3", 3),  # no group: the whole match, read as a number
        ({"as_text": True}, "  Mostly right.\n", "Mostly right."),  # prompto's judges: the reply itself
        ({"as_text": True, "regex": r"Answer: (.*)"}, "Answer: B, surely", "B, surely"),
    ],
)
def test_verdicts(spec: dict[str, Any], reply: str, score: Any) -> None:
    assert VerdictParser(VerdictSpec.model_validate(spec)).parse(reply) == score


@pytest.mark.parametrize(
    ("spec", "reply", "message"),
    [
        ({"regex": r"VERDICT:\s*(\w+)"}, "I cannot say", "does not match"),
        ({"labels": ["A", "B"]}, "Either A or B", "names several labels"),
        ({"labels": ["A", "B"]}, "Neither", "names none of the labels"),
        ({"labels": ["Yes", "No"], "ignore_case": False}, "yes", "names none of the labels"),
        ({}, "between 3 and 4", "expected one number"),
        ({"regex": r"VERDICT: (\w+)", "labels": {"yes": 1, "no": 0}}, "VERDICT: maybe", "none of the labels"),
        ({"as_text": True}, " \n", "the reply is empty"),
    ],
)
def test_unreadable_verdicts(spec: dict[str, Any], reply: str, message: str) -> None:
    with pytest.raises(VerdictError, match=message):
        VerdictParser(VerdictSpec.model_validate(spec)).parse(reply)


def test_a_text_verdict_takes_no_labels() -> None:
    with pytest.raises(ValueError, match="as_text keeps the reply's text; it takes no labels"):
        VerdictSpec.model_validate({"as_text": True, "labels": ["yes", "no"]})


def test_wilson_interval_matches_published_values() -> None:
    # statsmodels: proportion_confint(8, 10, method="wilson") == (0.4902, 0.9433)
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(20, 20)[1] == 1.0


def test_cohen_kappa() -> None:
    # Two raters, 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa 0.4 (Wikipedia's example)
    pairs = Counter({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15})
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa(Counter({("a", "a"): 3})) is None  # one category only: undefined
    assert cohen_kappa(Counter()) is None


def test_score_summary_per_model_and_group() -> None:
    summary = ScoreSummary()
    rows: list[tuple[str, Any, Any, Any]] = [
        ("m1", "g1", True, "positive"),
        ("m1", "g1", False, "negative"),
        ("m1", "g2", True, "positive"),
        ("m2", "g1", None, 3),
    ]
    for model, group, ok, label in rows:
        summary.add_record(
            {"api": "x", "model_name": model, "group": group, "scores": {"ok": ok, "label": label}}
        )
    summary.add_record({"api": "x", "model_name": "m1", "error": {"type": "server_error"}})
    result = summary.as_dict()
    ok = result["models"]["x/m1"]["ok"]
    assert ok["count"] == 3
    assert ok["errors"] == 0
    assert ok["rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert ok["ci95"] == [round(v, 6) for v in wilson_interval(2, 3)]
    assert result["models"]["x/m1"]["label"] == {
        "count": 3,
        "errors": 0,
        "labels": {"positive": 2, "negative": 1},
    }
    assert result["models"]["x/m2"]["ok"] == {"count": 0, "errors": 1}
    assert result["models"]["x/m2"]["label"] == {"count": 1, "errors": 0, "mean": 3.0}
    assert result["groups"]["g1"]["ok"]["count"] == 2
    assert "judges" not in result
    assert "agreement" not in result
