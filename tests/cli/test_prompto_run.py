"""``prompto-run`` as a user runs it: errors before sending, sweeps, Ctrl-C, rerun."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, interrupt_once_written, read_jsonl, run_cli, start_python, write_jsonl

DATA = f"data_folder={REPO_ROOT / 'data'}"


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("outputs/**/summary.json"))


def test_typo_in_a_yaml_key_exits_2_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "typo.yaml").write_text(
        "# @package _global_\nexperiment:\n  file: capitals.jsonl\nmax_querys: 5\n"
    )

    result = run_cli("+experiment=typo", DATA, cwd=tmp_path)

    assert result.returncode == 2
    assert "Unknown key `max_querys`. Did you mean `max_queries`?" in result.stderr
    assert "Nothing was sent." in result.stderr
    assert not list(tmp_path.glob("outputs/**/completed.jsonl"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("max_querys=5", "Unknown key `max_querys` on the command line. Did you mean `max_queries`?"),
        (
            "experiment.fiel=x.jsonl",
            "Unknown key `experiment.fiel` on the command line. Did you mean `experiment.file`?",
        ),
        ("+experiment=nosuch", "Could not find 'experiment/nosuch'"),
    ],
)
def test_a_bad_command_line_exits_2_naming_the_fix(tmp_path: Path, override: str, message: str) -> None:
    result = run_cli("+experiment=capitals", DATA, override, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Nothing was sent." in result.stderr
    assert "HYDRA_FULL_ERROR" not in result.stderr  # ours, not Hydra's advice to append the key
    assert not (tmp_path / "outputs").exists()


def test_negative_rate_exits_2(tmp_path: Path) -> None:
    result = run_cli("+experiment=capitals", DATA, "max_queries=-5", cwd=tmp_path)

    assert result.returncode == 2
    assert "`max_queries`: Input should be greater than 0 (got -5)" in result.stderr


def test_missing_prompt_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("experiment.file=nowhere.jsonl", cwd=tmp_path)

    assert result.returncode == 2
    assert "experiment.file 'nowhere.jsonl' was not found in data/input/" in result.stderr


def test_no_experiment_says_how_to_choose_one(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path)

    assert result.returncode == 2
    assert "choose an experiment with +experiment=NAME" in result.stderr


def test_bad_prompt_file_sends_nothing(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "p.jsonl", [{"id": 1, "prompt": "x", "api": "simulated", "model_name": "m"}, {"id": 1}]
    )

    result = run_cli(f"experiment.file={tmp_path / 'p.jsonl'}", cwd=tmp_path)

    assert result.returncode == 2
    assert "line 2: duplicate id '1'" in result.stderr
    [run_dir] = [p.parent for p in tmp_path.glob("outputs/*/*/input-p.jsonl")]
    assert not (run_dir / "completed.jsonl").exists()


def test_multirun_sweep_runs_one_job_per_model(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "+experiment=capitals",
        "model=simulated_fast,simulated_slow",
        DATA,
        "max_queries=6000",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    jobs = run_dirs(tmp_path)
    assert [job.name for job in jobs] == ["0", "1"]
    models = set()
    for job in jobs:
        records = read_jsonl(job / "completed.jsonl")
        assert len(records) == 20
        assert all(r["error"] is None for r in records)
        models |= {r["model_name"] for r in records}
        assert (job / ".hydra" / "overrides.yaml").is_file()
    assert models == {"simulated-fast", "simulated-slow"}


def test_rerun_repeats_a_run_from_its_folder_alone(tmp_path: Path) -> None:
    prompts = tmp_path / "mine.jsonl"
    write_jsonl(
        prompts, [{"id": i, "prompt": f"p{i}", "api": "simulated", "model_name": "m"} for i in range(3)]
    )
    first = run_cli(f"experiment.file={prompts}", "max_queries=6000", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    [original] = run_dirs(tmp_path)
    prompts.unlink()  # the folder alone must be enough

    again = run_cli(f"rerun={original}", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    [rerun_dir] = [d for d in run_dirs(tmp_path) if d != original]
    strip = ("timestamp_sent", "latency_s")
    before = [
        {k: v for k, v in r.items() if k not in strip} for r in read_jsonl(original / "completed.jsonl")
    ]
    after = [
        {k: v for k, v in r.items() if k not in strip} for r in read_jsonl(rerun_dir / "completed.jsonl")
    ]
    assert sorted(after, key=lambda r: r["id"]) == sorted(before, key=lambda r: r["id"])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("stop", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_a_stop_signal_keeps_every_finished_record_and_says_how_many(
    tmp_path: Path, stop: signal.Signals, status: int
) -> None:
    # SLURM at its time limit, `docker stop` and systemd send SIGTERM: handled exactly like Ctrl-C,
    # and the exit status says the run did not finish, so `prompto-run ... && next-step` stops there.
    prompts = tmp_path / "slow.jsonl"
    write_jsonl(
        prompts, [{"id": i, "prompt": f"p{i}", "api": "simulated", "model_name": "m"} for i in range(200)]
    )
    process = start_python("-m", "runner", f"experiment.file={prompts}", "max_queries=600", cwd=tmp_path)
    stdout, stderr = interrupt_once_written(
        process, tmp_path, "outputs/*/*/completed.jsonl", records=5, stop=stop
    )

    assert process.returncode == status, stderr
    [run_dir] = run_dirs(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_jsonl(run_dir / "completed.jsonl")
    assert summary["status"] == "interrupted"
    assert summary["stopped_by"] == stop.name
    assert (run_dir / "report.html").is_file()
    assert f"prompto-run resume={run_dir}" in stdout
    assert 5 <= summary["finished"] == len(records) < 200
    assert len({r["id"] for r in records}) == len(records)
    assert f"interrupted, {len(records)}/200 prompts" in stdout
