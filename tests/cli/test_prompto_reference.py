"""prompto's commands leave the files prompto 0.2.1 leaves: both programs run on the same files against
the same fake OpenAI server, and their outputs are compared field by field (send times aside)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli.prompto_reference import (
    PROMPTO_TIMESTAMP,
    comparable,
    environment,
    needs_prompto,
    openai_responder,
    run_ours,
    run_reference,
)
from tests.conftest import read_jsonl, write_jsonl
from tests.fakes.server import FakeServer

pytestmark = needs_prompto

MODEL = "gpt-4o-mini"
ROWS: list[dict[str, Any]] = [
    {"id": 1, "api": "openai", "model_name": MODEL, "prompt": "hi", "expected_response": "HI"},
    {
        "id": 2,
        "api": "openai",
        "model_name": MODEL,
        "prompt": "hello there",
        "parameters": {"temperature": 0},
        "expected_response": "HELLO",
    },
    {
        "id": "three",
        "api": "openai",
        "model_name": MODEL,
        "prompt": ["one", "two"],
        "expected_response": "TWO",
    },
    {"id": 4, "api": "openai", "model_name": MODEL, "prompt": "please fail", "expected_response": "x"},
]
JUDGE_SETTINGS = {"gpt-judge": {"api": "openai", "model_name": MODEL, "parameters": {"temperature": 0}}}
JUDGE_TEMPLATE = "Judge: was {OUTPUT_RESPONSE} a good answer to {INPUT_PROMPT}?"
ERROR_TEXT = (
    r"An unexpected error occurred when querying the API: \(BadRequestError - Error code: 400 - .*"
    r"this prompt is refused.*\) after maximum 2 attempts"
)
FLAGS = ["-mq", "60000", "-ma", "2", "--scorer", "match,includes", "--output-as-csv"]


def project(root: Path) -> Path:
    (root / "data" / "input").mkdir(parents=True)
    write_jsonl(root / "data" / "input" / "exp.jsonl", ROWS)
    (root / "data" / "output").mkdir(parents=True)
    (root / "data" / "media").mkdir(parents=True)
    judge = root / "judge"
    judge.mkdir()
    (judge / "settings.json").write_text(json.dumps(JUDGE_SETTINGS))
    (judge / "template.txt").write_text(JUDGE_TEMPLATE)
    return root


def prompto_files(root: Path, name: str) -> dict[str, Path]:
    """``{kind: path}`` of the files of ``data/output/<name>/`` (``completed``, ``input``, ``log``...)."""
    found = {}
    for path in (root / "data" / "output" / name).iterdir():
        match = re.fullmatch(rf"{PROMPTO_TIMESTAMP}-(\w+)-{re.escape(name)}(\.\w+)", path.name)
        if match:
            found[match.group(1) + match.group(2)] = path
    return found


def by_id(path: Path) -> dict[str, dict[str, Any]]:
    return {str(record.get("id")): record for record in read_jsonl(path)}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """prompto's and prompto-run's project folders after the same ``prompto_run_experiment``."""
    roots = []
    with FakeServer() as server:
        server.responder = openai_responder
        for label, run in (("prompto", run_reference), ("prompto-run", run_ours)):
            root = project(tmp_path_factory.mktemp(label))
            command = "prompto_run_experiment" if run is run_reference else "run_experiment"
            result = run(
                command,
                *("-f", "data/input/exp.jsonl", "-d", "data", *FLAGS, "-l", "judge", "-j", "gpt-judge"),
                cwd=root,
                env=environment(server.base_url, root),
            )
            assert result.returncode == 0, f"{label}: {result.stderr[-3000:]}"
            roots.append(root)
    return roots[0], roots[1]


def test_the_files_have_prompto_names_and_the_input_moves(both: tuple[Path, Path]) -> None:
    reference, ours = both
    assert set(prompto_files(ours, "exp")) == set(prompto_files(reference, "exp"))
    assert set(prompto_files(ours, "exp")) >= {"completed.jsonl", "input.jsonl", "log.txt", "completed.csv"}
    assert set(prompto_files(ours, "judge-exp")) == set(prompto_files(reference, "judge-exp"))
    for root in both:
        assert not (root / "data" / "input" / "exp.jsonl").exists()
    assert read_jsonl(prompto_files(ours, "exp")["input.jsonl"]) == ROWS

    def completed_files(root: Path) -> list[str]:  # prompto's glob meets the same files, and only them
        found = (root / "data" / "output").glob("*/*-completed-*.jsonl")
        return sorted(re.sub(PROMPTO_TIMESTAMP, "T", path.name) for path in found)

    assert (
        completed_files(ours)
        == completed_files(reference)
        == ["T-completed-exp.jsonl", "T-completed-judge-exp.jsonl"]
    )


def test_each_record_has_prompto_fields_values_and_key_order(both: tuple[Path, Path]) -> None:
    reference, ours = both
    theirs = by_id(prompto_files(reference, "exp")["completed.jsonl"])
    mine = by_id(prompto_files(ours, "exp")["completed.jsonl"])
    assert set(mine) == set(theirs)
    for key, record in theirs.items():
        expected = comparable(record)
        got = comparable(mine[key])
        got.pop("error", None)  # the structured error, kept beside prompto's text
        if key == "4":  # prompto's words for an error around the message prompto-run recorded
            assert re.fullmatch(ERROR_TEXT, got.pop("response")), got
            expected.pop("response")
        assert got == expected, key
        assert list(got) == list(expected), key
        assert re.fullmatch(PROMPTO_TIMESTAMP, mine[key]["timestamp_sent"])
    assert mine["4"]["error"]["status"] == 400


def test_the_csv_is_prompto_s_cell_for_cell(both: tuple[Path, Path]) -> None:
    reference, ours = both

    def rows(root: Path) -> dict[str, dict[str, str]]:
        """By id; the column order follows the order records finished in, as in prompto."""
        with prompto_files(root, "exp")["completed.csv"].open(newline="") as file:
            return {row["id"]: {**row, "timestamp_sent": "T"} for row in csv.DictReader(file)}

    theirs, mine = rows(reference), rows(ours)
    mine["4"]["response"] = theirs["4"]["response"]  # the error's own words differ (see the test above)
    assert mine == theirs


def test_the_judge_files_are_prompto_s(both: tuple[Path, Path]) -> None:
    reference, ours = both
    for kind in ("input.jsonl", "completed.jsonl"):
        theirs = by_id(prompto_files(reference, "judge-exp")[kind])
        mine = by_id(prompto_files(ours, "judge-exp")[kind])
        answered = {
            key for key in theirs if theirs[key].get("input-id") != 4
        }  # prompto-run judges answers only
        assert set(mine) == answered, kind
        for key in answered:
            expected, got = _without_send_times(theirs[key]), _without_send_times(mine[key])
            assert got == expected, (kind, key)
            assert list(got) == list(expected), (kind, key)


def _without_send_times(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value for key, value in record.items() if key not in ("timestamp_sent", "input-timestamp_sent")
    }
