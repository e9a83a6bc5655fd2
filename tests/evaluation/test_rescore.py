"""Re-scoring and re-judging a finished run: new files beside the old, no request to the run's model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from runner import ValidationFailed
from runner._rescore import rejudge_run, rescore_run
from runner.config._compose import ConfigError
from runner.run_folder._saved_config import load_run_config, save_config
from tests.evaluation.helpers import config_for, read_jsonl, run_quietly
from tests.fakes.eval_provider import ScriptedProvider

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    {"id": "q1", "prompt": "Capital of France?", "expected_response": "Paris"},
    {"id": "q2", "prompt": "Capital of Germany?", "expected_response": "Berlin"},
    {"id": "q3", "prompt": "Capital of Japan?", "expected_response": "Tokyo"},
]
ANSWERS = {
    "Capital of France?": "paris",
    "Capital of Germany?": "Berlin, of course",
    "Capital of Japan?": "!fail",
}
JUDGE = """\
models: [{api: scripted, model_name: judge-a}, {api: scripted, model_name: judge-b}]
template: "{expected_response} vs {response}"
parse: {labels: [good, bad]}
"""


@pytest.fixture
async def finished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted: type[ScriptedProvider]
) -> Path:
    """A finished run of the scripted answerer, scored with match, saved as prompto-run saves it.

    Tests that use it ask for ``autojump_clock`` themselves: pytest-trio takes the clock from the test.
    """
    (tmp_path / "conf" / "judge").mkdir(parents=True)
    (tmp_path / "conf" / "judge" / "pair.yaml").write_text(JUDGE)
    (tmp_path / "conf" / "scorer").mkdir(parents=True)
    (tmp_path / "conf" / "scorer" / "loose.yaml").write_text(
        "_target_: scorers.includes\nignore_case: true\n"
    )
    monkeypatch.chdir(tmp_path)
    scripted.rules["answerer"] = ANSWERS.__getitem__
    overrides = ["experiment.api=scripted", "experiment.model_name=answerer", "max_attempts=1"]
    config = config_for(tmp_path, PROMPTS, *overrides, "scorers=[match]")
    save_config(config)
    await run_quietly(config)
    scripted.history.clear()
    return config.output_dir


async def test_rescoring_writes_a_new_scored_file_and_sends_nothing(
    finished_run: Path, autojump_clock: Any
) -> None:
    before = (finished_run / "completed.jsonl").read_bytes()
    config = load_run_config(finished_run, ["scorers=[match,loose]"])
    result = await rescore_run(config, stamp="t1")

    assert result.records_file == finished_run / "completed-scored-t1.jsonl"
    records = {r["id"]: r for r in read_jsonl(result.records_file)}
    assert records["q1"]["scores"] == {"match": False, "loose": True}
    assert records["q2"]["scores"] == {"match": False, "loose": True}
    assert "scores" not in records["q3"]  # failed: not scored
    assert result.summary["scores"]["models"]["scripted/answerer"]["loose"]["rate"] == 1.0
    assert json.loads((finished_run / "summary-scored-t1.json").read_text()) == result.summary
    assert (finished_run / "completed.jsonl").read_bytes() == before
    assert ScriptedProvider.history == []


async def test_rejudging_sends_only_to_the_judges(finished_run: Path, autojump_clock: Any) -> None:
    ScriptedProvider.rules["judge-a"] = lambda text: "good" if text.lower().startswith("paris") else "bad"
    ScriptedProvider.rules["judge-b"] = lambda text: "Good."
    before = (finished_run / "completed.jsonl").read_bytes()
    config = load_run_config(finished_run, ["judges=[pair]"])
    result = await rejudge_run(config, environ={}, stamp="t2")

    assert {sent.model_name for sent in ScriptedProvider.history} == {"judge-a", "judge-b"}
    assert len(ScriptedProvider.history) == 4  # two answered records, two judge models
    records = {r["id"]: r for r in read_jsonl(finished_run / "completed-judged-t2.jsonl")}
    assert records["q1"]["scores"] == {"match": False, "pair/judge-a": "good", "pair/judge-b": "good"}
    assert records["q2"]["scores"]["pair/judge-a"] == "bad"
    assert "judgements" not in records["q3"]
    assert len(read_jsonl(finished_run / "judge-t2.jsonl")) == 4
    assert result.summary["scores"]["agreement"]["pair"]["unanimous"] == 0.5
    assert (finished_run / "completed.jsonl").read_bytes() == before
    assert not (finished_run / "judge.jsonl").exists()


async def test_rejudging_keeps_every_record_even_with_repeated_ids(
    finished_run: Path, autojump_clock: Any
) -> None:
    completed = finished_run / "completed.jsonl"
    lines = completed.read_text().splitlines(keepends=True)
    completed.write_text("".join(lines + lines) + '{"id": "torn", "resp')  # a resumed run, killed mid-line
    ScriptedProvider.rules["judge-a"] = ScriptedProvider.rules["judge-b"] = lambda text: "good"
    config = load_run_config(finished_run, ["judges=[pair]"])
    await rejudge_run(config, environ={}, stamp="t3")
    records = read_jsonl(finished_run / "completed-judged-t3.jsonl")
    assert sorted(r["id"] for r in records) == ["q1", "q1", "q2", "q2", "q3", "q3"]
    assert all(r["scores"]["pair/judge-a"] == "good" for r in records if r["id"] != "q3")


async def test_rejudging_checks_templates_against_the_records_before_sending(
    finished_run: Path, autojump_clock: Any
) -> None:
    (finished_run.parent / "conf" / "judge" / "pair.yaml").write_text(JUDGE.replace("{response}", "{rubric}"))
    config = load_run_config(finished_run, ["judges=[pair]"])
    with pytest.raises(ValidationFailed, match=r"placeholder \{rubric\} is not a key of record 'q1'"):
        await rejudge_run(config, environ={})
    assert ScriptedProvider.history == []


def test_a_folder_that_is_not_a_run_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run folder"):
        load_run_config(tmp_path, ["scorers=[match]"])


@pytest.mark.slow
async def test_prompto_score_command(finished_run: Path, autojump_clock: Any) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    async def prompto_score(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "runner", "score", str(finished_run), *args]
        return await trio.run_process(
            command, cwd=finished_run.parent, env=env, capture_stdout=True, capture_stderr=True, check=False
        )

    # A user's own scorer, in a module of the project (not on PYTHONPATH), named by its conf/scorer/ YAML.
    project = finished_run.parent
    (project / "my_scorers.py").write_text(
        "def short_answer(*, max_words):\n"
        "    def score(record):\n"
        "        return len(str(record['response']).split()) <= max_words\n"
        "    return score\n"
    )
    (project / "conf" / "scorer" / "short.yaml").write_text(
        "_target_: my_scorers.short_answer\nmax_words: 1\n"
    )
    done = await prompto_score("scorers=[loose,short]")
    assert done.returncode == 0, done.stderr.decode()
    assert b"scripted/answerer loose: 1.000 [" in done.stdout
    assert b"scripted/answerer short: 0.500 [" in done.stdout  # "paris" yes, "Berlin, of course" no
    scored = Path(done.stdout.decode().split("records: ", 1)[1].splitlines()[0])
    assert scored.parent == finished_run
    assert scored.name.startswith("completed-scored-")
    assert read_jsonl(scored)[0]["scores"]["loose"] is True

    failed = await prompto_score("scorers=[nope]")
    assert failed.returncode == 2
    assert b"no scorer named 'nope'" in failed.stderr
    assert b"loose" in failed.stderr
