"""HTTP plumbing shared by every provider that speaks to an API over httpx.

* :class:`ClientPool` holds the run's ``httpx.AsyncClient`` objects. httpcore's pool rescans every
  connection on each request event, which is quadratic in the connections in flight, so the run's
  client sends through :class:`~providers.http._lean_transport.LeanTransport` (an O(1) keep-alive pool on
  httpx's transport seam); a plain JSON POST on it skips the client's machinery and builds the same
  request and response itself (:mod:`providers.http._lean_post`). Where a proxy is configured in the
  environment, httpx's own transport handles it, and a thousand requests are spread over several
  small clients (least-loaded first) to keep httpcore's cost flat. Each client reads a reply's body,
  decoded, up to ``max_reply_bytes`` (:mod:`providers.http._reply_size`): one server cannot fill the run's
  memory.
* :func:`transport_errors` maps httpx's exceptions into :mod:`providers._errors` at one boundary (a
  request refused before sending, such as a header value with a newline, without quoting the value).
* :func:`status_error` maps an HTTP status into the hierarchy; providers refine it from the body, and
  :func:`with_server_retry_verdict` lets the server's ``x-should-retry`` overrule the class.
"""

from __future__ import annotations

import email.utils
import functools
import json
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from providers._errors import (
    AuthError,
    BadRequest,
    ConnectionFailed,
    MalformedReply,
    NotFound,
    ProviderError,
    RateLimited,
    RequestTimeout,
    ServerError,
    excerpt,
)
from providers.http._http1 import why_unsendable
from providers.http._lean_post import LeanTarget, lean_target, post_lean
from providers.http._lean_transport import LeanTransport
from providers.http._reply_size import DEFAULT_MAX_REPLY_BYTES, ReplyCappedClient

# Connect fast, but let a model think: the engine's per-request deadline is the real limit.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
REQUESTS_PER_CLIENT = 32


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the run (building one costs ~50 ms of CPU)."""
    return httpx.create_ssl_context()


class ClientPool:
    """Several ``httpx.AsyncClient`` objects used least-loaded first, created once for the run."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        expected_concurrency: int = 1,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        lean: bool | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        """``transport``: one to use instead (tests inject one); ``lean``: whether to send through
        :class:`LeanTransport` (default: unless a proxy is set in the environment); ``max_reply_bytes``: the
        largest reply body read (decoded)."""
        self._lean: LeanTransport | None = None
        if transport is None and (lean_transport_allowed() if lean is None else lean):
            transport = self._lean = LeanTransport(shared_ssl_context(), max_reply_bytes=max_reply_bytes)
        self._base_url = urlsplit(base_url)
        size = max(1, min(64, -(-expected_concurrency // REQUESTS_PER_CLIENT)))
        per_client = max(REQUESTS_PER_CLIENT, -(-expected_concurrency // size))
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        self._clients = [
            ReplyCappedClient(
                max_reply_bytes,
                headers=dict(headers or {}),
                transport=transport,
                limits=limits,
                timeout=timeout,
                verify=shared_ssl_context(),
            )
            for _ in range(1 if transport is not None else size)
        ]
        self._in_flight = [0] * len(self._clients)
        self._timeouts = timeout.as_dict()
        self._targets: dict[str, LeanTarget | None] = {}

    def __len__(self) -> int:
        return len(self._clients)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """Lend the least-loaded client for one request."""
        index = min(range(len(self._clients)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._in_flight[index] -= 1

    async def post(
        self, url: str, *, json_body: Any, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST a JSON body to ``url`` (a path and query under the base URL); transport failures come
        out as :mod:`providers._errors`."""
        if self._lean is not None and not headers and not self._clients[0].cookies:
            target = lean_target(self._targets, self._base_url, url, self._clients[0])
            if target is not None:
                try:  # not transport_errors(): a context manager a request shows at this rate
                    return await post_lean(self._lean, target, json_body, self._timeouts, self._clients[0])
                except httpx.TransportError as exc:
                    raise_translated(exc)
        async with self.client() as client, transport_errors():
            return await client.post(joined_url(self._base_url, url), json=json_body, headers=headers)

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients:
            await client.aclose()


def joined_url(base: SplitResult, path: str) -> str:
    """``path`` (which may carry a query) under ``base``: appended to the base's path, the two queries
    kept. (httpx appends a relative URL to the base's path *and query*: ``…/v1?key=k/chat/completions``.)"""
    sub_path, _, sub_query = path.partition("?")
    joined_path = f"{base.path.rstrip('/')}/{sub_path.lstrip('/')}"
    query = "&".join(part for part in (base.query, sub_query) if part)
    return urlunsplit((base.scheme, base.netloc, joined_path, query, ""))


def lean_transport_allowed() -> bool:
    """Whether no proxy is set in the environment (``HTTPS_PROXY`` and the like): proxies are httpx's job."""
    proxies = urllib.request.getproxies()
    proxies.pop("no", None)  # NO_PROXY alone names no proxy
    return not proxies


@asynccontextmanager
async def transport_errors() -> AsyncIterator[None]:
    """Translate httpx transport exceptions into the provider error hierarchy."""
    try:
        yield
    except httpx.TransportError as exc:
        raise_translated(exc)


def raise_translated(exc: httpx.TransportError) -> NoReturn:
    """Raise ``exc`` as the provider error it stands for (itself when none does)."""
    if isinstance(exc, httpx.TimeoutException):
        raise RequestTimeout(f"request timed out ({type(exc).__name__})") from exc
    if isinstance(exc, httpx.LocalProtocolError):
        # httpcore's message (and h11's, under it) quotes the refused header value: the key itself.
        request = _request_of(exc)
        raise BadRequest(
            f"request not sent: {why_unsendable(request.headers.raw if request else ())}"
        ) from None
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError):
        raise ConnectionFailed(f"connection failed ({type(exc).__name__}: {exc})") from exc
    raise exc


def _request_of(error: httpx.RequestError) -> httpx.Request | None:
    try:
        return error.request
    except RuntimeError:  # raised without its request
        return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date)."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            value = float(millis) / 1000.0
            return value if value >= 0 else None
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is garbage


def json_body(response: httpx.Response) -> Any:
    """The reply's JSON, or :class:`MalformedReply` with an excerpt (an HTML proxy page, truncated JSON,
    JSON nested too deep for the parser)."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        what = "JSON nested too deep to parse" if isinstance(exc, RecursionError) else "not JSON"
        raise MalformedReply(
            f"HTTP {response.status_code}: reply is {what}: {excerpt(response.content)!r}",
            status=response.status_code,
        ) from exc


def json_or_none(response: httpx.Response) -> Any:
    """The reply's JSON, or ``None`` when it has none that can be parsed (for reading error bodies)."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def with_server_retry_verdict(error: ProviderError, headers: Mapping[str, str]) -> ProviderError:
    """Apply ``x-should-retry`` (OpenAI, Anthropic): the server's ``true`` or ``false`` decides whether
    the error is retried, before any status rule. An auth failure still stops its queue."""
    verdict = headers.get("x-should-retry", "").strip().lower()
    if verdict in ("true", "false") and not isinstance(error, AuthError):
        error.retryable = verdict == "true"
    return error


def status_error(status: int, message: str, *, retry_after: float | None = None) -> ProviderError:
    """The default mapping of an HTTP error status; providers special-case quota and safety first."""
    if status == 429:
        return RateLimited(message, status=status, retry_after=retry_after)
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 404:
        return NotFound(message, status=status)
    if status in (408, 409) or status >= 500:
        return ServerError(message, status=status, retry_after=retry_after)
    return BadRequest(message, status=status)
