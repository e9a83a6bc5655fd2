"""Which class serves which ``api`` name.

Built-in providers are named here as import paths and imported only when a run uses them, so that
start-up does not pay for every vendor. A user's own provider is registered with :func:`register`
or named by ``_target_`` (an import path) in a model config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers._importer import TargetImportError, import_object

if TYPE_CHECKING:
    from providers._base import Provider

_BUILTIN: dict[str, str] = {
    "llamacpp": "providers.llamacpp:LlamaCppProvider",
    "simulated": "providers.simulated:SimulatedProvider",
    "openai": "providers.openai:OpenAIProvider",
    "azure-openai": "providers.azure_openai:AzureOpenAIProvider",
    "anthropic": "providers.anthropic:AnthropicProvider",
    "gemini": "providers.gemini:GeminiProvider",
    "vertexai": "providers.vertexai:VertexAIProvider",
    "ollama": "providers.ollama:OllamaProvider",
    "huggingface-tgi": "providers.huggingface_tgi:HuggingFaceTGIProvider",
    "openai-compatible": "providers.openai_compatible:OpenAICompatibleProvider",
}

_registered: dict[str, type[Provider]] = {}


class UnknownApiError(LookupError):
    """No provider is registered under this ``api`` name."""


def register(provider_class: type[Provider]) -> type[Provider]:
    """Register a provider class under its ``api`` name (usable as a class decorator)."""
    _registered[provider_class.api] = provider_class
    return provider_class


def unregister(api: str) -> None:
    """Remove a provider registered with :func:`register` (tests use it to clean up)."""
    _registered.pop(api, None)


def known_apis() -> list[str]:
    """Every ``api`` name a prompt dict may use."""
    return sorted({*_BUILTIN, *_registered})


def import_target(target: str) -> type[Provider]:
    """The provider class ``target`` names (``pkg.module.Class`` or ``pkg.module:Class``)."""
    from providers._base import Provider

    provider_class = import_object(target)
    if not (isinstance(provider_class, type) and issubclass(provider_class, Provider)):
        raise TargetImportError(f"'{target}' is not a subclass of providers.Provider")
    return provider_class


def provider_class(api: str) -> type[Provider]:
    """The class registered for ``api``, importing a built-in on first use."""
    if api in _registered:
        return _registered[api]
    if api in _BUILTIN:
        return import_target(_BUILTIN[api])
    raise UnknownApiError(f"unknown api '{api}' (known: {', '.join(known_apis())})")
