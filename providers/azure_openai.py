"""``api: azure-openai``: a deployment on Azure OpenAI (classic deployment URLs).

* key: ``AZURE_OPENAI_API_KEY``, sent as ``api-key`` (not ``Authorization``);
* endpoint: ``endpoint.base_url``, else ``AZURE_OPENAI_API_ENDPOINT`` (``https://<resource>.openai.azure.com``);
* API version: ``endpoint.options.api_version``, else ``AZURE_OPENAI_API_VERSION``, else
  :data:`DEFAULT_API_VERSION`;
* ``model_name`` is the **deployment** name: ``{endpoint}/openai/deployments/{model_name}/chat/completions``.

Every variable also has a model-specific form (``AZURE_OPENAI_API_KEY_<model>``). Azure's safety and
throttling shapes (400 ``content_filter``, "retry after 86400 seconds" daily quotas) are handled by the
shared dialect.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote, urlencode

from providers._base import ProviderContext
from providers._openai_dialect import OpenAIDialectProvider
from providers._types import ChatRequest

DEFAULT_API_VERSION = "2024-10-21"
"""The GA API version used when none is configured (without one Azure answers 404)."""


class AzureOpenAIProvider(OpenAIDialectProvider):
    """Azure OpenAI: same bodies as OpenAI, different URL and auth header."""

    api: ClassVar[str] = "azure-openai"
    endpoint_env: ClassVar[str | None] = "AZURE_OPENAI_API_ENDPOINT"
    key_env: ClassVar[str | None] = "AZURE_OPENAI_API_KEY"
    option_names: ClassVar[frozenset[str]] = frozenset({"api_version"})
    batch_api: ClassVar[str | None] = "providers.batch.openai:AzureOpenAIBatch"

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self.api_version = str(context.option("api_version", "AZURE_OPENAI_API_VERSION", DEFAULT_API_VERSION))

    def static_headers(self, api_key: str | None) -> dict[str, str]:
        """Azure's key header is ``api-key``."""
        return {"api-key": api_key} if api_key else {}

    def request_path(self, request: ChatRequest) -> str:
        """The deployment picks the model, and ``api-version`` is required in the query."""
        deployment = quote(request.model_name, safe="")
        query = urlencode({"api-version": self.api_version})
        return f"openai/deployments/{deployment}/chat/completions?{query}"
