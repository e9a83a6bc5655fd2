"""A streamed reply read line by line as it arrives: the plumbing Anthropic's server-sent events and
Ollama's NDJSON share.

:func:`open_stream` POSTs the body and hands over a :class:`LineStream` whose :meth:`LineStream.feed`
hands each line over as it comes; an error status is read whole (up to the run's ``max_reply_mb``) and
classified as the provider classifies any error reply. Streams go through httpx's own transport
(:func:`stream_pool`: ``lean=False``), since the lean one reads each reply whole before handing it over.
Transport failures mid-stream are :mod:`providers._errors`, as for any request; the request deadline
the engine sets still holds (trio cancels the read).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import httpx

from providers._error_replies import named_status
from providers._errors import AuthError, MalformedReply, ProviderError, excerpt
from providers._reply import Completion
from providers._types import ChatRequest
from providers.http._pool import ClientPool, joined_url, transport_errors, with_server_retry_verdict
from providers.http._reply_size import reply_too_large

if TYPE_CHECKING:
    from providers._json_api import JsonApiProvider


def stream_pool(provider: JsonApiProvider) -> ClientPool:
    """Clients on httpx's own transport, for the provider's endpoint and headers."""
    context = provider.context
    return ClientPool(
        provider.resolve_endpoint(context) or "http://endpoint.not.configured",
        headers=provider.static_headers(provider.api_key),
        transport=context.transport,
        expected_concurrency=context.expected_concurrency,
        lean=False,
        max_reply_bytes=context.max_reply_bytes,
    )


class StreamClients:
    """A provider's clients for streamed replies (:func:`stream_pool`), made at its first streamed
    request and closed with it."""

    def __init__(self, provider: JsonApiProvider) -> None:
        self._provider = provider
        self._pool: ClientPool | None = None

    async def complete(
        self, request: ChatRequest, read: Callable[[ChatRequest, ClientPool], Awaitable[Completion]]
    ) -> Completion:
        """``read`` the streamed ``request`` through these clients, its errors scrubbed as any
        request's, and refused while the provider's settings have problems."""
        provider = self._provider
        with provider.scrubbed():
            if provider.config_problems:
                raise AuthError("; ".join(provider.config_problems))
            if self._pool is None:
                self._pool = stream_pool(provider)
                provider.close_with(self._pool.aclose)
            return await read(request, self._pool)


class LineStream:
    """An open streamed reply: its HTTP response (headers: request id, rate limits) and its lines."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self.response = response
        self._limit = limit

    async def feed(self, take: Callable[[str], None]) -> None:
        """Hand each line of the body to ``take`` as it arrives (up to the run's ``max_reply_mb``).

        When ``take`` raises (an error event, a line that is not JSON), the rest of the body is still
        read, unlooked-at, before the error leaves: a stream ends right after its error event, and
        leaving httpx's readers half-way through would leave them to the garbage collector."""
        size, failure = 0, None
        # httpx's aiter_lines is an async generator (annotated as an iterator): closed here, not by the GC.
        lines = cast(AsyncGenerator[str, None], self.response.aiter_lines())
        async with aclosing(lines):
            async for line in lines:
                size += len(line) + 1
                if size > self._limit:
                    raise reply_too_large(self.response.status_code, self._limit)
                if failure is None:
                    try:
                        take(line)
                    except ProviderError as exc:
                        failure = exc
        if failure is not None:
            raise failure


@asynccontextmanager
async def open_stream(
    provider: JsonApiProvider, pool: ClientPool, path: str, body: Any, headers: Mapping[str, str] | None
) -> AsyncIterator[LineStream]:
    """POST ``body`` to ``path`` and open its reply as a :class:`LineStream` (closed on the way out)."""
    limit = provider.context.max_reply_bytes
    url = joined_url(urlsplit(provider.resolve_endpoint(provider.context) or ""), path)
    async with pool.client() as client, transport_errors():
        response = await client.send(
            client.build_request("POST", url, json=body, headers=headers), stream=True
        )
        try:
            if response.status_code >= 400:
                content = bytearray()
                async for piece in response.aiter_bytes():
                    content += piece
                    if len(content) > limit:
                        raise reply_too_large(response.status_code, limit)
                error = httpx.Response(response.status_code, headers=response.headers, content=bytes(content))
                raise with_server_retry_verdict(provider.classify_error(error), response.headers)
            yield LineStream(response, limit)
        except httpx.DecodingError as exc:
            raise MalformedReply(f"HTTP {response.status_code}: stream is not valid ({exc})") from exc
        finally:
            await response.aclose()


def event_json(text: str) -> Any:
    """One event's JSON, or :class:`MalformedReply` saying it is not."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(f"HTTP 200: a stream event is not JSON: {excerpt(text)!r}") from exc


def mid_stream_error(provider: JsonApiProvider, event: Mapping[str, Any]) -> ProviderError:
    """An error event sent after the 200 (the partial reply is dropped), classified as the HTTP error
    it names would be (500 when it names none)."""
    status = named_status(event, provider.error_statuses) or 500
    error = provider.classify_error(httpx.Response(status, json=dict(event)))
    error.message = f"the stream failed after HTTP 200 (taken as {error.message})"
    error.args = (error.message,)
    return error


async def sse_data(response: httpx.Response, limit: int) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event of ``response`` as it arrives (its ``data:`` lines joined;
    comments, ``event:`` and other fields skipped), the body stopped past ``limit`` bytes."""
    size, data = 0, []
    lines = cast(AsyncGenerator[str, None], response.aiter_lines())
    async with aclosing(lines):
        async for line in lines:
            size += len(line) + 1
            if size > limit:
                raise reply_too_large(response.status_code, limit)
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line.strip() and data:
                yield "\n".join(data)
                data = []
    if data:
        yield "\n".join(data)


def parsed_stream(provider: JsonApiProvider, payload: Any, response: httpx.Response) -> Completion:
    """The merged events read as the provider reads a whole reply; a payload it cannot read is a
    :class:`MalformedReply` that shows an excerpt of it."""
    try:
        return provider.parse_reply(payload, response)
    except (KeyError, IndexError, TypeError, ValueError, RecursionError) as exc:
        raise MalformedReply(
            f"stream could not be parsed ({type(exc).__name__}: {exc}): {excerpt(json.dumps(payload))!r}"
        ) from exc


def timed(completion: Completion, first_at: float | None, started: float) -> Completion:
    """``completion`` with the seconds from sending to its first content (``None``: none came)."""
    return dataclasses.replace(
        completion, time_to_first_token_s=None if first_at is None else first_at - started
    )
