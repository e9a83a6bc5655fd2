"""Error objects in 2xx replies: classified as the error they name, not as a reply that failed to parse.

Some servers (OpenAI-compatible gateways, proxies) answer a failure with HTTP 200 and an error body.
Such a reply goes to the provider's own ``classify_error`` as if it had come with the status its error
stands for, so a ``server_error`` is retried, a rate limit paces the queue and a quota is a quota.
The shapes: OpenAI ``{"error": {"message", "type", "code"}}``, Anthropic ``{"type": "error", "error":
{"type", "message"}}``, Google ``{"error": {"code", "status", "message"}}``, TGI and Ollama
``{"error": "..."}`` (TGI adds ``error_type``). Each provider names its API's error names and their
statuses in ``JsonApiProvider.error_statuses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from providers._errors import ProviderError

UNNAMED_ERROR_STATUS = 500
"""The status of an error object that names none known: a failure reported as a success is worth
another attempt (up to ``max_attempts``)."""
_NAME_FIELDS = ("code", "status", "type", "error_type")


def named_status(payload: Mapping[str, Any], names: Mapping[str, int]) -> int | None:
    """The HTTP status the error object in ``payload`` stands for, or ``None`` when it holds none: a
    status code the object carries (Google's ``code``, vLLM's), else the first of its ``code``,
    ``status``, ``type`` or ``error_type`` found in ``names``, else :data:`UNNAMED_ERROR_STATUS`."""
    error = payload.get("error")
    if not error and payload.get("type") != "error":
        return None
    fields = error if isinstance(error, Mapping) else payload
    for field in _NAME_FIELDS:
        value = fields.get(field)
        if isinstance(value, str) and value.isdigit():
            value = int(value)  # Azure sends its code as "429"
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value < 600:
            return value
        if isinstance(value, str) and value in names:
            return names[value]
    return UNNAMED_ERROR_STATUS


def as_sent_with(response: httpx.Response, status: int) -> httpx.Response:
    """``response`` (headers and body) as if it had come with ``status``: what ``classify_error`` reads."""
    return httpx.Response(
        status, headers=response.headers, content=response.content, request=response.request
    )


def sent_as_success(error: ProviderError, status: int, named: int) -> ProviderError:
    """``error``, classified as an HTTP ``named``, saying that it came with HTTP ``status``."""
    label = f"HTTP {named}"
    detail = error.message.removeprefix(label) if error.message.startswith(label) else f": {error.message}"
    error.message = f"HTTP {status} with an error object, taken as {label}{detail}"
    error.args = (error.message,)
    error.status = status
    return error
