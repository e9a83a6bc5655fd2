"""The validation's fast path (orjson, a target resolved once per api/model/group/parameters, the line's
bytes written through) decides every line as the full path does: the same problems on the same lines,
the same prompts in the same queues, the same estimate."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from runner import RunConfig
from runner.costs._estimate import Estimator
from runner.costs._prices import PriceBook
from runner.prompts import _plan
from runner.prompts._plan import Plan, build_plan
from runner.prompts._prompt_file import read_dict_at

BIG = 123456789012345678901234567890
"""Past 64 bits: orjson would read it as a float."""


def _line(**fields: Any) -> str:
    return json.dumps({"api": "simulated", "model_name": "m", **fields})


LINES = [
    _line(id="a", prompt="plain"),
    _line(id=7, prompt="a numeric id"),
    _line(id=BIG, prompt="an id past 64 bits"),
    _line(id="b", prompt="a parameter past 64 bits", parameters={"seed": BIG}),
    _line(id="c", prompt="parameters", parameters={"temperature": 0, "max_tokens": 10}),
    _line(id="d", prompt="same parameters, a bool", parameters={"temperature": False, "max_tokens": 10}),
    _line(id="e", prompt="a float past 64 bits", parameters={"temperature": 1e30}),
    _line(id="a", prompt="a duplicate of a fast line"),
    _line(id=True, prompt="a bool id"),
    _line(id=None, prompt="a null id"),
    _line(prompt="no id: derived"),
    _line(prompt="no id: derived"),
    _line(id="g1", prompt="a group", group="x"),
    _line(id="g2", prompt="a numeric group", group=1),
    _line(id="g3", prompt="a bool group", group=True),
    _line(id="p1", prompt="null parameters", parameters=None),
    _line(id="p2", prompt="list parameters", parameters=[1]),
    _line(id="u1", prompt="unknown api", api="nope"),
    json.dumps({"id": "u2", "prompt": "no api or model"}),
    json.dumps({"id": "u3", "prompt": "a list api", "api": ["x"], "model_name": "m"}),
    _line(id="t1", prompt=["turn one", "turn two"]),
    _line(id="t2", prompt=[{"role": "user", "content": "history"}]),
    _line(id="s1", prompt="safety", safety_filter="none"),
    _line(id="n1", prompt="nested", meta=[[[[]]]]),
    _line(id="n2", prompt="too deep", meta=json.loads("[" * 150 + "]" * 150)),
    '{"id": "f1", "prompt": "infinite", "api": "simulated", "model_name": "m", "x": 1e400}',
    '{"id": "f2", "prompt": "NaN", "api": "simulated", "model_name": "m", "x": NaN}',
    '{"id": "f3", "prompt": "lone \\ud800", "api": "simulated", "model_name": "m"}',
    '{"id": "f4", "prompt": "a pair \\ud83d\\ude00", "api": "simulated", "model_name": "m"}',
    '{"id": "f5", "prompt": "dup key", "prompt": 5, "api": "simulated", "model_name": "m"}',
    '  {"id": "w1", "prompt": "spaces and CRLF", "api": "simulated", "model_name": "m"}  \r',
    "   ",
    "{broken",
    "[1, 2]",
    _line(id="z", prompt='ünïcödé and "quotes" and \\ backslashes\ttabs', meta=BIG),
]


def _plan_with(config: RunConfig, path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(_plan._FastPath, "take", lambda self, line_no, raw: False)
        normalized = io.BytesIO()
        estimator = Estimator(config, PriceBook(config))
        plan = build_plan(
            config,
            path,
            normalized,
            environ={},
            include=lambda prompt_id: prompt_id != "c",
            observe=estimator.observe,
            text_counter=estimator.text_counter,
        )
    return plan, _queued(plan, normalized), estimator.as_dict()


def _queued(plan: Plan, normalized: io.BytesIO) -> dict[str, list[dict[str, Any]]]:
    return {
        str(key): [read_dict_at(normalized, offset) for offset in queue.offsets()]
        for key, queue in plan.queues.items()
    }


@pytest.mark.parametrize("parallel", [False, True])
def test_the_fast_path_decides_every_line_as_the_full_path(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    path = workspace / "data" / "input" / "mixed.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(LINES).encode())  # a BOM, no newline at the end
    config = RunConfig.model_validate(
        {"experiment": {"file": str(path)}, "env_file": None, "parallel": parallel}
    )
    fast_plan, fast_queued, fast_estimate = _plan_with(config, path, fast=True, monkeypatch=monkeypatch)
    full_plan, full_queued, full_estimate = _plan_with(config, path, fast=False, monkeypatch=monkeypatch)
    assert fast_plan.problems == full_plan.problems
    assert fast_plan.problem_count == full_plan.problem_count > 10
    assert fast_queued == full_queued
    assert fast_plan.skipped == full_plan.skipped == 1
    assert fast_plan.endpoints == full_plan.endpoints
    assert {k: q.prompt_tokens for k, q in fast_plan.queues.items()} == {
        k: q.prompt_tokens for k, q in full_plan.queues.items()
    }
    assert fast_estimate == full_estimate
    ids = [row["id"] for rows in fast_queued.values() for row in rows]
    assert BIG in ids  # exact integers, as json reads them
    assert 7 in ids
    seeds = [row.get("parameters", {}).get("seed") for rows in fast_queued.values() for row in rows]
    assert BIG in seeds


def test_a_file_of_common_lines_takes_the_fast_path(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = workspace / "data" / "input" / "plain.jsonl"
    path.write_text("".join(_line(id=f"p{i}", prompt=f"question {i}") + "\n" for i in range(50)))
    config = RunConfig.model_validate({"experiment": {"file": str(path)}, "env_file": None})
    full_reads: list[int] = []
    original = _plan.parse_json_line

    def counted(raw: bytes, line_no: int) -> Any:
        full_reads.append(line_no)
        return original(raw, line_no)

    monkeypatch.setattr(_plan, "parse_json_line", counted)
    plan, queued, _ = _plan_with(config, path, fast=True, monkeypatch=monkeypatch)
    assert full_reads == []
    assert plan.problem_count == 0
    assert [row["id"] for row in queued["default"]] == [f"p{i}" for i in range(50)]
