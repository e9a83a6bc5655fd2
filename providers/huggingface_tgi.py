"""``api: huggingface-tgi``: Hugging Face Text Generation Inference, through its Chat Completions route.

* endpoint: ``endpoint.base_url``, else ``HUGGINGFACE_TGI_API_ENDPOINT`` (e.g. ``http://localhost:8080``;
  ``/v1`` is added unless present);
* key (optional; Inference Endpoints need one): ``HUGGINGFACE_TGI_API_KEY``, sent as a Bearer token;
* parameters: OpenAI names (``max_tokens``, ``temperature``, ``seed``, ``stop``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx

from providers._base import ProviderContext
from providers._errors import ProviderError, ServerError
from providers._openai_dialect import OpenAIDialectProvider, error_details


class HuggingFaceTGIProvider(OpenAIDialectProvider):
    """TGI's ``/v1/chat/completions`` (TGI >= 1.4)."""

    api: ClassVar[str] = "huggingface-tgi"
    endpoint_env: ClassVar[str | None] = "HUGGINGFACE_TGI_API_ENDPOINT"
    key_env: ClassVar[str | None] = "HUGGINGFACE_TGI_API_KEY"
    key_required: ClassVar[bool] = False  # a self-hosted TGI has no auth unless started with --api-key
    error_statuses: ClassVar[Mapping[str, int]] = {
        **OpenAIDialectProvider.error_statuses,
        # TGI's error_type values, with the statuses its router gives them
        "validation": 422,
        "generation": 424,
        "overloaded": 429,
        "incomplete_generation": 500,
    }

    @classmethod
    def resolve_endpoint(cls, context: ProviderContext) -> str | None:
        """prompto's endpoint is the server root; the OpenAI-compatible routes live under ``/v1``."""
        endpoint = super().resolve_endpoint(context)
        if endpoint is None:
            return None
        endpoint = endpoint.rstrip("/")
        return endpoint if endpoint.endswith("/v1") else f"{endpoint}/v1"

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """TGI's 424 ``generation`` error is a failure during generation: worth another attempt."""
        if response.status_code == 424:
            message, _ = error_details(response)
            return ServerError(f"HTTP 424 (generation): {message}", status=424)
        return super().classify_error(response)
