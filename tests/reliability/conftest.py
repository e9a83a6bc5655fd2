"""Fixtures: a fault-injecting chat server on 127.0.0.1, its provider registered, configs and records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import providers
from providers import EndpointSettings
from runner import ExperimentConfig, RunConfig
from tests.reliability.fake_server import FakeChatServer, serving
from tests.reliability.http_provider import KEY_ENV, FakeChatProvider, OtherFakeChatProvider

KEY = "sk-test-4f9c2b7e1d0a"
"""The secret every test run holds: it must never appear in any file a run writes."""


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with serving(FakeChatServer()) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fake_providers() -> Iterator[None]:
    providers.register(FakeChatProvider)
    providers.register(OtherFakeChatProvider)
    try:
        yield
    finally:
        providers.unregister(FakeChatProvider.api)
        providers.unregister(OtherFakeChatProvider.api)


def write_prompts(path: Path, prompts: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p) + "\n" for p in prompts))
    return path


def make_config(tmp_path: Path, url: str, prompts: list[dict[str, Any]], **settings: Any) -> RunConfig:
    """A run of ``prompts`` against the fake server, fast (high rate, short timeout) unless overridden."""
    file = write_prompts(tmp_path / "data" / "input" / "experiment.jsonl", prompts)
    values: dict[str, Any] = {
        "experiment": ExperimentConfig(file=file, api="fakechat", model_name="m"),
        "data_folder": tmp_path / "data",
        "env_file": None,
        "max_queries": 60_000,
        "request_timeout_s": 2.0,
        "endpoints": {
            api: EndpointSettings(base_url=url, api_key_env=KEY_ENV) for api in ("fakechat", "otherchat")
        },
        "output_dir": tmp_path / "run",
        **settings,
    }
    return RunConfig(**values)


ENVIRON = {KEY_ENV: KEY}


def read_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``completed.jsonl`` by id; fails if an id appears twice."""
    records: dict[str, dict[str, Any]] = {}
    with (run_dir / "completed.jsonl").open() as file:
        for line in file:
            record = json.loads(line)
            assert record["id"] not in records, f"duplicate record for {record['id']}"
            records[record["id"]] = record
    return records
