"""The scripted provider, registered for one test at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers import register, unregister
from tests.fakes.eval_provider import ScriptedProvider


@pytest.fixture
def scripted() -> Iterator[type[ScriptedProvider]]:
    ScriptedProvider.reset()
    register(ScriptedProvider)
    try:
        yield ScriptedProvider
    finally:
        unregister(ScriptedProvider.api)
        ScriptedProvider.reset()
