"""Fixtures for provider tests: the fake server, providers built like the runner builds them, media files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from providers import EndpointSettings, Provider, ProviderContext, provider_class
from tests.fakes import fake_server  # noqa: F401  (a fixture)

MakeProvider = Callable[..., Provider]

# A 1x1 PNG: real bytes, so that the base64 on the wire can be checked.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
async def make_provider() -> AsyncIterator[MakeProvider]:
    """Build providers by api name from an explicit environment; every one is closed after the test."""
    built: list[Provider] = []

    def make(
        api: str,
        model_name: str,
        *,
        env: Mapping[str, str] | None = None,
        settings: EndpointSettings | None = None,
        **settings_fields: Any,
    ) -> Provider:
        context = ProviderContext(
            model_name=model_name,
            settings=settings or EndpointSettings(**settings_fields),
            environ=dict(env or {}),
        )
        provider = provider_class(api)(context)
        built.append(provider)
        return provider

    yield make
    for provider in built:
        await provider.aclose()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    """A data folder's ``media/`` holding ``cat.png`` and ``clip.mp4``."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "cat.png").write_bytes(PNG_BYTES)
    (media / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 fake video")
    return media
