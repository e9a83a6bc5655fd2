"""prompto's commands and flags give the same runs as the equivalent ``prompto-run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cli._overrides import override
from runner.cli._prompto_commands import check_experiment_main, run_pipeline_main
from runner.cli._prompto_limits import translate_max_queries
from runner.config._compose import ConfigError
from tests.conftest import REPO_ROOT, read_jsonl, run_cli, write_jsonl

ROWS = [
    {"id": 1, "api": "simulated", "model_name": "sim-a", "prompt": "hello a"},
    {"id": 2, "api": "simulated", "model_name": "sim-b", "prompt": "hello b"},
    {"id": 3, "api": "simulated", "model_name": "sim-c", "prompt": "hello c", "group": "judges"},
    {"id": 4, "api": "simulated", "model_name": "sim-a", "prompt": "again a", "parameters": {"seed": 3}},
]
MAX_QUERIES_JSON = {"simulated": {"default": 600, "sim-b": 1200}, "judges": 300}
PROMPTO_FLAGS = ["-mq", "120", "-ma", "3", "-p", "-mqj", "mq.json", "-e", "keys.env"]
PROMPTO_RUN_OVERRIDES = [
    "max_queries=120",
    "max_attempts=3",
    "parallel=true",
    "env_file=keys.env",
    "++rate_limits.apis.simulated.max_queries=600",
    "++rate_limits.apis.simulated.models.sim-b=1200",
    "++rate_limits.groups.judges=300",
]
EXPECTED_QUEUES = {"simulated": 2, "simulated/sim-b": 1, "group:judges": 1}


def project(root: Path) -> Path:
    (root / "data" / "input").mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "data" / "input" / "exp.jsonl", ROWS)
    (root / "mq.json").write_text(json.dumps(MAX_QUERIES_JSON))
    return root


def run_prompto(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One of prompto's commands, from this checkout's sources."""
    code = f"from runner.cli._prompto_commands import {command}; {command}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        check=False,
    )


