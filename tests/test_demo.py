"""The Quickstart's demo end to end: the bundled local model, offline, scored."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import read_jsonl, run_installed

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="needs the local extra: pip install -e '.[local]'",
    ),
]


def test_demo_runs_on_the_bundled_model_and_ends_with_a_score(tmp_path: Path) -> None:
    result = run_installed(
        "prompto-run", "+experiment=demo", "progress.mode=off", cwd=tmp_path
    )  # an empty folder

    assert result.returncode == 0, result.stderr
    [summary_file] = tmp_path.glob("outputs/demo/*/summary.json")
    records = read_jsonl(summary_file.parent / "completed.jsonl")
    assert len(records) == 40
    assert all(r["error"] is None and r["model_name"] == "gemma-3-270m" for r in records)
    by_id = {r["id"]: r for r in records}
    assert "Paris" in by_id["capital-france"]["response"]
    assert by_id["capital-france"]["scores"] == {"includes": True}
    includes = json.loads(summary_file.read_text())["models"]["llamacpp/gemma-3-270m"]["scores"]["includes"]
    assert includes["count"] == 40
    assert includes["rate"] >= 0.7  # 34/40 at temperature 0 when measured; a base model, honestly scored
    assert "includes" in result.stdout
