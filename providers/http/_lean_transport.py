"""A lean HTTP/1.1 transport for httpx, on trio sockets (the bytes on the wire: :mod:`providers.http._http1`).

httpx's default transport (httpcore) rescans every pooled connection on each request event, so its
cost per request grows with the requests in flight: at a thousand in flight it dominates a run
(see the performance section of the README). This transport plugs into httpx at its documented seam,
``httpx.AsyncBaseTransport``, and keeps what a batch runner needs and nothing more:

* sockets read and written directly (:mod:`providers.http._socket_stream`), TLS by ``trio.SSLStream``;
* idle keep-alive connections per origin in a stack: taking and returning one is O(1);
* no limit on connections in use (the engine's rate limiter and ``max_in_flight`` bound them);
* a connection that failed, was cancelled, or whose reply was not complete is closed, never reused;
  an idle one the server has closed (its socket reads as ready) is dropped before it is used;
* httpx's timeouts (connect, read, write) and exception types, so callers cannot tell the difference;
* requests serialized here and replies parsed by httptools (C), not h11 (pure Python): at a thousand
  requests a second h11 took an eighth of the run's CPU.

It speaks HTTP/1.1 only (APIs serve it everywhere) and reads each reply whole: replies are one JSON
document, not a stream. It stops reading a body past ``max_reply_bytes``, and leaves decoding it to
httpx as it is read (:mod:`providers.http._reply_size`). Proxies are httpx's job:
:func:`providers.http._pool.lean_transport_allowed` says when this transport may be used.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
import httpx
import trio

from providers.http._http1 import Incomplete, ReplyReader, Unsendable, request_bytes
from providers.http._reply_size import Pieces, ReplyTooLarge
from providers.http._socket_stream import SocketStream

READ_CHUNK = 65536
MAX_IDLE_PER_ORIGIN = 4096

Origin = tuple[bytes, bytes, int]
Reply = tuple[int, list[tuple[bytes, bytes]], list[bytes], bytes]
"""A reply read whole: status, headers, body chunks (as sent), reason phrase."""


class _Connection:
    """One socket (TCP or TLS); ``reusable`` once a reply read whole allows another request."""

    __slots__ = ("reusable", "stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.reusable = False

    def server_has_closed(self) -> bool:
        """An idle keep-alive socket that reads as ready holds EOF (or junk): it must not be reused."""
        socket = _socket_of(self.stream)
        return socket is None or socket.is_readable()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over trio with an O(1) keep-alive pool; pass it as ``transport=`` to ``httpx.AsyncClient``."""

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, *, max_reply_bytes: int | None = None
    ) -> None:
        """``max_reply_bytes``: stop reading a body (as sent, before decoding) past this size."""
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._max_reply_bytes = max_reply_bytes
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, chunks, reason = await self.exchange(request)
        return httpx.Response(
            status,
            headers=headers,
            stream=Pieces(chunks),  # not content=: httpx would decode it here, all of it at once
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def exchange(self, request: httpx.Request) -> Reply:
        """Send ``request`` and read its whole reply: status, headers, body chunks (as sent), reason
        phrase. :class:`~providers.http._pool.ClientPool` calls it directly, without an ``httpx.Response``."""
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
        body = request.read() if isinstance(request.stream, httpx.ByteStream) else await request.aread()
        try:  # refused before any connection is made
            outgoing = request_bytes(request.method.encode(), request.url.raw_path, request.headers.raw, body)
        except Unsendable as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        connection = self._take_idle(origin) or await self._connect(origin, timeouts.get("connect"), request)
        try:
            reply = await _exchange(connection, request, outgoing, timeouts, self._max_reply_bytes)
        except BaseException:
            await trio.aclose_forcefully(connection.stream)
            raise
        self._give_back(origin, connection)
        return reply

    async def aclose(self) -> None:
        """Close every idle connection at once (a run ends with a thousand: no round trip each)."""
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                _close_now(connection)
        await trio.lowlevel.checkpoint()

    def idle_connections(self) -> int:
        """How many keep-alive connections wait for reuse (for tests and statistics)."""
        return sum(len(connections) for connections in self._idle.values())

    def _take_idle(self, origin: Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            if not connection.server_has_closed():
                return connection
            _close_now(connection)
        return None

    def _give_back(self, origin: Origin, connection: _Connection) -> None:
        if connection.reusable:
            connection.reusable = False
            stack = self._idle.setdefault(origin, [])
            if len(stack) < MAX_IDLE_PER_ORIGIN:
                stack.append(connection)
                return
        _close_now(connection)

    async def _open(self, origin: Origin) -> trio.abc.Stream:
        scheme, host, port = origin
        stream: trio.abc.Stream = await SocketStream.connect(host.decode("ascii"), port)
        if scheme == b"https":
            tls = trio.SSLStream(
                stream, self._ssl_context, server_hostname=host.decode("ascii"), https_compatible=True
            )
            try:
                await tls.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            stream = tls
        return stream

    async def _connect(self, origin: Origin, seconds: float | None, request: httpx.Request) -> _Connection:
        try:
            stream = await _within(seconds, httpx.ConnectTimeout, request, self._open, origin)
        except (OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
            raise _mapped_error(exc, request, connect=True) from exc
        return _Connection(stream)


async def _exchange(
    connection: _Connection,
    request: httpx.Request,
    outgoing: bytes,
    timeouts: dict[str, float | None],
    max_reply_bytes: int | None,
) -> Reply:
    """Send one request (its bytes: ``outgoing``) and read its whole reply: status, headers, body
    chunks, reason phrase.

    The error mapping is one ``try``, not a context-manager generator: at a thousand requests a
    second each context manager (and each cancel scope, :func:`_within`) showed."""
    stream = connection.stream
    reply = ReplyReader(head_request=request.method == "HEAD")
    write_s, read_s = timeouts.get("write"), timeouts.get("read")
    try:
        await _within(write_s, httpx.WriteTimeout, request, stream.send_all, outgoing)
        while not reply.complete:
            data = await _within(read_s, httpx.ReadTimeout, request, stream.receive_some, READ_CHUNK)
            if not data:
                reply.end()
                break
            reply.feed(bytes(data))
            if max_reply_bytes is not None and reply.body_bytes > max_reply_bytes:
                raise ReplyTooLarge(reply.status, max_reply_bytes, request=request)
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"the reply is not HTTP/1.1: {exc}", request=request) from exc
    except Incomplete as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from None
    except (OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
        raise _mapped_error(exc, request, connect=False) from exc
    connection.reusable = reply.reusable()
    return reply.status, reply.headers, reply.chunks, reply.reason


async def _within(
    seconds: float | None,
    error: type[httpx.TimeoutException],
    request: httpx.Request,
    operation: Callable[[Any], Awaitable[Any]],
    argument: Any,
) -> Any:
    """``await operation(argument)`` under one of httpx's per-operation timeouts: a bare cancel scope
    (not ``fail_after``), and none when a deadline around the call comes sooner anyway (the engine's
    ``request_timeout_s``, 300 s by default, ends a request before httpx's 600 s read timeout)."""
    at = None if seconds is None else trio.current_time() + seconds
    if at is None or at > trio.current_effective_deadline():
        return await operation(argument)
    with trio.CancelScope(deadline=at):
        return await operation(argument)
    raise error(f"no progress within {seconds:g} s", request=request)  # the scope caught its deadline


def _mapped_error(exc: Exception, request: httpx.Request, *, connect: bool) -> httpx.TransportError:
    """trio's failures as httpx's exception types."""
    error = httpx.ConnectError if connect else httpx.ReadError
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ else exc
    return error(f"{type(cause).__name__}: {cause}", request=request)


def _socket_of(stream: trio.abc.Stream) -> SocketStream | None:
    tcp = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    return tcp if isinstance(tcp, SocketStream) else None


def _close_now(connection: _Connection) -> None:
    """Drop a connection without a round trip (no TLS close_notify: the reply was already read)."""
    if (socket := _socket_of(connection.stream)) is not None:
        socket.close()