def outcome(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Records without their timings, by id, and each queue's planned prompts."""
    records = sorted(read_jsonl(run_dir / "completed.jsonl"), key=lambda record: record["id"])
    for record in records:
        del record["timestamp_sent"], record["latency_s"]
    summary = json.loads((run_dir / "summary.json").read_text())
    return records, {key: queue["planned"] for key, queue in summary["queues"].items()}


@pytest.fixture(scope="module")
def prompto_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The reference: ``prompto-run`` with the overrides equivalent to PROMPTO_FLAGS."""
    root = project(tmp_path_factory.mktemp("prompto-run"))
    result = run_cli("experiment.file=exp.jsonl", *PROMPTO_RUN_OVERRIDES, cwd=root)
    assert result.returncode == 0, result.stderr
    [summary] = root.glob("outputs/exp/*/summary.json")
    return outcome(summary.parent)


def test_prompto_run_experiment_runs_as_prompto_run_and_keeps_its_config(
    tmp_path: Path, prompto_run: tuple[list[dict[str, Any]], dict[str, int]]
) -> None:
    project(tmp_path)

    result = run_prompto("run_experiment", "--file", "exp.jsonl", *PROMPTO_FLAGS, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    [run_dir] = [p.parent for p in tmp_path.glob("data/output/exp/.prompto-run/*/summary.json")]
    assert outcome(run_dir) == prompto_run
    assert outcome(run_dir)[1] == EXPECTED_QUEUES
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert config["rate_limits"] == {
        "apis": {"simulated": {"max_queries": 600, "models": {"sim-b": 1200}}, "judges": 300},
        "groups": {"simulated": 600, "judges": 300},
        "shared": None,
    }
    assert (config["max_queries"], config["max_attempts"], config["parallel"]) == (120, 3, True)
    assert "- experiment.file='exp.jsonl'" in (run_dir / ".hydra" / "overrides.yaml").read_text()


def test_prompto_run_pipeline_runs_each_file_as_prompto_run_would(
    workspace: Path, prompto_run: tuple[list[dict[str, Any]], dict[str, int]]
) -> None:
    project(workspace)

    status = run_pipeline_main([*PROMPTO_FLAGS, "--once", "pipeline.stable_for_s=0"])

    assert status == 0
    [run_dir] = [p.parent for p in workspace.glob("data/output/exp/.prompto-run/*/summary.json")]
    assert outcome(run_dir) == prompto_run
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["rate_limits"]["apis"]["simulated"]["models"]["sim-b"]["max_queries"] == 1200


def test_prompto_check_experiment_reports_as_prompto_check_and_keeps_a_log(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(workspace)
    outside = write_jsonl(workspace / "new.jsonl", ROWS)

    status = check_experiment_main(["-f", "new.jsonl", *PROMPTO_FLAGS, "-l", "check.log", "-m"])

    out = capsys.readouterr().out
    assert status == 0
    assert "new (new.jsonl): runnable, 4 prompts in 3 queue(s)" in out
    assert "  simulated/sim-b" in out
    assert "  group:judges" in out
    assert out.rstrip().endswith("moved new.jsonl to data/input/")
    assert (workspace / "check.log").read_text() == out
    assert not outside.exists()
    assert (workspace / "data" / "input" / "new.jsonl").is_file()


def test_an_invalid_file_is_not_moved_and_exits_2(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = workspace / "bad.jsonl"
    bad.write_text('{"id": 1}\n')

    assert check_experiment_main(["-f", "bad.jsonl", "-m"]) == 2
    assert "line 1: no 'prompt' key" in capsys.readouterr().err
    assert bad.is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"openai": -5}', "mq.json: openai: a rate must be a positive number"),
        ('{"openai": {"gpt-4o": "fast"}}', "mq.json: openai.gpt-4o: a rate must be a positive number"),
        ("[1, 2]", "mq.json: must be a JSON object of API or group names"),
        ("{oops", "mq.json' is not a readable JSON file"),
    ],
)
def test_a_bad_max_queries_json_exits_2_before_anything_runs(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    project(workspace)
    (workspace / "mq.json").write_text(content)

    assert run_pipeline_main(["-mqj", "mq.json", "--once"]) == 2
    assert message in capsys.readouterr().err
    assert (workspace / "data" / "input" / "exp.jsonl").is_file()


def test_scorers_flag_scores_every_record_as_prompto_does(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "prompt": "Paris", "expected_response": "simulated-fast: Paris"},
        {"id": "b", "prompt": "Rome", "expected_response": "Lyon"},
    ]
    write_jsonl(tmp_path / "scored.jsonl", rows)

    result = run_prompto(
        "run_experiment",
        "-f",
        "scored.jsonl",
        "--scorers",
        "match,includes",
        "model=simulated_fast",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    [run_dir] = [p.parent for p in tmp_path.glob("data/output/scored/.prompto-run/*/summary.json")]
    scores = {r["id"]: r["scores"] for r in read_jsonl(run_dir / "completed.jsonl")}
    assert scores == {"a": {"match": True, "includes": True}, "b": {"match": False, "includes": False}}


def test_unknown_prompto_flags_are_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_pipeline_main(["--judge", "gpt"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --judge" in capsys.readouterr().err


def test_prompto_rate_json_translates_as_prompto_reads_it() -> None:
    assert translate_max_queries(
        {"gemini": {"default": 30, "gemini-1.5-pro": 20}, "openai": {"gpt4": 10}, "ollama": 4, "group-1": 5}
    ) == {
        "apis": {
            "gemini": {"max_queries": 30, "models": {"gemini-1.5-pro": 20}},
            "openai": {"max_queries": None, "models": {"gpt4": 10}},
            "ollama": 4,
            "group-1": 5,
        },
        "groups": {"gemini": 30, "ollama": 4, "group-1": 5},
    }


def test_overrides_carry_model_names_hydra_would_otherwise_misread() -> None:
    limits = {"apis": {"ollama": {"models": {"llama3:8b": 5, "models/gemini-1.5 pro,x": 2}}}}
    assert override("rate_limits", limits, prefix="++") == (
        r"++rate_limits={apis:{ollama:{models:{llama3\:8b:5,models/gemini-1.5\ pro\,x:2}}}}"
    )
    assert override("experiment.file", "it's here/a b.jsonl") == r"experiment.file='it\'s here/a b.jsonl'"
    with pytest.raises(ConfigError, match="Hydra would read"):
        override("rate_limits", {"apis": {"true": 5}})


def prompto_folders(root: Path) -> None:
    """A prompto judge folder (two judges, two templates) and rephrase folder (one model, two templates)."""
    judge_settings = {
        "yes-judge": {
            "api": "simulated",
            "model_name": "judge-1",
            "parameters": {"response_template": "Yes."},
        },
        "no-judge": {"api": "simulated", "model_name": "judge-2", "parameters": {"response_template": "no"}},
    }
    (root / "judge").mkdir()
    (root / "judge" / "settings.json").write_text(json.dumps(judge_settings))
    (root / "judge" / "template.txt").write_text(
        "Q: {INPUT_PROMPT}\nA: {OUTPUT_RESPONSE}\nSay {{yes}} or no."
    )
    (root / "judge" / "short.txt").write_text("{OUTPUT_RESPONSE}")
    (root / "rephrase").mkdir()
    rephraser = {
        "api": "simulated",
        "model_name": "reph",
        "parameters": {"response_template": "Pray, {prompt}"},
    }
    (root / "rephrase" / "settings.json").write_text(json.dumps({"rephraser": rephraser, "other": rephraser}))
    (root / "rephrase" / "template.txt").write_text("tell me {INPUT_PROMPT}\n\nsay {INPUT_PROMPT}\n")


def test_judge_and_rephrase_folders_run_as_prompto_runs_them(tmp_path: Path) -> None:
    prompto_folders(tmp_path)
    write_jsonl(tmp_path / "exp.jsonl", [{"id": "a", "prompt": "hi"}, {"id": "b", "prompt": "bye"}])

    result = run_prompto(
        "run_experiment",
        *("-f", "exp.jsonl", "-jf", "judge", "-jt", "template.txt,short.txt", "-j", "yes-judge,no-judge"),
        *("-rf", "rephrase", "-r", "rephraser", "--remove-original", "model=simulated_fast"),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    [run_dir] = [p.parent for p in tmp_path.glob("data/output/exp/.prompto-run/*/summary.json")]
    records = {record["id"]: record for record in read_jsonl(run_dir / "completed.jsonl")}
    assert sorted(records) == ["a-r1", "a-r2", "b-r1", "b-r2"]  # --remove-original: no "a", no "b"
    assert records["a-r2"]["prompt"] == "Pray, say hi"
    assert records["a-r2"]["scores"] == {
        "template/judge-1": "Yes.",  # prompto keeps the judge's reply as it is
        "template/judge-2": "no",
        "short/judge-1": "Yes.",
        "short/judge-2": "no",
    }
    judge_prompts = {record["prompt"] for record in read_jsonl(run_dir / "judge.jsonl")}
    assert "Q: Pray, tell me hi\nA: simulated-fast: Pray, tell me hi\nSay {yes} or no." in judge_prompts
    assert "simulated-fast: Pray, say bye" in judge_prompts
    assert "judges=[{name:''template''" in (run_dir / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-j", "yes-judge"], "--judge-folder and --judge go together"),
        (["-jf", "judge", "-j", "maybe-judge"], "'maybe-judge' is not in judge/settings.json"),
        (
            ["-jf", "judge", "-jt", "gone.txt", "-j", "yes-judge"],
            "--judge-templates: cannot read judge/gone.txt",
        ),
        (["-jf", "nowhere", "-j", "yes-judge"], "nowhere/settings.json not found"),
        (["-rf", "rephrase", "-r", "rephraser,other"], "prompto-run rephrases with one model per run"),
        (["-rf", "rephrase", "-r", "rephraser", "--only-rephrase"], "--only-rephrase: prompto-run sends"),
    ],
)
def test_bad_judge_or_rephrase_flags_exit_2_and_nothing_runs(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    prompto_folders(tmp_path)
    write_jsonl(tmp_path / "exp.jsonl", [{"id": "a", "prompt": "hi"}])

    result = run_prompto("run_experiment", "-f", "exp.jsonl", *flags, "model=simulated_fast", cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_prompto_check_experiment_checks_the_judges_too(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompto_folders(workspace)
    settings = json.loads((workspace / "judge" / "settings.json").read_text())
    settings["yes-judge"]["api"] = "no-such-api"
    (workspace / "judge" / "settings.json").write_text(json.dumps(settings))
    write_jsonl(workspace / "exp.jsonl", [{"id": "a", "prompt": "hi"}])

    status = check_experiment_main(
        ["-f", "exp.jsonl", "-jf", "judge", "-j", "yes-judge", "model=simulated_fast"]
    )

    assert status == 2
    assert "no-such-api" in capsys.readouterr().err
