"""The shipped configs themselves: every experiment composes and validates, every model resolves."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from runner import load_config
from runner.config._compose import CONF_DIR, register_resolvers
from runner.config._config import ModelConfig
from runner.prompts._resolve import provider_type
from tests.conftest import REPO_ROOT

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_shipped_experiment_composes_and_validates(
    experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    config = load_config(experiment, output_dir="/tmp/unused")

    assert config.resolve_prompt_file().is_file(), f"{experiment}: its prompt file is not shipped"
    assert config.experiment.run_name


@pytest.mark.parametrize("model", MODELS)
def test_every_shipped_model_config_names_a_known_provider(model: str) -> None:
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={model}", "experiment.file=x.jsonl"])
    model_config = ModelConfig.model_validate(OmegaConf.to_container(cfg.model, resolve=True))
    config = load_config(overrides=[f"model={model}", "experiment.file=x.jsonl"], output_dir="/tmp/unused")

    assert provider_type(config, model_config.api, model_config.model_name).api == model_config.api


def test_command_line_model_overrides_the_experiment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    config = load_config("capitals", ["model=simulated_slow"], output_dir="/tmp/unused")

    assert config.model is not None
    assert config.model.model_name == "simulated-slow"


def test_a_users_own_conf_experiment_is_found(workspace: Path) -> None:
    (workspace / "conf" / "experiment").mkdir(parents=True)
    (workspace / "conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nexperiment:\n  file: mine.jsonl\nmax_queries: 42\n"
    )

    config = load_config("mine", output_dir=workspace / "out")

    assert (config.experiment.file, config.max_queries) == (Path("mine.jsonl"), 42)
