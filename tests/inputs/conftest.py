"""Fixtures: a user's project folder, and an OpenAI-compatible server to count what is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import FakeServer, fake_server  # noqa: F401  (a fixture vision_server uses)
from tests.fakes.replies import openai_chat


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: ``data/input/`` and ``data/media/``."""
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "data" / "media").mkdir()
    return tmp_path


@pytest.fixture
def vision_server(fake_server: FakeServer) -> FakeServer:  # noqa: F811  (the imported fixture)
    """An OpenAI-compatible server that answers every request."""
    fake_server.responder = lambda request: openai_chat("fine")
    return fake_server
