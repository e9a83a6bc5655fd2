"""The run's providers: one instance per (api, model), created once, closed when the run ends."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import trio

from providers import Provider, ProviderContext
from providers.http._reply_size import MB
from runner.config._config import RunConfig
from runner.prompts._resolve import provider_type


class ProviderSet:
    """Lends each (api, model) its provider and, for single-slot providers, a capacity limiter."""

    def __init__(
        self, config: RunConfig, environ: Mapping[str, str], *, expected_concurrency: int = 1
    ) -> None:
        self._config = config
        self._environ = environ
        self._expected_concurrency = expected_concurrency
        self._providers: dict[tuple[str, str], Provider] = {}
        self._slots: dict[tuple[str, str], trio.CapacityLimiter] = {}

    def get(self, api: str, model_name: str) -> tuple[Provider, trio.CapacityLimiter | None]:
        """The provider for this api and model (created on first use) and its slot limiter, if any."""
        key = (api, model_name)
        if key not in self._providers:
            cls = provider_type(self._config, api, model_name)
            context = ProviderContext(
                model_name=model_name,
                settings=self._config.endpoint_for(api, model_name),
                environ=self._environ,
                data_folder=self._config.data_folder,
                expected_concurrency=self._expected_concurrency,
                max_reply_bytes=round(self._config.max_reply_mb * MB),
            )
            self._providers[key] = cls(context)
            if cls.max_concurrency is not None:
                self._slots[key] = trio.CapacityLimiter(cls.max_concurrency)
        return self._providers[key], self._slots.get(key)

    def secrets(self) -> list[str]:
        """Every secret any provider holds (for scrubbing text before it is written)."""
        return [secret for provider in self._providers.values() for secret in provider.secrets()]

    async def aclose(self) -> None:
        """Close every provider, even if one fails to close."""
        for provider in self._providers.values():
            with trio.CancelScope(shield=True):
                await provider.aclose()

    async def __aenter__(self) -> ProviderSet:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
