"""``api: gemini``: the Gemini API (Google AI Studio), ``POST /v1beta/models/{model}:generateContent``.

* key: ``GEMINI_API_KEY`` (or ``GEMINI_API_KEY_<model>``), sent as ``x-goog-api-key``;
* base URL: ``endpoint.base_url``, else ``GEMINI_BASE_URL``, else ``https://generativelanguage.googleapis.com``;
* parameters, safety filter and media: see :mod:`providers._google.base` (images, video, audio and documents;
  a media part may set ``videoMetadata`` on a video: the Gemini API's ``Part`` has no other option).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from providers._google.base import GenerateContentProvider
from providers._types import ChatRequest


class GeminiProvider(GenerateContentProvider):
    """The API-key flavour of ``generateContent``."""

    api: ClassVar[str] = "gemini"
    endpoint_env: ClassVar[str | None] = "GEMINI_BASE_URL"
    default_endpoint: ClassVar[str | None] = "https://generativelanguage.googleapis.com"
    key_env: ClassVar[str | None] = "GEMINI_API_KEY"
    batch_api: ClassVar[str | None] = "providers.batch.gemini:GeminiBatch"

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Also ``labels``: a Vertex AI field, which the Gemini API's request does not define."""
        problems = super().check_request(request)
        if "labels" in request.parameters:
            problems.append("labels is a Vertex AI field (api: vertexai): the Gemini API's request has none")
        return problems

    def static_headers(self, api_key: str | None) -> dict[str, str]:
        """The key goes in a header, never in the ``?key=`` query (URLs end up in logs)."""
        return {"x-goog-api-key": api_key} if api_key else {}

    def request_path(self, request: ChatRequest) -> str:
        """``v1beta/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse`` streamed)."""
        return f"v1beta/models/{quote(request.model_name, safe='')}:{self.method(request)}"
