"""``api: openai-compatible``: any Chat Completions server (vLLM, llama.cpp, LM Studio, OpenRouter...).

Configured only by the model config's ``endpoint`` (or the run's ``endpoints.openai-compatible``)::

    endpoint:
      base_url: http://localhost:8000/v1   # the URL that ``/chat/completions`` is appended to
      api_key_env: VLLM_API_KEY            # optional: the *name* of the env var holding the key

Without ``api_key_env`` no ``Authorization`` header is sent. Parameters go through as given, so a
server's own extras (vLLM's ``top_k``, llama.cpp's ``grammar``...) work. Media: images.
"""

from __future__ import annotations

from typing import ClassVar

from providers._openai.dialect import OpenAIDialectProvider


class OpenAICompatibleProvider(OpenAIDialectProvider):
    """The dialect with no default endpoint and no default key: both come from ``EndpointSettings``."""

    api: ClassVar[str] = "openai-compatible"
    key_required: ClassVar[bool] = False  # local servers usually take none; a named key_env must be set
