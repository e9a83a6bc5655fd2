"""How a batch API talks to its vendor: the provider's key, endpoint and error classes, on clients of
its own.

A batch call is not a chat request: it uploads a file of up to 200 MB and reads results files larger
than any one reply may be. The run's chat clients send through the lean transport, which reads each
reply whole under ``max_reply_mb`` and buffers request bodies (right for chat, wrong here), so a
:class:`BatchClient` sends through httpx's own transport, which streams both ways. Everything else is
the provider's: its headers, its classification of error statuses, and the scrubbing of its secrets
from every message.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers._errors import AuthError, MalformedReply
from providers._json_api import JsonApiProvider
from providers.http._pool import ClientPool, joined_url, transport_errors, with_server_retry_verdict

UNCONFIGURED = "http://endpoint.not.configured"


class BatchClient:
    """The batch calls of one provider (upload, create, poll, list, cancel, results)."""

    def __init__(self, provider: JsonApiProvider) -> None:
        self.provider = provider
        context = provider.context
        self._base_url = provider.resolve_endpoint(context) or UNCONFIGURED
        self._pool = ClientPool(
            self._base_url,
            headers=provider.static_headers(provider.api_key),
            transport=context.transport,
            lean=False,
            max_reply_bytes=context.max_reply_bytes,
        )
        provider.close_with(self._pool.aclose)

    async def call(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **send: Any
    ) -> httpx.Response:
        """One call, its reply read under the reply cap: a 2xx reply, or the classified, scrubbed
        :class:`~providers.ProviderError` its status stands for. ``path`` is under the base URL (or an
        absolute URL on its server); ``send`` is httpx's (``json``, ``content``, ``files``, ``params``)."""
        with self.provider.scrubbed():
            self._refuse_if_misconfigured()
            async with self._pool.client() as client, transport_errors():
                response = await client.request(method, self.url_for(path), headers=headers, **send)
            if response.status_code >= 400:
                raise with_server_retry_verdict(self.provider.classify_error(response), response.headers)
            return response

    @asynccontextmanager
    async def stream_lines(self, path: str) -> AsyncIterator[AsyncIterator[str]]:
        """The lines of a GET reply as they arrive (a results file: no size cap, never whole in
        memory); an error status is raised as :meth:`call` raises it."""
        with self.provider.scrubbed():
            self._refuse_if_misconfigured()
            async with (
                self._pool.client() as client,
                transport_errors(),
                client.stream("GET", self.url_for(path)) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    raise with_server_retry_verdict(self.provider.classify_error(response), response.headers)
                lines = _transport_checked(response.aiter_lines())
                async with aclosing(lines):
                    yield lines

    def url_for(self, url: str) -> str:
        """``url`` under the base URL; an absolute URL only if it is on the base URL's server (the key
        these clients send must not go to a host a reply names)."""
        base = urlsplit(self._base_url)
        if not url.startswith(("http://", "https://")):
            return joined_url(base, url)
        target = urlsplit(url)
        if (target.scheme, _host(target.netloc)) != (base.scheme, _host(base.netloc)):
            raise MalformedReply(
                f"refused to send to {target.scheme}://{target.hostname}: a reply named a URL on another "
                f"server than the endpoint's ({base.hostname})"
            )
        return url

    async def aclose(self) -> None:
        """Close the clients."""
        await self._pool.aclose()

    def _refuse_if_misconfigured(self) -> None:
        if self.provider.config_problems:
            raise AuthError("; ".join(self.provider.config_problems))


def _host(netloc: str) -> str:
    return netloc.rpartition("@")[2].lower()


async def _transport_checked(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    async with transport_errors():  # a connection lost half-way through a results file
        async for line in lines:
            yield line
