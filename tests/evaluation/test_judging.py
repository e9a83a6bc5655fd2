"""LLM-as-judge in a run: verdicts parsed into scores, streamed, paced, aggregated, and agreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.display._console import format_summary
from runner.results._score_summary import wilson_interval
from tests.evaluation.helpers import config_for, read_jsonl, run_quietly
from tests.fakes.eval_provider import ScriptedProvider

PROMPTS = [
    {"id": "q1", "prompt": "Capital of France?", "expected_response": "Paris", "group": "europe"},
    {"id": "q2", "prompt": "Capital of Germany?", "expected_response": "Berlin", "group": "europe"},
    {"id": "q3", "prompt": "Capital of Italy?", "expected_response": "Rome", "group": "europe"},
    {"id": "q4", "prompt": "Capital of Japan?", "expected_response": "Tokyo", "group": "asia"},
]
ANSWERS = {
    "Capital of France?": "Paris",
    "Capital of Germany?": "Munich",
    "Capital of Italy?": "Rome",
    "Capital of Japan?": "!fail",
}
GRADER = """\
models:
  - {api: scripted, model_name: judge-a, max_queries: %(rate)s}
template: |
  Question: {prompt}
  Expected: {expected_response}
  Answer: {response}
parse:
  regex: 'VERDICT:\\s*(\\w+)'
  labels: {"yes": true, "no": false}
"""


def fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def strict_judge(text: str) -> str:
    seen = fields(text)
    if seen["Answer"] == "Rome":
        return "I cannot decide."
    return "VERDICT: yes" if seen["Answer"] == seen["Expected"] else "Hmm. VERDICT: no"


def lenient_judge(text: str) -> str:
    return "VERDICT: yes"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted: type[ScriptedProvider]) -> Path:
    """A user's project: ./conf/judge/grader.yaml, the answering model and judge rules."""
    (tmp_path / "conf" / "judge").mkdir(parents=True)
    (tmp_path / "conf" / "judge" / "grader.yaml").write_text(GRADER % {"rate": 600})
    monkeypatch.chdir(tmp_path)
    scripted.rules["answerer"] = ANSWERS.__getitem__
    scripted.rules["judge-a"] = strict_judge
    scripted.rules["judge-b"] = lenient_judge
    return tmp_path


def experiment(*overrides: str) -> list[str]:
    return ["experiment.api=scripted", "experiment.model_name=answerer", "max_attempts=1", *overrides]


