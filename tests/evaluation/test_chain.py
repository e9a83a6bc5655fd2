"""rephrase → query → score → judge in one run, records streaming stage to stage."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from runner.evaluation._rephrasing import RephraseParseError, parse_rephrasings
from tests.evaluation.helpers import config_for, read_jsonl, run_quietly
from tests.fakes.eval_provider import ScriptedProvider

REPHRASER = """\
name: reword
model: {api: scripted, model_name: rephraser, max_queries: 6}
templates:
  - "Give {n} rewordings of: {prompt}"
  - "Say more formally, {n} ways: {prompt}"
n: 2
parse: %(parse)s
"""
JUDGE = """\
models: [{api: scripted, model_name: judge}]
template: "Expected {expected_response}; got {response}; variant {rephrase_index}"
parse: {regex: 'score=(\\d)'}
"""
PROMPTS = [
    {"id": "a", "prompt": "Capital of France?", "expected_response": "Paris"},
    {"id": "b", "prompt": "Capital of Spain?", "expected_response": "Madrid"},
]


def rephraser(text: str) -> str:
    question = text.rsplit(": ", 1)[1]
    if question == "Capital of Spain?" and text.startswith("Say"):
        return "Sorry, I can't."  # no list: costs these rephrasings, never the original
    style = "formal" if text.startswith("Say") else "plain"
    return (
        f"Here you go:\n1. {style} one: {question}\n2) {style} two: {question}\n3. {style} three: {question}"
    )


def answerer(text: str) -> str:
    if text.startswith("formal"):
        return "I believe it is Paris" if "France" in text else "Barcelona"
    return "Paris" if "France" in text else "Madrid"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted: type[ScriptedProvider]) -> Path:
    for group in ("rephrase", "judge"):
        (tmp_path / "conf" / group).mkdir(parents=True)
    (tmp_path / "conf" / "rephrase" / "reword.yaml").write_text(REPHRASER % {"parse": "list"})
    (tmp_path / "conf" / "judge" / "grade.yaml").write_text(JUDGE)
    monkeypatch.chdir(tmp_path)
    scripted.rules["rephraser"] = rephraser
    scripted.rules["answerer"] = answerer
    scripted.rules["judge"] = lambda text: "score=1" if "Expected Paris; got Paris" in text else "score=0"
    return tmp_path


async def test_rephrase_query_score_judge_chain(project: Path, autojump_clock: Any) -> None:
    config = config_for(
        project,
        PROMPTS,
        "experiment.api=scripted",
        "experiment.model_name=answerer",
        "rephrase=reword",
        "scorers=[includes]",
        "judges=[grade]",
    )
    result = await run_quietly(config)

    # The rephraser got one request per prompt and template, each rendered from the prompt.
    assert sorted(s.text for s in ScriptedProvider.sent_to("rephraser")) == [
        "Give 2 rewordings of: Capital of France?",
        "Give 2 rewordings of: Capital of Spain?",
        "Say more formally, 2 ways: Capital of France?",
        "Say more formally, 2 ways: Capital of Spain?",
    ]
    rephrase_file = read_jsonl(result.run_dir / "rephrase.jsonl")
    assert len(rephrase_file) == 4
    (failed_parse,) = [r for r in rephrase_file if "rephrase_error" in r]
    assert failed_parse["rephrase_source"] == "b"
    assert failed_parse["response"] == "Sorry, I can't."

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert sorted(records) == ["a", "a-r1", "a-r2", "a-r3", "a-r4", "b", "b-r1", "b-r2"]
    # The originals are sent as they were; each rephrasing links back to its original.
    assert records["a"]["prompt"] == "Capital of France?"
    assert (
        records["a"]["rephrase_of"],
        records["a"]["rephrase_index"],
        records["a"]["rephrase_template"],
    ) == (
        "a",
        0,
        None,
    )
    assert records["a-r3"]["prompt"] == "formal one: Capital of France?"
    assert (records["a-r3"]["rephrase_of"], records["a-r3"]["rephrase_template"]) == ("a", 1)
    assert [records[f"a-r{i}"]["rephrase_index"] for i in range(1, 5)] == [1, 2, 3, 4]
    assert records["b-r2"]["prompt"] == "plain two: Capital of Spain?"  # n=2 of the three listed
    assert records["b-r2"]["expected_response"] == "Madrid"  # the original's keys travel along

    # Each variant was answered, scored and judged (the judge saw the variant's own keys).
    assert records["a-r3"]["response"] == "I believe it is Paris"
    assert records["a-r3"]["scores"] == {"includes": True, "grade": 0}
    assert records["a-r1"]["scores"] == {"includes": True, "grade": 1}
    judge_file = read_jsonl(result.run_dir / "judge.jsonl")
    assert sorted(r["judged_id"] for r in judge_file) == sorted(records)
    assert "variant 3" in next(r["prompt"] for r in judge_file if r["judged_id"] == "a-r3")

    # Streaming: the rephraser's queue sends one request per 10 s, and the first prompt's variants are
    # answered and judged long before the last rephrasing request is sent.
    rephrased_at = sorted(s.at for s in ScriptedProvider.sent_to("rephraser"))
    assert rephrased_at == pytest.approx([0, 10, 20, 30], abs=0.01)
    assert min(s.at for s in ScriptedProvider.sent_to("judge")) < 15

    summary = result.summary
    # 2 originals × (1 + 2 templates × n=2) were planned; b's unreadable list made 2 of them never exist.
    assert summary["prompts"] == summary["finished"] == 8
    assert {key: queue["planned"] for key, queue in summary["queues"].items()} == {"default": 8}
    variance = summary["scores"]["rephrase"]["scripted/answerer"]
    # includes is True for every variant; grade is 1, 1, 1, 0, 0 for a (formal answers are wordier)
    # and 0 for every variant of b.
    assert variance["includes"] == {
        "prompts": 2,
        "inconsistent": 0.0,
        "mean_variance": 0.0,
        "max_variance": 0.0,
    }
    assert variance["grade"] == {
        "prompts": 2,
        "inconsistent": 0.5,
        "mean_variance": 0.12,
        "max_variance": 0.24,
    }


async def test_progress_counts_the_planned_rephrasings_until_they_are_made(
    project: Path, autojump_clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(
        project,
        PROMPTS,
        "experiment.api=scripted",
        "experiment.model_name=answerer",
        "rephrase=reword",
        "progress.mode=plain",
        "progress.interval_s=5",
    )
    result = await run_quietly(config)

    # 2 originals x (1 + 2 templates x n=2) are planned; b's unreadable list (its reply at 31 s) costs
    # 2. The progress shows the 10 planned while rephrasings may come, then the 8 the queue was given.
    err = capsys.readouterr().err
    totals = [int(total) for total in re.findall(r"^\[progress [\d:]+\] \d+/(\d+) done", err, re.MULTILINE)]
    assert totals == [10] * 6 + [8]  # a line every 5 s, then the final one at 32 s
    assert result.summary["queues"]["default"]["planned"] == result.summary["prompts"] == 8


async def test_single_mode_sends_n_requests_per_template(project: Path, autojump_clock: Any) -> None:
    (project / "conf" / "rephrase" / "reword.yaml").write_text(REPHRASER % {"parse": "single"})
    ScriptedProvider.rules["rephraser"] = lambda text: f'"{text.upper()}"'
    config = config_for(
        project, PROMPTS[:1], "experiment.api=scripted", "experiment.model_name=answerer", "rephrase=reword"
    )
    result = await run_quietly(config)
    assert len(ScriptedProvider.sent_to("rephraser")) == 4  # 2 templates x n=2
    records = read_jsonl(result.completed_file)
    assert sorted(r["prompt"] for r in records if r["rephrase_index"]) == [
        "GIVE 2 REWORDINGS OF: CAPITAL OF FRANCE?",
        "GIVE 2 REWORDINGS OF: CAPITAL OF FRANCE?",
        "SAY MORE FORMALLY, 2 WAYS: CAPITAL OF FRANCE?",
        "SAY MORE FORMALLY, 2 WAYS: CAPITAL OF FRANCE?",
    ]


def test_parse_rephrasings() -> None:
    reply = "Sure!\n1. First one\n2) 'Second one'\n- third\n\n(4) fourth"
    assert parse_rephrasings(reply, "list", 10) == ["First one", "Second one", "third", "fourth"]
    assert parse_rephrasings(reply, "list", 2) == ["First one", "Second one"]
    assert parse_rephrasings('  "Just this."  ', "single", 3) == ["Just this."]
    with pytest.raises(RephraseParseError, match="no numbered or bulleted list"):
        parse_rephrasings("No list here.", "list", 2)
    with pytest.raises(RephraseParseError, match="empty"):
        parse_rephrasings("  ", "single", 1)


async def test_ctrl_c_in_the_middle_of_a_chain_keeps_what_was_answered(
    project: Path, autojump_clock: Any
) -> None:
    config = config_for(
        project,
        PROMPTS,
        "experiment.api=scripted",
        "experiment.model_name=answerer",
        "rephrase=reword",
        "judges=[grade]",
    )

    async def interrupt() -> None:
        await trio.sleep(15)  # a's variants are answered and judged; b still waits for the rephraser
        signal.raise_signal(signal.SIGINT)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(interrupt)
        result = await run_quietly(config)
    assert result.summary["status"] == "interrupted"
    records = read_jsonl(result.completed_file)
    assert sorted(r["id"] for r in records) == ["a", "a-r1", "a-r2", "a-r3", "a-r4"]
    assert all(r["scores"]["grade"] in (0, 1) for r in records)
    assert [r["rephrase_source"] for r in read_jsonl(result.run_dir / "rephrase.jsonl")] == ["a", "a"]
