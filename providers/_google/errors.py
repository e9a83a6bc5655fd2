"""Google's error replies, ``{"error": {code, message, status, details}}``, as :mod:`providers._errors`.

A bad API key is a 400 with ``API_KEY_INVALID``; a 429 whose ``QuotaFailure`` names a ``…PerDay…``
quota is a :class:`QuotaExhausted` (it will not clear within a run), other 429s wait ``RetryInfo``'s
``retryDelay`` (else ``retry-after``, else the "Please retry in" of the message).
"""

from __future__ import annotations

from typing import Any

import httpx

from providers._errors import AuthError, ProviderError, QuotaExhausted
from providers._json_api import body_excerpt
from providers._ratelimit import parse_duration, retry_hint, throttled
from providers.http._pool import json_or_none, parse_retry_after, status_error


def classify_google_error(response: httpx.Response) -> ProviderError:
    """The error a Google error reply stands for."""
    status = response.status_code
    error = _error_object(response)
    if error is None:
        return status_error(status, f"HTTP {status}: {body_excerpt(response)}")
    message = str(error.get("message") or "")
    label = f"HTTP {status}" + (f" {error['status']}" if error.get("status") else "") + f": {message}"
    details = [item for item in error.get("details") or [] if isinstance(item, dict)]
    if status == 400 and (
        any(item.get("reason") == "API_KEY_INVALID" for item in details) or "API key not valid" in message
    ):
        return AuthError(label, status=status)
    if status == 429:
        quota_ids = [
            str(violation.get("quotaId", ""))
            for item in details
            for violation in item.get("violations") or []
            if isinstance(violation, dict)
        ]
        if any("PerDay" in quota_id for quota_id in quota_ids):
            return QuotaExhausted(f"{label} (quota {', '.join(quota_ids)})", status=status)
        delays = [parse_duration(str(item["retryDelay"])) for item in details if "retryDelay" in item]
        retry_after = next((delay for delay in delays if delay is not None), None)
        if retry_after is None:
            retry_after = parse_retry_after(response.headers) or retry_hint(message)
        return throttled(label, status=status, retry_after=retry_after)
    return status_error(status, label, retry_after=parse_retry_after(response.headers))


def _error_object(response: httpx.Response) -> dict[str, Any] | None:
    """Google's ``{"error": {code, message, status, details}}`` (or a list holding it), else ``None``."""
    body = json_or_none(response)
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None
