"""Every flag of prompto 0.2.1's three main commands is accepted (or refused with a reason, exit 2).

The released flags are listed here from prompto 0.2.1's ``scripts/run_experiment.py``,
``run_pipeline.py`` and ``check_experiment.py``; with ``PROMPTO_REFERENCE`` set to the ``bin/``
folder of an environment holding prompto 0.2.1 (``pip install prompto==0.2.1``), each command's
``--help`` there is read too, so that a flag missing from the list is found.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.prompto_reference import reference_bin
from tests.conftest import run_installed, write_jsonl

RELEASED_FLAGS = {
    "prompto_run_experiment": [
        "--file", "-f", "--env-file", "-e", "--move-to-input", "-m", "--data-folder", "-d",
        "--max-queries", "-mq", "--max-attempts", "-ma", "--parallel", "-p", "--max-queries-json", "-mqj",
        "--judge-folder", "-l", "--templates", "-t", "--judge", "-j", "--scorer", "-s", "--output-as-csv",
    ],
    "prompto_run_pipeline": [
        "--data-folder", "-d", "--env-file", "-e", "--max-queries", "-mq", "--max-attempts", "-ma",
        "--parallel", "-p", "--max-queries-json", "-mqj",
    ],
    "prompto_check_experiment": [
        "--file", "-f", "--env-file", "-e", "--log-file", "-l", "--data-folder", "-d",
        "--move-to-input", "-m",
    ],
}  # fmt: skip
MAIN_FLAGS = {  # prompto's main branch, after 0.2.1
    "prompto_run_experiment": [
        "--judge-folder", "-jf", "--judge-templates", "-jt", "--rephrase-folder", "-rf",
        "--rephrase-templates", "-rt", "--rephrase-model", "-r", "--remove-original", "-ro",
    ],
}  # fmt: skip
REFUSED = {"--only-rephrase": "same run", "--rephrase-parser": "parse: list"}
ROWS = [
    {"id": i, "api": "simulated", "model_name": "sim-a", "prompt": f"hello {i}", "expected_response": "x"}
    for i in range(4)
]


def _flags_in_help(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", text))


@pytest.mark.parametrize("command", sorted(RELEASED_FLAGS))
def test_help_lists_every_released_and_main_flag(command: str, tmp_path: Path) -> None:
    result = run_installed(command, "--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    missing = {*RELEASED_FLAGS[command], *MAIN_FLAGS.get(command, [])} - _flags_in_help(result.stdout)
    assert not missing


@pytest.mark.parametrize("command", sorted(RELEASED_FLAGS))
def test_prompto_0_2_1s_own_help_names_no_flag_we_lack(command: str, tmp_path: Path) -> None:
    reference = reference_bin()
    if not reference or not (Path(reference) / command).is_file():
        pytest.skip("PROMPTO_REFERENCE (bin/ of an environment with prompto 0.2.1) is not set")
    theirs = subprocess.run(
        [str(Path(reference) / command), "--help"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    ours = run_installed(command, "--help", cwd=tmp_path)

    assert _flags_in_help(theirs.stdout) - {"-h", "--help"} <= _flags_in_help(ours.stdout)
    assert _flags_in_help(theirs.stdout) - {"-h", "--help"} == set(RELEASED_FLAGS[command])


def _project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "exp.jsonl", ROWS)
    (root / "data" / "input").mkdir(parents=True)
    judge = root / "judge"
    judge.mkdir()
    (judge / "settings.json").write_text(
        json.dumps({"j1": {"api": "simulated", "model_name": "judge-sim", "parameters": {}}})
    )
    (judge / "a.txt").write_text("Rate {OUTPUT_RESPONSE} to {INPUT_PROMPT}")
    (judge / "b.txt").write_text("Again: {OUTPUT_RESPONSE}")
    (root / "mq.json").write_text(json.dumps({"simulated": 60000}))
    (root / "keys.env").write_text("UNUSED=1\n")
    return root


def _saved_config(root: Path) -> dict[str, Any]:
    [config] = root.rglob(".hydra/config.yaml")
    loaded = yaml.safe_load(config.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_every_released_flag_of_prompto_run_experiment_runs_in_its_short_form(tmp_path: Path) -> None:
    root = _project(tmp_path)
    flags = ["-f", "exp.jsonl", "-e", "keys.env", "-m", "-d", "data", "-mq", "60000", "-ma", "2", "-p"]
    flags += ["-mqj", "mq.json", "-l", "judge", "-t", "a.txt, b.txt", "-j", "j1", "-s", "match"]

    result = run_installed("prompto_run_experiment", *flags, "--output-as-csv", cwd=root)

    assert result.returncode == 0, result.stderr
    config = _saved_config(root)
    assert [judge["name"] for judge in config["judges"]] == ["a", "b"]
    assert [judge["models"][0]["model_name"] for judge in config["judges"]] == ["judge-sim"] * 2
    assert config["scorers"] == ["match"]
    assert (config["max_queries"], config["max_attempts"], config["parallel"]) == (60000, 2, True)
    assert config["env_file"] == "keys.env"
    assert not (root / "exp.jsonl").exists()  # -m: moved into data/input/ first


def test_main_names_and_0_2_1_names_mean_the_same_judges(tmp_path: Path) -> None:
    configs = []
    for names in (
        ["-l", "judge", "-t", "a.txt,b.txt"],
        ["--judge-folder", "judge", "--judge-templates", "a.txt,b.txt"],
    ):
        root = _project(tmp_path / names[0].strip("-"))
        result = run_installed(
            "prompto_run_experiment", "-f", "exp.jsonl", *names, "-j", "j1", "-mq", "60000", cwd=root
        )
        assert result.returncode == 0, result.stderr
        configs.append(_saved_config(root)["judges"])

    assert configs[0] == configs[1]


@pytest.mark.parametrize(("flag", "reason"), sorted(REFUSED.items()))
def test_a_flag_that_cannot_work_says_why_and_exits_2(flag: str, reason: str, tmp_path: Path) -> None:
    root = _project(tmp_path)
    value = ["list"] if flag == "--rephrase-parser" else []

    result = run_installed("prompto_run_experiment", "-f", "exp.jsonl", flag, *value, cwd=root)

    assert result.returncode == 2
    assert flag in result.stderr
    assert reason in result.stderr


def test_check_experiments_l_stays_the_log_file(tmp_path: Path) -> None:
    root = _project(tmp_path)

    result = run_installed("prompto_check_experiment", "-f", "exp.jsonl", "-l", "check.log", cwd=root)

    assert result.returncode == 0, result.stderr
    assert "runnable" in (root / "check.log").read_text()
