"""HTTP/1.1 on the wire for the lean transport: a request's bytes, and a reply read by httptools.

Serializing a request is a few lines; what h11 adds on the way (a state machine, header objects)
cost as much CPU as the socket calls at a thousand requests a second. Replies are parsed by httptools
(llhttp, the C parser of Node.js and uvicorn): some 3 µs a reply, against some 35 µs in pure Python.

What this module guarantees, as h11 did:

* a request whose method, target or headers HTTP cannot carry (a header value holding a newline, say)
  is refused before anything is sent (:class:`Unsendable`);
* a reply is complete when its framing says so (``content-length``, chunked, or, with neither, the
  end of the connection); ``1xx`` interim replies are skipped; anything else is a
  :class:`httptools.HttpParserError`, or :class:`Incomplete` when the connection ends early;
* a connection is kept only after a complete reply that allows it (HTTP/1.1 without
  ``connection: close``, nothing after the reply, a body not delimited by the end of the connection).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httptools

MAX_HEAD_BYTES = 65536
"""A reply's status line and headers, at most (h11 refused 16 KiB; some gateways send more)."""

_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"(?:[^\x00-\x20\x7f]+(?:[ \t]+[^\x00-\x20\x7f]+)*)?")
"""RFC 9110's field value: visible characters with inner spaces or tabs, no control character."""
_TARGET = re.compile(rb"[\x21-\x7e]+")


class Unsendable(ValueError):
    """HTTP cannot carry the request's method, target or headers (the message says which, as
    :func:`why_unsendable` does)."""


class Incomplete(Exception):
    """The connection ended before the reply did (``nothing``: before any byte of it)."""

    def __init__(self, *, nothing: bool) -> None:
        super().__init__(
            "Server disconnected without sending a response."
            if nothing
            else "peer closed connection without sending complete message body"
        )
        self.nothing = nothing


def why_unsendable(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """Why HTTP cannot carry a request with these headers, naming the offending header, never quoting
    its value (a key with a newline must not reach a log); the request line, if no header is at fault."""
    for name, value in headers:
        shown = repr(name.decode("ascii", "replace"))
        if _TOKEN.fullmatch(name) is None:
            return f"the header name {shown} is not valid in HTTP"
        if _VALUE.fullmatch(value) is None:
            return (
                f"the value of header {shown} is not valid in HTTP "
                "(leading or trailing whitespace, or a control character such as a newline)"
            )
    return "HTTP refused the request line or its headers"


def request_bytes(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The request as sent: request line, headers as given, body (chunked if the headers say so)."""
    if _TOKEN.fullmatch(method) is None or _TARGET.fullmatch(target) is None:
        raise Unsendable(why_unsendable(()))
    lines = [method + b" " + target + b" HTTP/1.1"]
    chunked = False
    for name, value in headers:
        if _TOKEN.fullmatch(name) is None or _VALUE.fullmatch(value) is None:
            raise Unsendable(why_unsendable([(name, value)]))
        lines.append(name + b": " + value)
        chunked = chunked or (name.lower() == b"transfer-encoding" and value.lower() == b"chunked")
    lines.append(b"\r\n")
    head = b"\r\n".join(lines)
    if chunked:
        return head + (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return head + body


class ReplyReader:
    """One reply, fed as it arrives (:meth:`feed`, then :meth:`end` at the end of the connection).

    httptools calls the ``on_*`` methods while it parses; the transport holds ``body_bytes`` (the
    body as sent) to its cap after each :meth:`feed`."""

    __slots__ = (
        "_head_bytes",
        "_head_request",
        "_keep_alive",
        "_messages",
        "_parser",
        "body_bytes",
        "chunks",
        "complete",
        "headers",
        "headers_done",
        "reason",
        "status",
    )

    def __init__(self, *, head_request: bool = False) -> None:
        """``head_request``: the reply answers a ``HEAD`` (no body, whatever its headers say)."""
        self._parser = httptools.HttpResponseParser(self)
        self._head_request = head_request
        self._keep_alive = False
        self._messages = 0
        self._head_bytes = 0
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.body_bytes = 0
        self.headers_done = self.complete = False

    def feed(self, data: bytes) -> None:
        """Parse the next bytes off the socket (:class:`httptools.HttpParserError` if they are not HTTP)."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if not self.complete:
                raise
            self._keep_alive = False  # bytes after the reply that are not HTTP: the reply stands
        if self._head_bytes > MAX_HEAD_BYTES:
            raise httptools.HttpParserError(f"reply headers over {MAX_HEAD_BYTES} bytes")

    def end(self) -> None:
        """The connection ended: the reply is complete only if its body was delimited by that end."""
        if self.complete:
            return
        if not self.headers_done or self._framed():
            raise Incomplete(nothing=self._messages == 0)
        self.complete = True  # a body without framing ends with its connection, which is not kept

    def reusable(self) -> bool:
        """Whether the connection may carry another request: one complete reply that allows it."""
        return self.complete and self._messages == 1 and self._keep_alive

    def _framed(self) -> bool:
        return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self._messages += 1

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)  # checked after the bytes fed (see feed)
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True
        if self._head_request and not 100 <= self.status < 200:  # llhttp would wait for a body
            self.complete = True  # ...and its state is then mid-body: the connection is not kept

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200 and self.status != 101:  # an interim reply: the real one follows
            self._messages -= 1
            self.status, self.reason, self.headers, self.chunks, self.body_bytes = 0, b"", [], [], 0
            self.headers_done = False
            return
        # Asked now: once this callback returns, llhttp forgets the reply's ``connection: close``.
        self._keep_alive = self._parser.should_keep_alive()
        self.complete = True
