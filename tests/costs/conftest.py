"""Fixtures for the cost tests: configs, and the token counter's caches reset around each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runner.config._config import RunConfig
from runner.costs import _tokens


def make_config(**fields: Any) -> RunConfig:
    """A run config for prompts.jsonl with ``fields`` set."""
    return RunConfig.model_validate({"experiment": {"file": "prompts.jsonl"}, **fields})


@pytest.fixture(autouse=True)
def fresh_tokenizers() -> Iterator[None]:
    """No encoding loaded (or failed) and no notice given before or after the test."""
    _tokens._encodings.clear()
    _tokens._notices.clear()
    yield
    _tokens._encodings.clear()
    _tokens._notices.clear()
