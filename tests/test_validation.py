"""A file that ``prompto-check`` passes is one that ``prompto-run`` starts, and one it refuses, the run
refuses too with the same problems: both call one validation (:mod:`runner._validate`).

Each case runs the installed commands, as a user does, from a project folder of the user's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.inputs.installed import command, completed_records, write_lines

JUDGE = """\
models: [{api: %(api)s, model_name: judge, parameters: {response_template: "VERDICT: yes", latency_s: 0}}]
template: "Expected {expected_response}, got {response}. VERDICT: yes or no?"
parse: {regex: 'VERDICT:\\s*(\\w+)', labels: {"yes": 1, "no": 0}}
"""
REPHRASER = """\
model: {api: simulated, model_name: rephraser, parameters: {latency_s: 0}}
templates: ["Reword: {prompt}"]
n: 2
parse: single
"""
SIM = {"api": "simulated", "model_name": "m", "parameters": {"latency_s": 0}}


def _prompts(count: int, **extra: object) -> list[str]:
    return [
        json.dumps({"id": f"p{i}", "prompt": f"Question {i}?", "expected_response": str(i), **SIM, **extra})
        for i in range(count)
    ]


CASES: dict[str, tuple[list[str], list[str], list[str]]] = {
    # name: (prompt file lines, overrides, the problems both commands name; none: both go ahead)
    "clean, judged, 60 prompts": (_prompts(60), ["judges=[grade]"], []),
    "clean, rephrased and judged": (_prompts(3), ["judges=[grade]", "rephrase=reword"], []),
    "a judge placeholder one prompt lacks": (
        [*_prompts(2), json.dumps({"id": "bare", "prompt": "Hi", **SIM})],
        ["judges=[grade]"],
        ["judge 'grade': placeholder {expected_response} is not a key of prompt 'bare'"],
    ),
    "a judge naming an unknown api": (
        _prompts(2),
        ["judges=[typo]"],
        ["judge 'typo': unknown api 'simulatd'"],
    ),
    "a rephrasing id the file uses": (
        [*_prompts(1), json.dumps({"id": "p0-r2", "prompt": "Taken", **SIM})],
        ["rephrase=reword"],
        ["prompt 'p0': its rephrasings would be sent as p0-r2, an id the file uses"],
    ),
    "prompt problems": (
        [
            *_prompts(2),
            '{"id": "torn", "prompt": ',
            json.dumps({"id": "p1", "prompt": "again", **SIM}),
            json.dumps({"id": "x", "prompt": "hi", "api": "nosuchapi", "model_name": "m"}),
        ],
        ["judges=[grade]"],
        ["line 3: malformed JSON", "line 4: duplicate id 'p1'", "line 5: unknown api 'nosuchapi'"],
    ),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: ``data/input/``, and their own judges and rephraser under ``conf/``."""
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "conf" / "judge").mkdir(parents=True)
    (tmp_path / "conf" / "judge" / "grade.yaml").write_text(JUDGE % {"api": "simulated"})
    (tmp_path / "conf" / "judge" / "typo.yaml").write_text(JUDGE % {"api": "simulatd"})
    (tmp_path / "conf" / "rephrase").mkdir()
    (tmp_path / "conf" / "rephrase" / "reword.yaml").write_text(REPHRASER)
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_prompto_check_and_prompto_run_agree_on_every_file(project: Path, case: str) -> None:
    lines, overrides, problems = CASES[case]
    write_lines(project, "p.jsonl", lines)
    args = ["experiment.file=p.jsonl", "env_file=null", "max_queries=600000", *overrides]

    check = command("prompto-check", *args, cwd=project)
    run = command("prompto-run", *args, cwd=project)

    if not problems:
        assert (check.returncode, run.returncode) == (0, 0), check.stderr + run.stderr
        assert f"runnable, {len(lines)} prompts" in check.stdout
        assert len(completed_records(project)) == len(lines) * (3 if "rephrase=reword" in overrides else 1)
        return
    assert (check.returncode, run.returncode) == (2, 2), check.stderr + run.stderr
    for output in (check.stderr, run.stderr):
        assert "Traceback" not in output
        for problem in problems:
            assert problem in output
    counts = [re.findall(r"(\d+) problem\(s\) in the experiment", out) for out in (check.stderr, run.stderr)]
    assert counts[0][:1] == counts[1][:1] == [str(len(problems))]
    assert completed_records(project) == []
