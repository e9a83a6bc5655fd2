"""Prompt files: prompto's JSONL and CSV forms, and every bad line reported before anything is sent."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from providers import known_apis
from runner import RunConfig
from runner.prompts._plan import Plan, build_plan
from runner.prompts._prompt_file import PromptFileError, read_prompt_lines
from tests.conftest import write_jsonl


def plan_for(workspace: Path, path: Path, **settings: Any) -> tuple[Plan, list[dict[str, Any]]]:
    config = RunConfig.model_validate({"experiment": {"file": str(path)}, "env_file": None, **settings})
    normalized = io.BytesIO()
    plan = build_plan(config, path, normalized, environ={})
    rows = [json.loads(line) for line in normalized.getvalue().splitlines()]
    return plan, rows


def test_every_bad_line_is_reported_with_its_number(workspace: Path) -> None:
    path = workspace / "data" / "input" / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": 1, "prompt": "ok", "api": "simulated", "model_name": "m"}),
                "{not json",
                json.dumps({"id": 2, "api": "simulated", "model_name": "m"}),
                json.dumps({"id": 3, "prompt": "x", "api": "nope", "model_name": "m"}),
                json.dumps({"id": 1, "prompt": "dup", "api": "simulated", "model_name": "m"}),
                json.dumps(
                    {"id": 5, "prompt": "x", "api": "simulated", "model_name": "m", "parameters": [1]}
                ),
                json.dumps(["a", "list"]),
                json.dumps({"id": 6, "prompt": "x"}),
                "",
                json.dumps(
                    {
                        "id": 7,
                        "prompt": [
                            {"role": "user", "content": ["see", {"type": "image", "media": "no.png"}]}
                        ],
                        "api": "simulated",
                        "model_name": "m",
                    }
                ),
            ]
        )
        + "\n"
    )

    plan, _ = plan_for(workspace, path)

    assert plan.problems == [
        "line 2: malformed JSON: Expecting property name enclosed in double quotes at column 2",
        "line 3: no 'prompt' key",
        f"line 4: unknown api 'nope' (known: {', '.join(known_apis())})",
        "line 5: duplicate id '1'",
        "line 6: 'parameters' must be a mapping, not list",
        "line 7: a prompt line must be a JSON object, not list",
        "line 8: no 'api': name one in the line, set experiment.api, or choose a model with model=NAME",
        "line 10: prompt[0] names media file 'no.png', which is not in data/media/",
    ]


def test_non_utf8_and_huge_lines_are_problems_not_crashes(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runner.prompts._prompt_file.MAX_LINE_BYTES", 100)
    path = workspace / "data" / "input" / "odd.jsonl"
    good = json.dumps({"id": 1, "prompt": "fine", "api": "simulated", "model_name": "m"}).encode()
    path.write_bytes(
        good
        + b"\n"
        + b'{"id": 2, "prompt": "caf\xe9"}\n'
        + b'{"p": "'
        + b"x" * 300
        + b'"}\n'
        + good.replace(b"1", b"3")
        + b"\n"
    )

    plan, rows = plan_for(workspace, path)

    assert plan.problems == [
        "line 2: not UTF-8 text (byte 25 of the line)",
        "line 3: line is longer than the 100-byte limit",
    ]
    assert [row["id"] for row in rows] == [1, 3]


def test_lines_without_id_get_stable_ids_and_repeats_stay_distinct(workspace: Path) -> None:
    row = {"prompt": "same", "api": "simulated", "model_name": "m"}
    path = write_jsonl(workspace / "data" / "input" / "ids.jsonl", [row, row, {**row, "prompt": "other"}])

    _, first = plan_for(workspace, path)
    _, second = plan_for(workspace, path)

    ids = [r["id"] for r in first]
    assert ids == [r["id"] for r in second]
    assert ids[1] == f"{ids[0]}-2"
    assert len(set(ids)) == 3


def test_csv_columns_fold_as_prompto_does(workspace: Path) -> None:
    path = workspace / "data" / "input" / "exp.csv"
    path.write_text(
        "id,prompt,api,model_name,parameters-temperature,parameters-stop,parameters,group,note\n"
        '1,"Hello, world",simulated,m,0.5,"[""\\n""]","{""max_tokens"": 5}",g,\n'
        "2,second,simulated,m,,,,,kept\n"
    )

    plan, rows = plan_for(workspace, path)

    assert plan.problems == []
    assert rows == [
        {
            "id": 1,  # typed as pandas types it (prompto reads CSV with pandas)
            "prompt": "Hello, world",
            "api": "simulated",
            "model_name": "m",
            "group": "g",
            "parameters": {"max_tokens": 5, "temperature": 0.5, "stop": ["\n"]},
        },
        {"id": 2, "prompt": "second", "api": "simulated", "model_name": "m", "note": "kept"},
    ]


def test_csv_ragged_row_is_reported(workspace: Path) -> None:
    path = workspace / "data" / "input" / "ragged.csv"
    path.write_text("id,prompt,api,model_name\n1,a,simulated,m\n2,b,simulated\n3,c,simulated,m,extra\n")

    plan, rows = plan_for(workspace, path)

    assert plan.problems == [
        "line 3: row has 3 cells but the header has 4",
        "line 4: row has 5 cells but the header has 4",
    ]
    assert [r["id"] for r in rows] == [1]


def test_media_parts_in_every_prompto_shape_resolve_against_media(workspace: Path) -> None:
    (workspace / "data" / "media" / "cat.jpg").write_bytes(b"\xff\xd8")
    content = [
        "what is this?",
        {"type": "image", "media": "cat.jpg"},
        {"type": "image_url", "image_url": "cat.jpg"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image", "source": {"media": "cat.jpg", "media_type": "image/jpeg"}},
        {"type": "video", "url": "https://example.com/clip.mp4"},
    ]
    path = write_jsonl(
        workspace / "data" / "input" / "mm.jsonl",
        [{"id": 1, "prompt": [{"role": "user", "content": content}], "api": "simulated", "model_name": "m"}],
    )

    plan, _ = plan_for(workspace, path)

    assert plan.problems == []


def test_unknown_extension_and_missing_file_are_clear(workspace: Path) -> None:
    with pytest.raises(PromptFileError, match="must end in .jsonl or .csv"):
        list(read_prompt_lines(write_jsonl(workspace / "x.txt", [])))
    with pytest.raises(PromptFileError, match="does not exist"):
        list(read_prompt_lines(workspace / "missing.jsonl"))