async def test_verdicts_are_parsed_into_scores_and_aggregated(project: Path, autojump_clock: Any) -> None:
    config = config_for(project, PROMPTS, *experiment("judges=[grader]", "scorers=[match]"))
    result = await run_quietly(config)

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert records["q1"]["scores"] == {"match": True, "grader": True}
    assert records["q2"]["scores"] == {"match": False, "grader": False}
    assert records["q2"]["judgements"]["grader"] == {
        "api": "scripted",
        "model_name": "judge-a",
        "reply": "Hmm. VERDICT: no",
        "error": None,
    }
    # An unreadable verdict: the score is null, the raw reply and the parse error are kept.
    assert records["q3"]["scores"] == {"match": True, "grader": None}
    judgement = records["q3"]["judgements"]["grader"]
    assert judgement["reply"] == "I cannot decide."
    assert judgement["error"]["type"] == "judge_parse"
    assert "does not match" in judgement["error"]["message"]
    # A failed request is neither scored nor judged.
    assert records["q4"]["error"]["type"] == "server_error"
    assert "scores" not in records["q4"]
    assert "judgements" not in records["q4"]

    # The judge saw the prompt, the expected answer and the reply; nothing was sent for q4.
    judge_prompts = sorted(sent.text for sent in ScriptedProvider.sent_to("judge-a"))
    assert judge_prompts[0] == "Question: Capital of France?\nExpected: Paris\nAnswer: Paris\n"
    assert len(judge_prompts) == 3
    judge_file = read_jsonl(result.run_dir / "judge.jsonl")
    assert sorted(r["judged_id"] for r in judge_file) == ["q1", "q2", "q3"]
    assert {r["id"] for r in judge_file} == {"q1/judge:grader", "q2/judge:grader", "q3/judge:grader"}

    scores = result.summary["scores"]
    low, high = wilson_interval(1, 2)
    assert scores["models"]["scripted/answerer"]["grader"] == {
        "count": 2,
        "errors": 1,
        "mean": 0.5,
        "rate": 0.5,
        "ci95": [round(low, 6), round(high, 6)],
    }
    assert scores["groups"]["europe"]["match"]["rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert scores["judges"]["grader"] == {"ok": 2, "failed": 1, "failed_by_type": {"judge_parse": 1}}
    on_disk = json.loads((result.run_dir / "summary.json").read_text())
    assert on_disk["scores"] == scores
    assert result.summary["ok"] == 3
    printed = format_summary(result.summary, str(result.run_dir))
    assert f"0.5 [{low:.3g}, {high:.3g}]" in printed  # the grader's column of the per-model table
    assert result.summary["failed"] == 1


async def test_a_record_is_judged_as_soon_as_it_is_answered(project: Path, autojump_clock: Any) -> None:
    prompts = [{"id": f"p{i}", "prompt": f"Capital {i}?", "expected_response": "x"} for i in range(5)]
    ScriptedProvider.rules["answerer"] = lambda prompt: "x"
    config = config_for(project, prompts, *experiment("judges=[grader]", "max_queries=60"))
    await run_quietly(config)
    answers = [sent.at for sent in ScriptedProvider.sent_to("answerer")]
    verdicts = [sent.at for sent in ScriptedProvider.sent_to("judge-a")]
    assert len(answers) == len(verdicts) == 5
    # One prompt a second, each answered a second later: the first verdict is asked for long before
    # the last prompt is even sent.
    assert min(verdicts) == pytest.approx(min(answers) + 1.0, abs=0.01)
    assert min(verdicts) < max(answers) - 2


async def test_judge_requests_have_their_own_queue_and_rate(project: Path, autojump_clock: Any) -> None:
    (project / "conf" / "judge" / "grader.yaml").write_text(GRADER % {"rate": 6})  # one per 10 s
    prompts = [{"id": f"p{i}", "prompt": f"Capital {i}?", "expected_response": "x"} for i in range(4)]
    ScriptedProvider.rules["answerer"] = lambda prompt: "x"
    ScriptedProvider.rules["judge-a"] = lambda prompt: "VERDICT: yes"
    config = config_for(project, prompts, *experiment("judges=[grader]", "max_queries=6000"))
    result = await run_quietly(config)
    answers = [sent.at for sent in ScriptedProvider.sent_to("answerer")]
    verdicts = sorted(sent.at for sent in ScriptedProvider.sent_to("judge-a"))
    assert max(answers) < 0.1  # the experiment's queue is not held back by the slow judge
    # The judge queue's first permit is taken when the first answer is in (t=1); its schedule starts
    # there, one every 10 s.
    assert verdicts == pytest.approx([1.0, 11.0, 21.0, 31.0], abs=0.01)
    assert result.summary["scores"]["models"]["scripted/answerer"]["grader"]["rate"] == 1.0


async def test_two_judge_models_score_separately_and_their_agreement_is_summarised(
    project: Path, autojump_clock: Any
) -> None:
    panel = (
        (project / "conf" / "judge" / "grader.yaml")
        .read_text()
        .replace("models:\n", "models:\n  - {api: scripted, model_name: judge-b}\n")
    )
    (project / "conf" / "judge" / "panel.yaml").write_text(panel)
    ScriptedProvider.rules["judge-a"] = lambda text: (
        "VERDICT: yes" if fields(text)["Answer"] == fields(text)["Expected"] else "VERDICT: no"
    )
    config = config_for(project, PROMPTS, *experiment("judges=[panel]"))
    result = await run_quietly(config)

    records = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert records["q1"]["scores"] == {"panel/judge-b": True, "panel/judge-a": True}
    assert records["q2"]["scores"] == {"panel/judge-b": True, "panel/judge-a": False}
    assert set(records["q2"]["judgements"]) == {"panel/judge-a", "panel/judge-b"}
    agreement = result.summary["scores"]["agreement"]["panel"]
    assert agreement["records"] == 3
    assert agreement["unanimous"] == pytest.approx(2 / 3, abs=1e-6)
    pair = agreement["pairwise"]["panel/judge-b vs panel/judge-a"]
    assert pair["agreement"] == pytest.approx(2 / 3, abs=1e-6)
    assert pair["kappa"] == 0.0  # judge-b says yes to everything: no agreement beyond chance


async def test_the_shipped_simulated_judge_runs_on_the_capitals_example(
    tmp_path: Path, autojump_clock: Any
) -> None:
    prompts = [{"id": "c1", "prompt": "Capital of France?", "expected_response": "Paris"}]
    config = config_for(
        tmp_path, prompts, "model=simulated_fast", "judges=[correctness]", "scorers=[includes]"
    )
    result = await run_quietly(config)
    (only,) = read_jsonl(result.completed_file)
    assert only["scores"] == {"includes": False, "correctness": True}
    assert only["judgements"]["correctness"]["model_name"] == "simulated-judge"


async def test_a_template_file_beside_the_judge_yaml_and_a_system_message(
    project: Path, autojump_clock: Any
) -> None:
    judges = project / "conf" / "judge"
    (judges / "grader.txt").write_text("Expected: {expected_response}\nAnswer: {response}\n")
    (judges / "filed.yaml").write_text(
        "models: [{api: scripted, model_name: judge-a}]\n"
        "template_file: grader.txt\n"
        "system: You are a strict grader.\n"
        "parse: {regex: 'VERDICT:\\s*(\\w+)', labels: {'yes': 1, 'no': 0}}\n"
    )
    ScriptedProvider.rules["judge-a"] = lambda text: (
        "VERDICT: yes" if fields(text)["Answer"] == fields(text)["Expected"] else "VERDICT: no"
    )
    config = config_for(project, PROMPTS[:2], *experiment("judges=[filed]"))
    result = await run_quietly(config)
    assert config.judges[0].template_file == (judges / "grader.txt").resolve()
    sent = sorted(ScriptedProvider.sent_to("judge-a"), key=lambda s: s.text)
    assert [s.text for s in sent] == [
        "Expected: Berlin\nAnswer: Munich\n",
        "Expected: Paris\nAnswer: Paris\n",
    ]
    assert {s.system for s in sent} == {"You are a strict grader."}
    assert {r["id"]: r["scores"]["filed"] for r in read_jsonl(result.completed_file)} == {"q1": 1, "q2": 0}


async def test_a_judge_model_can_bring_its_own_endpoint(project: Path, autojump_clock: Any) -> None:
    (project / "conf" / "judge" / "own.yaml").write_text(
        "models:\n"
        "  - api: simulated\n"
        "    model_name: sim-judge\n"
        "    endpoint: {options: {response_template: 'VERDICT: no', latency_s: 2}}\n"
        "template: '{response}'\n"
        "parse: {regex: 'VERDICT: (\\w+)', labels: {'yes': 1, 'no': 0}}\n"
    )
    config = config_for(project, PROMPTS[:1], *experiment("judges=[own]"))
    assert config.endpoint_for("simulated", "sim-judge").options["response_template"] == "VERDICT: no"
    assert config.endpoint_for("simulated", "other").options == {}
    result = await run_quietly(config)
    (only,) = read_jsonl(result.completed_file)
    assert only["scores"] == {"own": 0}
