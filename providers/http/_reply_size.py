"""How much of a reply is read: at most ``max_reply_bytes`` of its body, decoded, refused while it arrives.

One 500 MB reply once took 2.65 GB of memory. Now:

* the lean transport (:mod:`providers.http._lean_transport`) stops reading a body past the cap as sent
  (:class:`ReplyTooLarge`), and hands the body to httpx as a stream (:class:`Pieces`), so that httpx
  decodes it while it is read, not all at once inside the transport;
* :class:`ReplyCappedClient`, the client every provider sends through (over httpx's own transport
  too, where a proxy is set), has httpx decode a compressed body :data:`DECODE_PIECE` bytes at a
  time, counts the decoded bytes and stops past the cap: a small gzip body that inflates to gigabytes
  is refused after a few megabytes.

A reply past the cap, or one whose ``content-encoding`` cannot be decoded, is a :class:`MalformedReply`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from providers._errors import MalformedReply

MB = 2**20
DEFAULT_MAX_REPLY_BYTES = 64 * MB
"""Replies larger than this (decoded) are refused while they arrive; the run's ``max_reply_mb``."""
DECODE_PIECE = 2048
"""Bytes of a compressed body httpx decodes at a time: gzip inflates a piece at most ~1000-fold, so a
body overshoots the cap by some 2 MB at most before reading stops (httpcore reads 64 KiB at a time)."""
_BODY_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})
BODY_FRAMING = frozenset(name.encode() for name in _BODY_FRAMING)
"""The same, as the lean transport's raw header names (lower-cased before comparing)."""


class ReplyTooLarge(httpx.TransportError):
    """A reply whose body passed the size limit: reading stopped there, and its connection is closed."""

    def __init__(self, status: int, limit: int, *, request: httpx.Request) -> None:
        super().__init__(f"HTTP {status}: reply body over {limit} bytes", request=request)
        self.status = status
        self.limit = limit


class Pieces(httpx.AsyncByteStream):
    """A body as a stream: chunks already read off the socket, or a stream still reading (closed with
    this one); cut into pieces of at most ``size`` bytes when a size is given."""

    def __init__(self, source: list[bytes] | httpx.AsyncByteStream, size: int | None = None) -> None:
        self._source = source
        self._size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if isinstance(self._source, list):
            for chunk in self._source:
                for piece in _cut(chunk, self._size):
                    yield piece
        else:
            async for chunk in self._source:
                for piece in _cut(chunk, self._size):
                    yield piece

    async def aclose(self) -> None:
        if not isinstance(self._source, list):
            await self._source.aclose()


def _cut(chunk: bytes, size: int | None) -> Iterator[bytes]:
    if size is None or len(chunk) <= size:
        yield chunk
    else:
        for start in range(0, len(chunk), size):
            yield chunk[start : start + size]


class ReplyCappedClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that reads each reply's body, decoded, up to ``max_reply_bytes``.

    A bigger body, or one its ``content-encoding`` cannot decode, is a :class:`MalformedReply` as soon
    as that shows: reading stops there and the connection is closed. A reply read whole comes back
    with its body decoded, so without the headers that framed the encoded one.
    """

    def __init__(self, max_reply_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_reply_bytes = max_reply_bytes

    async def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """httpx's ``send``; without ``stream=True`` the body is read under the cap."""
        try:
            response = await super().send(request, stream=True, **kwargs)
        except ReplyTooLarge as exc:  # the lean transport stopped reading before any decoding
            raise reply_too_large(exc.status, exc.limit) from None
        if stream:
            return response
        return await read_capped_body(response, self.max_reply_bytes)


async def read_capped_body(response: httpx.Response, limit: int) -> httpx.Response:
    """``response`` (a stream) read whole under ``limit`` decoded bytes, then closed."""
    if "content-encoding" in response.headers and isinstance(response.stream, httpx.AsyncByteStream):
        response.stream = Pieces(response.stream, DECODE_PIECE)  # 64 KiB of gzip inflates to ~64 MB
    try:
        return await _read_capped(response, limit)
    finally:
        await response.aclose()


async def _read_capped(response: httpx.Response, limit: int) -> httpx.Response:
    status, chunks, size = response.status_code, [], 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise reply_too_large(status, limit)
            chunks.append(chunk)
    except httpx.DecodingError as exc:
        encoding = response.headers.get("content-encoding", "encoded")
        raise MalformedReply(
            f"HTTP {status}: reply body is not valid {encoding} data ({exc})", status=status
        ) from exc
    return httpx.Response(
        status,
        headers=[
            (name, value) for name, value in response.headers.multi_items() if name not in _BODY_FRAMING
        ],
        content=b"".join(chunks),
        request=response.request,
        extensions=response.extensions,
    )


def reply_too_large(status: int, limit: int) -> MalformedReply:
    """The error for a reply body past the cap (reading stopped at the cap)."""
    return MalformedReply(
        f"HTTP {status}: reply body over max_reply_mb ({limit / MB:g} MB): not read further "
        "(raise max_reply_mb if replies this large are expected)",
        status=status,
    )
