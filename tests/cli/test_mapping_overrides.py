"""A mapping of the user's own keys given whole on the command line (issue 18's last bullet)."""

from __future__ import annotations

from pathlib import Path

from runner.cli._overrides import with_mapping_overrides
from tests.conftest import read_jsonl, run_installed, write_jsonl


def test_a_whole_parameters_mapping_on_the_command_line_is_applied(tmp_path: Path) -> None:
    (tmp_path / "data" / "input").mkdir(parents=True)
    write_jsonl(tmp_path / "data" / "input" / "x.jsonl", [{"id": "a", "prompt": "hi"}])
    done = run_installed(
        "prompto-run",
        "experiment.file=x.jsonl",
        "experiment.api=simulated",
        "experiment.model_name=m",
        "experiment.parameters={max_tokens:24}",
        "report.auto=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = read_jsonl(tmp_path / "run" / "completed.jsonl")
    assert record["parameters"] == {"max_tokens": 24}


def test_only_free_form_mappings_are_rewritten() -> None:
    argv = [
        "prompto-run",
        "experiment.parameters={max_tokens:24}",
        "endpoints.openai={base_url:http://x}",
        "+experiment.parameters={a:1}",
        "batch={enabled:true}",
        "experiment.file=x.jsonl",
    ]
    assert with_mapping_overrides(argv) == [
        "prompto-run",
        "++experiment.parameters={max_tokens:24}",
        "++endpoints.openai={base_url:http://x}",
        "+experiment.parameters={a:1}",
        "batch={enabled:true}",
        "experiment.file=x.jsonl",
    ]


def test_a_key_of_a_mapping_that_is_not_there_says_how_to_add_it(tmp_path: Path) -> None:
    (tmp_path / "data" / "input").mkdir(parents=True)
    write_jsonl(tmp_path / "data" / "input" / "x.jsonl", [{"id": "a", "prompt": "hi"}])
    refused = run_installed(
        "prompto-run", "experiment.file=x.jsonl", "experiment.parameters.max_tokens=24", cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "Did you mean `experiment.parameters`?" not in refused.stderr
    assert "+experiment.parameters.max_tokens=" in refused.stderr


def test_resume_accepts_the_runs_own_command_line_and_names_a_real_change(tmp_path: Path) -> None:
    (tmp_path / "data" / "input").mkdir(parents=True)
    write_jsonl(tmp_path / "data" / "input" / "x.jsonl", [{"id": "a", "prompt": "hi"}])
    command = ("experiment.file=x.jsonl", "experiment.api=simulated", "experiment.model_name=m")
    first = run_installed("prompto-run", *command, "report.auto=false", "hydra.run.dir=run", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_installed("prompto-run", *command, "progress.mode=off", "resume=run", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr  # up-arrow, resume= added: nothing changed
    changed = run_installed(
        "prompto-run", *command[:2], "experiment.model_name=other", "resume=run", cwd=tmp_path
    )
    assert changed.returncode == 2
    assert "`experiment.model_name` (saved: 'm', given: 'other')" in changed.stderr
