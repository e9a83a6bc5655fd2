"""Bad stage configs fail before anything is sent; an interrupted run keeps every answered record."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from runner import ConfigError, ValidationFailed
from runner.evaluation._templates import Template, TemplateError
from tests.evaluation.helpers import config_for, read_jsonl, run_quietly
from tests.fakes.eval_provider import ScriptedProvider

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    {"id": "with", "prompt": "Capital of France?", "expected_response": "Paris"},
    {"id": "without-1", "prompt": "Say hi"},
    {"id": "without-2", "prompt": "Say bye"},
]
JUDGE = """\
models: [{api: %(api)s, model_name: judge}]
template: "Expected {expected_response}, got {response}"
parse: {labels: {"yes": 1, "no": 0}}
"""
SCRIPTED = ["experiment.api=scripted", "experiment.model_name=answerer"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted: type[ScriptedProvider]) -> Path:
    (tmp_path / "conf" / "judge").mkdir(parents=True)
    (tmp_path / "conf" / "judge" / "grade.yaml").write_text(JUDGE % {"api": "scripted"})
    (tmp_path / "conf" / "judge" / "typo.yaml").write_text(JUDGE % {"api": "scriptd"})
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_a_placeholder_some_prompts_lack_fails_before_anything_is_sent(project: Path) -> None:
    config = config_for(project, PROMPTS, *SCRIPTED, "judges=[grade]")
    with pytest.raises(ValidationFailed) as failed:
        await run_quietly(config)
    assert (
        "judge 'grade': placeholder {expected_response} is not a key of prompt 'without-1' "
        "(nor of 1 other prompt(s))"
    ) in str(failed.value)
    assert ScriptedProvider.history == []
    assert not (config.output_dir / "completed.jsonl").exists()


async def test_a_judge_naming_an_unknown_api_fails_before_anything_is_sent(project: Path) -> None:
    config = config_for(project, PROMPTS[:1], *SCRIPTED, "judges=[typo]")
    with pytest.raises(ValidationFailed, match="judge 'typo': unknown api 'scriptd'"):
        await run_quietly(config)
    assert ScriptedProvider.history == []


async def test_rephrase_template_placeholders_are_checked_too(project: Path) -> None:
    (project / "conf" / "rephrase").mkdir()
    (project / "conf" / "rephrase" / "r.yaml").write_text(
        "model: {api: scripted, model_name: r}\ntemplates: ['Reword for {audience}: {prompt}']\n"
    )
    config = config_for(project, PROMPTS[:1], *SCRIPTED, "rephrase=r")
    with pytest.raises(ValidationFailed, match=r"rephrase 'rephrase' template 0: placeholder \{audience\}"):
        await run_quietly(config)
    assert ScriptedProvider.history == []


async def test_rephrasing_ids_may_not_collide_with_the_files_ids(project: Path) -> None:
    (project / "conf" / "rephrase").mkdir()
    (project / "conf" / "rephrase" / "r.yaml").write_text(
        "model: {api: scripted, model_name: r}\ntemplates: ['Reword: {prompt}']\nn: 2\n"
    )
    prompts = [{"id": "a", "prompt": "x"}, {"id": "a-r2", "prompt": "y"}]
    config = config_for(project, prompts, *SCRIPTED, "rephrase=r")
    with pytest.raises(ValidationFailed, match="prompt 'a': its rephrasings would be sent as a-r2"):
        await run_quietly(config)
    assert ScriptedProvider.history == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "scorers=[mach]",
            "no scorer named 'mach': add conf/scorer/mach.yaml (available: exact_label, includes,",
        ),
        ("judges=[nope]", "no judge named 'nope'"),
        ("scorers=[{name: x, _target_: scorers.match, ignore_cases: true}]", None),
    ],
)
async def test_unknown_or_unbuildable_scorers_and_judges(
    project: Path, override: str, message: str | None
) -> None:
    if message is not None:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            config_for(project, PROMPTS[:1], *SCRIPTED, override)
        return
    config = config_for(project, PROMPTS[:1], *SCRIPTED, override)
    with pytest.raises(
        ValidationFailed, match="scorer 'x' \\(scorers.match\\): .*unexpected keyword argument"
    ):
        await run_quietly(config)
    assert ScriptedProvider.history == []


def test_templates_reject_what_they_cannot_fill() -> None:
    with pytest.raises(TemplateError, match=r"placeholder \{0\} must be a plain key name"):
        Template("answer {0}", where="judge 'j'")
    with pytest.raises(TemplateError, match="template is not valid"):
        Template("answer {response", where="judge 'j'")
    template = Template("{{literal}} {prompt} / {response} / {meta}", where="judge 'j'")
    rendered = template.render({"prompt": ["hi", "bye"], "response": ["a", "b"], "meta": {"k": 1}})
    assert rendered == '{literal} hi\nbye / b / {"k": 1}'


async def test_ctrl_c_keeps_answered_records_whose_verdicts_never_came(
    project: Path, autojump_clock: Any
) -> None:
    prompts = [{"id": f"p{i}", "prompt": f"Q{i}", "expected_response": "x"} for i in range(3)]
    ScriptedProvider.rules["answerer"] = lambda text: "x"
    ScriptedProvider.latency_s["judge"] = 1000.0  # the judge never answers before the interrupt
    config = config_for(project, prompts, *SCRIPTED, "judges=[grade]", "scorers=[match]")

    async def interrupt() -> None:
        await trio.sleep(50)
        signal.raise_signal(signal.SIGINT)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(interrupt)
        result = await run_quietly(config)
    assert result.summary["status"] == "interrupted"
    records = read_jsonl(result.completed_file)
    assert sorted(r["id"] for r in records) == ["p0", "p1", "p2"]
    for record in records:
        assert record["scores"] == {"match": True, "grade": None}
        assert record["judgements"]["grade"]["error"]["type"] == "not_judged"
    assert result.summary["scores"]["judges"]["grade"]["failed_by_type"] == {"not_judged": 3}


@pytest.mark.slow
async def test_prompto_run_exits_2_on_a_bad_judge(project: Path) -> None:
    prompts = project / "p.jsonl"
    prompts.write_text('{"id": "a", "prompt": "hi"}\n')
    command = [
        sys.executable,
        "-c",
        "from runner.cli._prompto_run import main; main()",
        f"experiment.file={prompts}",
        "model=simulated_fast",
        "judges=[typo]",
        "env_file=null",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = await trio.run_process(
        command, cwd=project, env=env, capture_stderr=True, capture_stdout=True, check=False
    )
    assert done.returncode == 2
    assert b"judge 'typo': unknown api 'scriptd'" in done.stderr
    assert b"Nothing was sent." in done.stderr
