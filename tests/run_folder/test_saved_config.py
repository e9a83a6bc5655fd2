"""One loader of a run folder's saved config: every command reads a folder the same way, a folder that
``rerun=`` made included (its saved config only names the folder it repeated)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.run_folder._saved_config import saved_overrides
from tests.run_folder.installed import answers, run_command

PROMPTS = [{"id": f"p{i}", "prompt": f"q{i}", "expected_response": f"mine: q{i}"} for i in range(4)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: a prompt file and a model of their own in ./conf (not the defaults)."""
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text(
        "api: simulated\nmodel_name: mine\nendpoint:\n  options: {latency_s: 0.01}\n"
    )
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    first = run_command(
        "prompto-run",
        "experiment.file=prompts.jsonl",
        "model=mine",
        "max_queries=60000",
        "hydra.run.dir=first",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    repeated = run_command("prompto-run", "rerun=first", "hydra.run.dir=second", cwd=tmp_path)
    assert repeated.returncode == 0, repeated.stderr
    return tmp_path


def test_a_folder_made_with_rerun_can_be_repeated_again(project: Path) -> None:
    result = run_command("prompto-run", "rerun=second", "hydra.run.dir=third", cwd=project)

    assert result.returncode == 0, result.stderr
    assert answers(project / "third" / "completed.jsonl") == answers(project / "first" / "completed.jsonl")
    assert {r["model_name"] for r in answers(project / "third" / "completed.jsonl").values()} == {"mine"}


def test_a_folder_made_with_rerun_can_be_resumed_with_its_own_settings(project: Path) -> None:
    completed = project / "second" / "completed.jsonl"
    completed.write_text("".join(completed.read_text().splitlines(keepends=True)[:2]))  # two were lost

    result = run_command("prompto-run", "resume=second", cwd=project)

    assert result.returncode == 0, result.stderr
    assert answers(completed) == answers(project / "first" / "completed.jsonl")
    assert json.loads((project / "second" / "summary.json").read_text())["resumed"]["kept"] == 2


def test_a_folder_made_with_rerun_can_be_scored(project: Path) -> None:
    result = run_command("prompto-score", "second", "scorers=[match]", cwd=project)

    assert result.returncode == 0, result.stderr
    [scored] = (project / "second").glob("completed-scored-*.jsonl")
    assert {r["model_name"]: r["scores"]["match"] for r in answers(scored).values()} == {"mine": True}


def test_a_folder_whose_repeated_run_is_gone_says_so(project: Path) -> None:
    (project / "first").rename(project / "moved")

    result = run_command("prompto-score", "second", "scorers=[match]", cwd=project)

    assert result.returncode == 2
    assert "second was made with rerun=first, whose .hydra/config.yaml is gone" in result.stderr


API_SCRIPT = """
import runner
config = runner.load_config(
    None,
    ["experiment.file=prompts.jsonl", "model=mine", "max_queries=60000", "scorers=[match]"],
    output_dir="api_run",
)
print(runner.run(config).summary["ok"])
"""


def test_a_python_api_folder_is_repeated_by_the_installed_prompto_run(project: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-c", API_SCRIPT],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout.split()[-1] == str(len(PROMPTS))
    (project / "prompts.jsonl").unlink()  # the folder alone must be enough

    result = run_command("prompto-run", "rerun=api_run", "hydra.run.dir=api_rerun", cwd=project)

    assert result.returncode == 0, result.stderr
    again = answers(project / "api_rerun" / "completed.jsonl")
    assert again == answers(project / "api_run" / "completed.jsonl")
    assert {(r["model_name"], r["scores"]["match"]) for r in again.values()} == {("mine", True)}


def test_overrides_are_read_as_the_yaml_hydra_wrote(project: Path) -> None:
    (project / "first" / ".hydra" / "overrides.yaml").write_text(
        "- experiment.file=prompts.jsonl\n- 'judges=[{name: ''tone'', template: ''a: b''}]'\n"
    )

    assert saved_overrides(project / "first") == [
        "experiment.file=prompts.jsonl",
        "judges=[{name: 'tone', template: 'a: b'}]",
    ]
    assert saved_overrides(project / "nowhere") == []
