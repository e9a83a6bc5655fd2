"""Hostile lines: each a problem named with its line, exit 2, nothing sent; never a traceback, and
the other lines still checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.prompts._prompt_file import UnsendableJson, load_json
from tests.fakes import FakeServer
from tests.inputs.installed import (
    SIZE,
    assert_refused,
    command,
    completed_records,
    many,
    vision_model,
    write_lines,
)

HOSTILE = {
    "nested": ('{"id": "n", "prompt": ' + "[" * 10_000 + "]" * 10_000 + "}", "JSON nested more than 100"),
    "digits": (
        '{"id": "d", "prompt": "x", "parameters": {"seed": ' + "7" * 5_000 + "}}",
        "a number has more than 4,300 digits, more than Python reads",
    ),
    "surrogate": (
        '{"id": "s", "prompt": "caf\\u00e9 \\ud800 scraped"}',
        "a lone surrogate escape '\\ud800' in prompt at character 6",
    ),
    "key_surrogate": (
        '{"id": "k", "prompt": "x", "\\udc00": 1}',
        "a lone surrogate escape '\\udc00' in a key of the line at character 1",
    ),
    "nan": ('{"id": "nan", "prompt": "x", "parameters": {"temperature": NaN}}', "NaN is not a number JSON"),
    "overflow": (
        '{"id": "o", "prompt": "x", "parameters": {"temperature": 1e400}}',
        "the number 1e400 is too large to be a float",
    ),
}


@pytest.mark.slow
def test_hostile_lines_are_each_named_and_the_rest_still_checked(
    project: Path, vision_server: FakeServer
) -> None:
    lines = many(target={})  # to the server: so that "nothing sent" means something
    positions = {name: 100 + 400 * i for i, name in enumerate(HOSTILE)}  # 0-based line indexes
    for name, (line, _) in HOSTILE.items():
        lines[positions[name]] = line
    lines.append(lines[0])  # a duplicate id after them all: found, so checking went on
    write_lines(project, "hostile.jsonl", lines)
    args = ["experiment.file=hostile.jsonl", *vision_model(vision_server)]

    run = command("prompto-run", *args, cwd=project)
    check = command("prompto-check", *args, cwd=project)

    problems = [f"line {positions[name] + 1}: {message}" for name, (_, message) in HOSTILE.items()]
    for result in (run, check):
        assert_refused(
            result, f"{len(HOSTILE) + 1} problem(s)", *problems, f"line {SIZE + 1}: duplicate id '0'"
        )
    assert "Nothing was sent." in run.stderr
    assert vision_server.requests == []
    assert completed_records(project) == []


def test_a_value_an_apis_own_check_cannot_take_is_a_problem_of_its_line(project: Path) -> None:
    gemini = {"api": "gemini", "model_name": "gemini-2.0-flash"}
    lines = many(5, target=gemini)
    lines[1] = json.dumps({"id": 1, "prompt": "x", "safety_filter": ["none"], **gemini})
    lines[3] = json.dumps({"id": 3, "prompt": "x", "safety_filter": "sometimes", **gemini})
    write_lines(project, "p.jsonl", lines)

    check = command("prompto-check", "experiment.file=p.jsonl", "env_file=null", cwd=project)

    assert_refused(
        check,
        "line 2: api 'gemini' could not check this prompt's values (TypeError: unhashable type: 'list')",
        "line 4: safety_filter 'sometimes' is not one of",  # the check went on
    )


@pytest.mark.parametrize(
    ("text", "lone"),
    [
        ('"\\ud800"', True),
        ('"\\udc00 at the start"', True),
        ('"\\ude00\\ud83d"', True),  # a pair the wrong way round
        ('"\\ud83d\\ud83d\\ude00"', True),  # a high one, then a pair
        ('"\\ud83d\\ude00"', False),  # an emoji as json.dumps writes it
        ('"\\uD83D\\uDE00"', False),
        ('"\\\\ud800"', False),  # an escaped backslash, then the letters ud800
        ('"caf\\u00e9"', False),
    ],
)
def test_only_a_lone_surrogate_is_refused(text: str, lone: bool) -> None:
    if lone:
        with pytest.raises(UnsendableJson, match="a lone surrogate escape"):
            load_json(text)
    else:
        assert load_json(text) == json.loads(text)
