"""Sweeps on Hydra's launcher plugins: joblib processes, a local Ray instance, and the shipped presets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from runner.config._compose import CONF_DIR, register_resolvers
from tests._dist_support import (
    LAUNCHER_PRESETS,
    has_module,
    prompto_run,
    read_records,
    write_models,
    write_prompts,
)

MODELS = ["sim_a", "sim_b", "sim_c"]


def _sweep_three_models(tmp_path: Path, *launcher: str, timeout: float = 180) -> Path:
    write_models(tmp_path / "conf", MODELS)
    prompts = write_prompts(tmp_path / "prompts.jsonl", 12)
    sweep = tmp_path / "sweep"
    result = prompto_run(
        "-m",
        *launcher,
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"hydra.sweep.dir={sweep}",
        f"experiment.file={prompts}",
        "max_queries=6000",
        f"model={','.join(MODELS)}",
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for number, model in enumerate(MODELS):
        records = read_records(sweep / str(number) / "completed.jsonl")
        assert len(records) == 12
        assert {record["model_name"] for record in records.values()} == {model}
        assert {record["response"] for record in records.values()} == {
            f"{model}: question {n}?" for n in range(12)
        }
    return sweep


@pytest.mark.slow
@pytest.mark.skipif(not has_module("hydra_plugins.hydra_joblib_launcher"), reason="needs the joblib extra")
def test_a_joblib_sweep_runs_three_models_in_processes(tmp_path: Path) -> None:
    sweep = _sweep_three_models(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=3")
    assert "JoblibLauncher" in (sweep / "multirun.yaml").read_text()


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(
    not has_module("ray") or not has_module("hydra_plugins.hydra_ray_launcher"), reason="needs the ray extra"
)
def test_a_ray_sweep_runs_three_models_on_a_local_ray_instance(tmp_path: Path) -> None:
    sweep = _sweep_three_models(tmp_path, "hydra/launcher=ray_local", "+hydra.launcher.ray.init.num_cpus=2")
    assert "RayLauncher" in (sweep / "multirun.yaml").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not has_module("hydra_plugins.hydra_submitit_launcher"), reason="needs the slurm extra")
def test_a_submitit_sweep_runs_three_models_as_submitit_jobs(tmp_path: Path) -> None:
    # submitit's local executor: the same pickled job and submitit runner as on SLURM, minus sbatch.
    sweep = _sweep_three_models(tmp_path, "hydra/launcher=submitit_local")
    assert "LocalLauncher" in (sweep / "multirun.yaml").read_text()
    assert list((sweep / ".submitit").iterdir())


@pytest.mark.parametrize(
    ("preset", "plugin", "target"),
    LAUNCHER_PRESETS,
)
def test_each_launcher_preset_composes_onto_its_plugin(preset: str, plugin: str, target: str) -> None:
    if not has_module(f"hydra_plugins.{plugin}"):
        pytest.skip(f"{plugin} is not installed")
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"hydra/launcher={preset}", "experiment.file=x.jsonl"],
            return_hydra_config=True,
        )
    assert cfg.hydra.launcher._target_ == f"hydra_plugins.{target}"
    if preset == "ray_cluster":
        # hydra-ray-launcher fills in object_store_memory unless the key is present; Ray rejects it
        # when joining a cluster (checked by hand against `ray start --head`, Ray 2.60).
        assert cfg.hydra.launcher.ray.init.address == "auto"
        assert "object_store_memory" in cfg.hydra.launcher.ray.init
        assert cfg.hydra.launcher.ray.init.object_store_memory is None
    if preset == "local_processes":
        assert cfg.hydra.launcher.n_jobs == 4
