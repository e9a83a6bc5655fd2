"""``api: openai``: OpenAI's Chat Completions API.

* key: ``OPENAI_API_KEY`` (or ``OPENAI_API_KEY_<model>``), sent as ``Authorization: Bearer``;
* base URL: ``endpoint.base_url``, else ``OPENAI_BASE_URL``, else ``https://api.openai.com/v1``;
* parameters: OpenAI's own names (``max_tokens`` / ``max_completion_tokens``, ``temperature``, ``seed``...);
* media: images, by URL or as a local file sent inline; ``detail`` is kept from the prompt.
"""

from __future__ import annotations

from typing import ClassVar

from providers._openai_dialect import OpenAIDialectProvider


class OpenAIProvider(OpenAIDialectProvider):
    """OpenAI itself: the dialect as defined, nothing to override."""

    api: ClassVar[str] = "openai"
    endpoint_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_endpoint: ClassVar[str | None] = "https://api.openai.com/v1"
    key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    batch_api: ClassVar[str | None] = "providers.batch.openai:OpenAIBatch"
