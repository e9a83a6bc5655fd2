"""The installed ``prompto-run`` from a user's own project: its ``conf/experiment/``, ``conf/model/``
and sweeps across its models, on every launcher preset, as the README tells users to work."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from runner.cli._prompto_run import with_user_conf
from tests._dist_support import LAUNCHER_PRESETS, has_module, read_records, write_models, write_prompts
from tests.conftest import run_installed

MODELS = ["sim_a", "sim_b"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: its own experiment and two models under ``conf/``, and a prompt file."""
    write_models(tmp_path / "conf", MODELS)
    (tmp_path / "conf" / "experiment").mkdir()
    (tmp_path / "conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nexperiment:\n  file: p.jsonl\nmax_queries: 6000\n"
    )
    write_prompts(tmp_path / "p.jsonl", 12)
    return tmp_path


def _prompto_run(project: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return run_installed("prompto-run", *args, cwd=project, env=environ, timeout=timeout)


def _assert_one_job_per_model(sweep: Path) -> None:
    for number, model in enumerate(MODELS):
        records = read_records(sweep / str(number) / "completed.jsonl")
        assert {record["model_name"] for record in records.values()} == {model}
        assert len(records) == 12


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment", [["experiment.file=p.jsonl", "max_queries=6000"], ["+experiment=mine"]], ids=["file", "own"]
)
def test_a_sweep_over_the_users_own_models_runs_from_their_folder(
    project: Path, experiment: list[str]
) -> None:
    result = _prompto_run(project, "-m", *experiment, f"model={','.join(MODELS)}", "hydra.sweep.dir=sweep")

    assert result.returncode == 0, result.stderr[-3000:]
    _assert_one_job_per_model(project / "sweep")
    assert (project / "sweep" / "comparison.csv").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not has_module("hydra_plugins.hydra_joblib_launcher"), reason="needs the joblib extra")
def test_the_local_processes_preset_sweeps_from_the_users_folder(project: Path) -> None:
    result = _prompto_run(
        project,
        "-m",
        "+experiment=mine",
        f"model={','.join(MODELS)}",
        "hydra/launcher=local_processes",
        "hydra.launcher.n_jobs=2",
        "hydra.sweep.dir=sweep",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    _assert_one_job_per_model(project / "sweep")
    assert "JoblibLauncher" in (project / "sweep" / "multirun.yaml").read_text()


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(
    not has_module("ray") or not has_module("hydra_plugins.hydra_ray_launcher"), reason="needs the ray extra"
)
def test_the_ray_local_preset_sweeps_from_the_users_folder(project: Path) -> None:
    result = _prompto_run(
        project,
        "-m",
        "+experiment=mine",
        f"model={','.join(MODELS)}",
        "hydra/launcher=ray_local",
        "+hydra.launcher.ray.init.num_cpus=2",
        "hydra.sweep.dir=sweep",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    _assert_one_job_per_model(project / "sweep")


@pytest.mark.parametrize(("preset", "plugin", "launcher"), LAUNCHER_PRESETS)
def test_every_launcher_preset_composes_a_sweep_from_the_users_folder(
    project: Path, preset: str, plugin: str, launcher: str
) -> None:
    # No cluster or SLURM here to run on: Hydra shows the launcher config a sweep would use.
    if not has_module(f"hydra_plugins.{plugin}"):
        pytest.skip(f"{plugin} is not installed")
    result = _prompto_run(
        project,
        "--cfg",
        "hydra",
        "+experiment=mine",
        "model=sim_a",
        f"hydra/launcher={preset}",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert launcher.rsplit(".", 1)[1] in result.stdout
    assert f"file://{project.resolve() / 'conf'}" in result.stdout


def test_the_users_conf_joins_the_overrides_wherever_the_flags_are() -> None:
    search = ["hydra.searchpath=[file:///u/conf]"]
    assert with_user_conf(["prompto-run", "-m", "a=1", "b=2"], search) == [
        "prompto-run",
        "-m",
        *search,
        "a=1",
        "b=2",
    ]
    assert with_user_conf(["prompto-run", "--cfg", "job", "-m", "+x=y"], search) == [
        "prompto-run",
        "--cfg",
        "job",
        "-m",
        *search,
        "+x=y",
    ]
    assert with_user_conf(["prompto-run", "--help"], search) == ["prompto-run", "--help", *search]
    assert with_user_conf(["prompto-run", "a=1"], []) == ["prompto-run", "a=1"]


def test_a_run_from_an_empty_folder_uses_the_shipped_conf(tmp_path: Path) -> None:
    write_prompts(tmp_path / "p.jsonl", 3000)

    result = _prompto_run(tmp_path, "experiment.file=p.jsonl", "model=simulated_fast", "max_queries=600000")

    assert result.returncode == 0, result.stderr[-3000:]
    [completed] = tmp_path.glob("outputs/p/*/completed.jsonl")
    records = [json.loads(line) for line in completed.read_text().splitlines()]
    assert len(records) == 3000
    assert all(record["error"] is None for record in records)


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        [],
        pytest.param(
            ["hydra/launcher=local_processes", "hydra.launcher.n_jobs=2"],
            marks=pytest.mark.skipif(
                not has_module("hydra_plugins.hydra_joblib_launcher"), reason="needs the joblib extra"
            ),
        ),
    ],
    ids=["in-process", "local-processes"],
)
def test_a_sweep_with_a_broken_job_runs_the_others_and_exits_2(project: Path, launcher: list[str]) -> None:
    (project / "conf" / "model" / "broken.yaml").write_text("api: no-such-api\nmodel_name: x\n")

    result = _prompto_run(
        project, "-m", "+experiment=mine", "model=sim_a,broken", *launcher, "hydra.sweep.dir=sweep"
    )

    assert result.returncode == 2, result.stderr[-3000:]
    assert len(read_records(project / "sweep" / "0" / "completed.jsonl")) == 12
    assert not (project / "sweep" / "1" / "summary.json").exists()
