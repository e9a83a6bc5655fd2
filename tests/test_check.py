"""``prompto-check``: every problem with its line, or the plan; exit 0 when runnable, 2 when not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli._commands import check_main
from runner.display._progress import duration
from tests.conftest import write_jsonl


def test_a_file_with_five_problems_lists_each_with_its_line_and_exits_2(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"api": "simulated", "model_name": "m"}
    lines = [
        '{"id": 1, "prompt": "fine", "api": "simulated", "model_name": "m"}',
        '{"id": 2, "prompt": "unclosed"',
        json.dumps({"id": 3, **good}),
        json.dumps({"id": 1, "prompt": "again", **good}),
        json.dumps({"id": 5, "prompt": "hi", "api": "nosuchapi", "model_name": "m"}),
        json.dumps({"id": 6, "prompt": "hi", "parameters": [1, 2], **good}),
    ]
    (workspace / "data" / "input" / "bad.jsonl").write_text("\n".join(lines) + "\n")

    status = check_main(["experiment.file=bad.jsonl", "env_file=null"])

    err = capsys.readouterr().err
    assert status == 2
    assert "bad (data/input/bad.jsonl): not runnable. 5 problem(s) in the experiment:" in err
    assert "line 2: malformed JSON" in err
    assert "line 3: no 'prompt' key" in err
    assert "line 4: duplicate id '1'" in err
    assert "line 5: " in err
    assert "nosuchapi" in err
    assert "line 6: 'parameters' must be a mapping, not list" in err


def test_a_good_file_prints_its_plan_per_queue_and_exits_0(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        *({"id": f"a{i}", "prompt": "x" * 40, "api": "simulated", "model_name": "a"} for i in range(7)),
        *(
            {"id": f"j{i}", "prompt": "y" * 80, "api": "simulated", "model_name": "a", "group": "judges"}
            for i in range(3)
        ),
    ]
    write_jsonl(workspace / "data" / "input" / "good.jsonl", rows)

    status = check_main(
        ["experiment.file=good.jsonl", "parallel=true", "max_queries=6", "++rate_limits.groups.judges=30"]
    )

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0] == "good (data/input/good.jsonl): runnable, 10 prompts in 2 queue(s)"
    assert out[2].split() == ["simulated", "7", "6", "0:01:00", "70"]  # 6 gaps of 10 s; 42 chars / 4
    assert out[3].split() == ["group:judges", "3", "30", "0:00:04", "60"]  # 2 gaps of 2 s; 82 chars // 4 each
    assert out[4].startswith("expected wall time: 0:01:00 at these rates")
    assert not (workspace / "outputs").exists()


def test_a_missing_file_or_bad_setting_exits_2(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(["experiment.file=nowhere.jsonl"]) == 2
    assert "experiment.file 'nowhere.jsonl' was not found in data/input/" in capsys.readouterr().err
    assert check_main(["experiment.file=x.jsonl", "max_queries=0"]) == 2
    assert "`max_queries`: Input should be greater than 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00:00"), (59.94, "0:00:59"), (200, "0:03:20"), (7500, "2:05:00"), (None, "-")],
)
def test_durations_read_as_on_a_clock(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
