"""The provider contract: one small class per API, one async method.

A provider builds its vendor's request from a :class:`ChatRequest`, sends it, parses the reply into
a :class:`Completion` and raises one of :mod:`providers._errors` when it fails. It owns its HTTP
client(s) for the whole run and releases them in :meth:`Provider.aclose`. Retry policy is the
engine's; a provider only classifies.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers._reply import Completion
from providers._types import ChatRequest, MediaKind
from providers.http._reply_size import DEFAULT_MAX_REPLY_BYTES


class EndpointSettings(BaseModel):
    """Where and how to reach an API, as written in a model config or the ``endpoints`` list.

    Values here are never secrets: a key is named by the environment variable that holds it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(default=None, description="Overrides the API's base URL / endpoint.")
    api_key_env: str | None = Field(default=None, description="Name of the env var that holds the key.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Provider-specific settings (api_version, project, chat_mode...)."
    )


_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def model_env_suffix(model_name: str) -> str:
    """prompto's model-specific suffix: ``gpt-4o`` -> ``gpt_4o`` (as in ``OPENAI_API_KEY_gpt_4o``)."""
    return _NON_ALNUM.sub("_", model_name)


@dataclass(frozen=True)
class ProviderContext:
    """Everything a provider is built from: its model, its settings and the environment."""

    model_name: str
    settings: EndpointSettings = field(default_factory=EndpointSettings)
    environ: Mapping[str, str] = field(default_factory=dict)
    data_folder: Path = Path("data")
    transport: httpx.AsyncBaseTransport | None = None
    """Injected by tests (or a custom deployment) instead of a real network transport."""
    expected_concurrency: int = 1
    """How many requests the engine may keep in flight to this provider (sizes connection pools)."""
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    """The largest reply body (decoded) an HTTP provider reads; the run's ``max_reply_mb``."""

    def env(self, name: str) -> str | None:
        """``NAME_<model>`` if set (prompto's per-model variables), else ``NAME``, else ``None``."""
        source = self.env_source(name)
        return None if source is None else self.environ[source]

    def env_source(self, name: str) -> str | None:
        """The variable :meth:`env` reads for ``name``: ``NAME_<model>``, else ``NAME``, else ``None``."""
        specific = f"{name}_{model_env_suffix(self.model_name)}"
        if self.environ.get(specific):
            return specific
        return name if self.environ.get(name) else None

    def api_key(self, default_env: str) -> str | None:
        """The key: from the env var the settings name, else from ``default_env`` (model-specific first)."""
        return self.env(self.settings.api_key_env or default_env)

    def option(self, name: str, env: str | None = None, default: Any = None) -> Any:
        """A provider option: the settings' ``options``, else the env var ``env``, else ``default``."""
        if name in self.settings.options:
            return self.settings.options[name]
        if env is not None and (value := self.env(env)) is not None:
            return value
        return default


class Provider(ABC):
    """One API. Subclasses set ``api`` and implement :meth:`complete`."""

    api: ClassVar[str]
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset()
    """Which media parts this API accepts; anything else is a validation error before the run."""
    max_concurrency: ClassVar[int | None] = None
    """Requests this provider can usefully serve at once (``1`` for a local single-slot model)."""
    prompt_dict_parameters: ClassVar[frozenset[str]] = frozenset()
    """Keys prompto reads from the top level of a prompt dict for this API (``safety_filter`` for
    Gemini): they reach :meth:`complete` as parameters, unless ``parameters`` sets them itself."""
    option_names: ClassVar[frozenset[str]] = frozenset()
    """The names this API reads from ``endpoint.options``; any other name is refused before the run
    (a misspelt option, or a key pasted there, would otherwise be ignored and saved with the config)."""

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.model_name = context.model_name

    @classmethod
    def resolve_endpoint(cls, context: ProviderContext) -> str | None:
        """The base URL requests go to: ``settings.base_url`` here; an HTTP provider also reads its
        env var and default (:meth:`JsonApiProvider.resolve_endpoint`)."""
        return context.settings.base_url

    @property
    def endpoint_url(self) -> str | None:
        """Where this provider's requests go, however that was set (config, env var, default), without
        user info, query or fragment, where a key may hide: what the response cache tells apart."""
        url = self.resolve_endpoint(self.context)
        if url is None:
            return None
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2].lower()
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))

    @classmethod
    def check_config(cls, context: ProviderContext) -> list[str]:
        """Problems that make every request fail (a missing key, a missing endpoint), found before the run.

        This base checks ``endpoint.options`` against :attr:`option_names`: an override should extend it.
        """
        valid = ", ".join(sorted(cls.option_names)) or "none"
        return [
            f"api '{cls.api}' has no endpoint option {name!r} (valid options: {valid})"
            for name in sorted(set(context.settings.options) - cls.option_names, key=str)
        ]

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Problems with one request this API cannot take (unsupported media...), found before the run."""
        problems = []
        for part in request.media:
            if part.kind not in cls.media_kinds:
                accepted = ", ".join(sorted(cls.media_kinds)) or "none"
                problems.append(f"api '{cls.api}' does not accept {part.kind} input (accepts: {accepted})")
        return problems

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request and return its reply, or raise a :class:`providers.ProviderError`."""

    def secrets(self) -> list[str]:
        """Secret values this provider holds, so that they can be scrubbed from any text."""
        return []

    async def aclose(self) -> None:  # noqa: B027 - optional hook; most providers hold nothing to release
        """Release clients, models and other resources held for the run."""
