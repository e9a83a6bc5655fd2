"""prompto's commands leave prompto's files, so a prompto workflow runs unchanged: its pandas script,
the pipeline, CSV inputs, and a resume of such a run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from runner.cli._prompto_commands import run_pipeline_main
from tests.cli.prompto_reference import (
    PROMPTO_TIMESTAMP,
    environment,
    openai_responder,
    reference_venv,
    run_ours,
    run_reference,
)
from tests.conftest import REPO_ROOT, read_jsonl, write_jsonl
from tests.fakes.replies import openai_chat
from tests.fakes.server import FakeServer

MODEL = "gpt-4o-mini"
FAST = ["-mq", "60000", "-ma", "1"]
ROWS: list[dict[str, Any]] = [
    {"id": 0, "api": "openai", "model_name": MODEL, "prompt": "zero"},
    {"id": 1, "api": "openai", "model_name": MODEL, "prompt": "one", "parameters": {"temperature": 0}},
    {"id": 2, "api": "openai", "model_name": MODEL, "prompt": "please fail"},
]
SIMULATED = [
    {"id": 1, "api": "simulated", "model_name": "sim-a", "prompt": "hello a"},
    {"id": 2, "api": "simulated", "model_name": "sim-b", "prompt": "hello b"},
]

WORKFLOW = '''
"""A prompto user's analysis, as it was written for prompto's files."""
import glob
import json

try:
    import pandas as pd
except ImportError:  # the same steps with json (this venv has no pandas)
    pd = None

completed_files = sorted(glob.glob("data/output/*/*-completed-*.jsonl"))
input_file = glob.glob("data/output/exp/*-input-exp.jsonl")[0]
if pd is not None:
    completed = pd.concat([pd.read_json(path, lines=True) for path in completed_files if "judge" not in path])
    inputs = pd.read_json(input_file, lines=True)
    merged = inputs.merge(completed[["id", "response", "timestamp_sent"]], on="id")
    sent = pd.to_datetime(merged["timestamp_sent"], format="%d-%m-%Y-%H-%M-%S")
    failed = merged[merged["response"].str.startswith("An unexpected error occurred")]
    failed_ids = sorted(int(i) for i in failed["id"])
    result = {"rows": len(merged), "failed": failed_ids, "dated": int(sent.notna().sum())}
else:
    from datetime import datetime
    def read(path):
        with open(path) as file:
            return [json.loads(line) for line in file]
    completed = {r["id"]: r for path in completed_files if "judge" not in path for r in read(path)}
    merged = [{**row, **completed[row["id"]]} for row in read(input_file) if row["id"] in completed]
    failed = [r["id"] for r in merged if r["response"].startswith("An unexpected error occurred")]
    dated = [datetime.strptime(r["timestamp_sent"], "%d-%m-%Y-%H-%M-%S") for r in merged]
    result = {"rows": len(merged), "failed": sorted(failed), "dated": len(dated)}
print(json.dumps({**result, "files": len(completed_files)}))
'''


def project(root: Path, rows: list[dict[str, Any]] = ROWS) -> Path:
    (root / "data" / "input").mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "data" / "input" / "exp.jsonl", rows)
    return root


def workflow(root: Path, python: str) -> dict[str, Any]:
    script = root / "analysis.py"
    script.write_text(WORKFLOW)
    done = subprocess.run([python, str(script)], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def run_folder(root: Path, name: str = "exp") -> Path:
    [summary] = (root / "data" / "output" / name / ".prompto-run").glob("*/summary.json")
    return summary.parent


def test_a_pandas_workflow_written_for_prompto_runs_unchanged(tmp_path: Path) -> None:
    expected = {"rows": 3, "failed": [2], "dated": 3, "files": 1}
    with FakeServer() as server:
        server.responder = openai_responder
        ours = project(tmp_path / "ours")
        result = run_ours(
            "run_experiment", "-f", "data/input/exp.jsonl", cwd=ours, env=environment(server.base_url, ours)
        )
        assert result.returncode == 0, result.stderr
        assert workflow(ours, sys.executable) == expected  # json, as this venv has no pandas
        venv = reference_venv()
        if venv is None:
            return
        theirs = project(tmp_path / "theirs")
        env = environment(server.base_url, theirs)
        result = run_reference(
            "prompto_run_experiment", "-f", "data/input/exp.jsonl", *FAST, cwd=theirs, env=env
        )
        assert result.returncode == 0, result.stderr
    python = str(venv / "bin" / "python")  # the venv with prompto has pandas
    assert workflow(ours, python) == workflow(theirs, python) == expected


def test_a_resume_of_such_a_run_writes_prompto_s_files_again(tmp_path: Path) -> None:
    root = project(tmp_path)
    with FakeServer() as server:
        server.responder = openai_responder
        env = environment(server.base_url, root)
        first = run_ours("run_experiment", "-f", "data/input/exp.jsonl", *FAST, cwd=root, env=env)
        assert first.returncode == 0, first.stderr
        folder = run_folder(root)
        assert f"prompto-run resume={folder}" in first.stdout + first.stderr  # one prompt failed
        server.responder = lambda request: openai_chat("RECOVERED")
        resumed = subprocess.run(
            [sys.executable, "-m", "runner", f"resume={folder}"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert resumed.returncode == 0, resumed.stderr
    output = root / "data" / "output" / "exp"
    [completed] = output.glob("*-completed-exp.jsonl")
    assert completed.name == f"{folder.name}-completed-exp.jsonl"
    responses = {record["id"]: record["response"] for record in read_jsonl(completed)}
    assert responses == {0: "ZERO", 1: "ONE", 2: "RECOVERED"}
    assert [path.name for path in output.glob("*-input-exp.jsonl")] == [f"{folder.name}-input-exp.jsonl"]
    assert not (root / "data" / "input" / "exp.jsonl").exists()


def test_the_pipeline_moves_each_file_and_leaves_prompto_s_files(workspace: Path) -> None:
    project(workspace, SIMULATED)

    assert run_pipeline_main(["--once", *FAST, "pipeline.stable_for_s=0"]) == 0

    output = workspace / "data" / "output" / "exp"
    names = sorted(re.sub(PROMPTO_TIMESTAMP, "T", path.name) for path in output.iterdir())
    assert names == [".prompto-run", "T-completed-exp.jsonl", "T-input-exp.jsonl", "T-log-exp.txt"]
    assert not (workspace / "data" / "input" / "exp.jsonl").exists()
    [completed] = output.glob("*-completed-exp.jsonl")
    assert sorted(record["id"] for record in read_jsonl(completed)) == [1, 2]
    assert all("parameters" not in record and "usage" not in record for record in read_jsonl(completed))
    assert (run_folder(workspace) / "completed.jsonl").is_file()  # the run folder, beside them


def test_a_csv_input_is_moved_and_its_prompts_written_as_jsonl(tmp_path: Path) -> None:
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "data" / "input" / "exp.csv").write_text(
        "id,api,model_name,prompt,parameters-temperature\n1,simulated,sim-a,hello,0.5\n2,simulated,sim-a,bye,\n"
    )
    code = "from runner.cli._prompto_commands import run_experiment; run_experiment()"
    result = subprocess.run(
        [sys.executable, "-c", code, "-f", "data/input/exp.csv", *FAST, "--output-as-csv"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    output = tmp_path / "data" / "output" / "exp"
    [moved] = output.glob("*-input-exp.csv")
    assert moved.read_text().startswith("id,api,model_name,prompt,parameters-temperature\n")
    assert not (tmp_path / "data" / "input" / "exp.csv").exists()
    [as_jsonl] = output.glob("*-input-exp.jsonl")
    assert [row["prompt"] for row in read_jsonl(as_jsonl)] == ["hello", "bye"]
    [completed_csv] = output.glob("*-completed-exp.csv")
    assert completed_csv.read_text().splitlines()[0].startswith("id,api,model_name,prompt,")


def test_prompto_run_s_own_command_keeps_its_own_folder(tmp_path: Path) -> None:
    project(tmp_path, SIMULATED)
    result = subprocess.run(
        [sys.executable, "-m", "runner", "experiment.file=exp.jsonl", "max_queries=6000"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "input" / "exp.jsonl").is_file()
    assert not (tmp_path / "data" / "output").exists()
    assert list(tmp_path.glob("outputs/exp/*/completed.jsonl"))
