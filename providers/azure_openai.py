"""``api: azure-openai``: a deployment on Azure OpenAI (classic deployment URLs).

* key: ``AZURE_OPENAI_API_KEY``, sent as ``api-key`` (not ``Authorization``);
* endpoint: ``endpoint.base_url``, else ``AZURE_OPENAI_API_ENDPOINT`` (``https://<resource>.openai.azure.com``);
* API version: ``endpoint.options.api_version``, else ``AZURE_OPENAI_API_VERSION``, else
  :data:`DEFAULT_API_VERSION`;
* ``model_name`` is the **deployment** name: ``{endpoint}/openai/deployments/{model_name}/chat/completions``.

Every variable also has a model-specific form (``AZURE_OPENAI_API_KEY_<model>``). Azure's safety and
throttling shapes (400 ``content_filter``, "retry after 86400 seconds" daily quotas) are handled by the
shared dialect.

The features are OpenAI's (:mod:`providers._openai.features`), with OpenAI's reasoning models known by
the deployment's name (a deployment named after its model: ``o3-mini``, ``gpt-5``). The default API
version, 2024-10-21, has ``response_format`` json_schema, ``tools``, ``max_completion_tokens`` and
``stream_options``, but no ``reasoning_effort``: ``reasoning`` needs :data:`FIRST_REASONING_VERSION` or
later. The request id is ``x-request-id``, else ``apim-request-id``, else ``x-ms-request-id``.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import quote, urlencode

from providers._base import ProviderContext
from providers._errors import BadRequest
from providers._json_fields import JsonObject
from providers._openai.dialect import OpenAIDialectProvider
from providers._types import ChatRequest

DEFAULT_API_VERSION = "2024-10-21"
"""The GA API version used when none is configured (without one Azure answers 404)."""
FIRST_REASONING_VERSION = "2024-12-01-preview"
"""The first API version whose chat request has ``reasoning_effort``."""
_DATED = re.compile(r"^\d{4}-\d\d-\d\d")


def takes_reasoning_effort(api_version: str) -> bool:
    """Whether ``api_version`` has ``reasoning_effort``: a dated version from 2024-12-01 on (an undated
    one, such as ``preview`` or ``latest``, is taken to be current)."""
    dated = _DATED.match(api_version)
    return dated is None or dated.group() >= FIRST_REASONING_VERSION[:10]


class AzureOpenAIProvider(OpenAIDialectProvider):
    """Azure OpenAI: same bodies as OpenAI, different URL and auth header."""

    api: ClassVar[str] = "azure-openai"
    endpoint_env: ClassVar[str | None] = "AZURE_OPENAI_API_ENDPOINT"
    key_env: ClassVar[str | None] = "AZURE_OPENAI_API_KEY"
    option_names: ClassVar[frozenset[str]] = frozenset({"api_version"})
    batch_api: ClassVar[str | None] = "providers.batch.azure_openai:AzureOpenAIBatch"
    reasoning_by_name: ClassVar[bool] = True
    image_options: ClassVar[frozenset[str] | None] = frozenset({"detail"})
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id", "apim-request-id", "x-ms-request-id")

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

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """OpenAI's body; ``reasoning`` refused, unsent, where the API version has no ``reasoning_effort``."""
        if request.features.reasoning is not None and not takes_reasoning_effort(self.api_version):
            raise BadRequest(
                f"api 'azure-openai': reasoning needs an API version with reasoning_effort "
                f"({FIRST_REASONING_VERSION} or later), not {self.api_version}: "
                "set endpoint.options.api_version"
            )
        return await super().request_body(request)
