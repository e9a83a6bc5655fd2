"""The one error hierarchy every provider maps its failures into.

The engine's retry policy reads only these classes, never a status code or a vendor body::

    ProviderError                 anything a provider call can fail with
    ├── RateLimited               429 "slow down"; carries the server's retry-after when sent   (retried)
    ├── TransientError            worth another attempt                                           (retried)
    │   ├── ServerError           5xx, 529 overloaded, 408, 409
    │   ├── RequestTimeout        no complete reply within the timeout
    │   └── ConnectionFailed      refused, reset, DNS
    ├── QuotaExhausted            billing/credit/daily quota: will not clear soon                 (recorded)
    ├── BadRequest                400/413/422: this request can never succeed as sent             (recorded)
    ├── NotFound                  404: unknown model or path                                      (recorded)
    ├── SafetyBlocked             the vendor's safety filter refused or truncated the reply       (recorded)
    ├── MalformedReply            a reply that could not be parsed (HTML page, missing field)     (recorded)
    ├── OutputLimit               no answer: the output budget went on reasoning (_features.py)   (recorded)
    └── AuthError                 401/403: stops the whole queue; nothing more is sent there

Each class has an ``error_type``: the string written into a record's ``error.type``.
Messages must never contain a key; :func:`~providers._secrets.redact` scrubs known secrets from any
text, and :func:`excerpt` scrubs a body before it cuts it.
"""

from __future__ import annotations

from providers._secrets import redact, scoped_secrets


class ProviderError(Exception):
    """Base class: a provider call failed."""

    error_type = "provider_error"
    retryable = False
    """Whether the engine may send the request again; the class decides, unless the server's
    ``x-should-retry`` overrules it for one error (:func:`providers.http._pool.with_server_retry_verdict`)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def as_record(self) -> dict[str, object]:
        """The ``error`` field of a record."""
        return {"type": self.error_type, "message": self.message, "status": self.status}


class RateLimited(ProviderError):
    """The server asked us to slow down (429 rate limit, TGI overloaded)."""

    error_type = "rate_limited"
    retryable = True


class TransientError(ProviderError):
    """A failure that another attempt may not repeat."""

    error_type = "transient"
    retryable = True


class ServerError(TransientError):
    """5xx, 529 overloaded, 408 request timeout, 409 conflict."""

    error_type = "server_error"


class RequestTimeout(TransientError):
    """No complete reply within the request timeout (a hung or trickling server)."""

    error_type = "timeout"


class ConnectionFailed(TransientError):
    """The connection could not be made or was dropped."""

    error_type = "connection_error"


class QuotaExhausted(ProviderError):
    """Billing, credit, spend cap or per-day quota: retrying now would only waste requests."""

    error_type = "quota_exhausted"


class BadRequest(ProviderError):
    """The request is invalid as sent (400, 413, 422, context too long)."""

    error_type = "bad_request"


class NotFound(ProviderError):
    """Unknown model, deployment or path (404)."""

    error_type = "not_found"


class SafetyBlocked(ProviderError):
    """The vendor's safety system blocked the prompt or the reply."""

    error_type = "safety_block"


class MalformedReply(ProviderError):
    """The reply could not be understood: not JSON, an HTML proxy page, a missing field."""

    error_type = "malformed_reply"


class AuthError(ProviderError):
    """401/403: the key is missing, wrong or not allowed. The queue stops."""

    error_type = "auth"


def excerpt(text: str | bytes, limit: int = 200) -> str:
    """A short, single-line excerpt of a reply body for an error message.

    The secrets of the provider call in progress are scrubbed first: a key cut in two by the limit
    (or by the flattening of whitespace) would no longer match them.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    flat = " ".join(redact(text, scoped_secrets()).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
