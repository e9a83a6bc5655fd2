"""Test doubles at the seams: a real HTTP server to point providers at, and canned vendor replies.

Use the ``fake_server`` fixture from any test package by importing it into its ``conftest.py``::

    from tests.fakes import fake_server  # noqa: F401  (a pytest fixture)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.server import FakeServer, RecordedRequest, Reply


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A started :class:`FakeServer`, stopped after the test."""
    with FakeServer() as server:
        yield server


__all__ = ["FakeServer", "RecordedRequest", "Reply", "fake_server"]
