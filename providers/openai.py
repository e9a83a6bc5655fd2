"""``api: openai``: OpenAI's Chat Completions API, or its Responses API where a model needs it.

* key: ``OPENAI_API_KEY`` (or ``OPENAI_API_KEY_<model>``), sent as ``Authorization: Bearer``;
* base URL: ``endpoint.base_url``, else ``OPENAI_BASE_URL``, else ``https://api.openai.com/v1``;
* parameters: OpenAI's own names (``max_tokens`` / ``max_completion_tokens``, ``temperature``, ``seed``...);
* media: images, by URL or as a local file sent inline; ``detail`` is kept from the prompt;
* ``endpoint.options.wire: responses`` (or a model OpenAI serves only there, such as ``o3-pro``):
  ``POST /v1/responses`` instead (:mod:`providers._openai.wire`, :mod:`providers._openai.responses`).
"""

from __future__ import annotations

from typing import ClassVar

from providers._base import ProviderContext
from providers._openai.dialect import OpenAIDialectProvider
from providers._openai.wire import WIRE_OPTION, responses_only, wire_of, wire_problems
from providers._types import ChatRequest


class OpenAIProvider(OpenAIDialectProvider):
    """OpenAI itself: the dialect as defined, nothing to override."""

    api: ClassVar[str] = "openai"
    endpoint_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_endpoint: ClassVar[str | None] = "https://api.openai.com/v1"
    key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    batch_api: ClassVar[str | None] = "providers.batch.openai:OpenAIBatch"
    reasoning_by_name: ClassVar[bool] = True
    image_options: ClassVar[frozenset[str] | None] = frozenset({"detail"})
    option_names: ClassVar[frozenset[str]] = frozenset({WIRE_OPTION})

    def __new__(cls, context: ProviderContext) -> OpenAIProvider:
        """The Responses wire's provider for a model that speaks it (imported here: it subclasses this)."""
        if cls is OpenAIProvider and wire_of(context) == "responses":
            from providers._openai.responses import OpenAIResponsesProvider

            return super().__new__(OpenAIResponsesProvider)
        return super().__new__(cls)

    @classmethod
    def check_config(cls, context: ProviderContext) -> list[str]:
        """The dialect's checks, and a ``wire`` option that names no wire."""
        return [*super().check_config(context), *wire_problems(context)]

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """A model served only through the Responses API is checked against that API's request."""
        if cls is OpenAIProvider and responses_only(request.model_name):
            from providers._openai.responses import OpenAIResponsesProvider

            return OpenAIResponsesProvider.check_request(request)
        return super().check_request(request)
