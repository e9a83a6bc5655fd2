"""A TCP stream for the lean transport: a non-blocking socket, and trio's I/O waits only when needed.

``trio.SocketStream`` is general: each call goes through a conflict detector, a context-manager
generator translating errors, and trio's socket wrapper, which tries the operation, waits if it
would block, and yields to the scheduler even when it did not. At a thousand requests a second that
was an eighth of a run's CPU. An HTTP exchange needs less: the request fits the send buffer (it is
sent at once, no yield), and its reply is never there the moment it is sent (so the first read waits
for the socket to be readable, then reads, without a failed read first).

Each connection has one user at a time (the transport takes it from its pool for one exchange), so
there is no conflict to detect. TLS wraps it like any trio stream (``trio.SSLStream``).
"""

from __future__ import annotations

import socket

import trio


class SocketStream(trio.abc.Stream):
    """A connected TCP socket (non-blocking), as a trio stream; failures raise ``BrokenResourceError``
    from the ``OSError``, as trio's own streams do."""

    __slots__ = ("_more_waiting", "socket")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.socket = sock
        self._more_waiting = False  # the last read filled its buffer: more is likely there already

    @classmethod
    async def connect(cls, host: str, port: int) -> SocketStream:
        """Connect as ``trio.open_tcp_stream`` does (happy eyeballs, ``TCP_NODELAY``), then take its
        socket."""
        opened = await trio.open_tcp_stream(host, port)
        return cls(socket.socket(fileno=opened.socket.detach()))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view, sent = memoryview(data), 0
        try:
            while True:
                try:
                    sent += self.socket.send(view[sent:])
                except BlockingIOError:  # the send buffer is full: wait for room
                    await trio.lowlevel.wait_writable(self.socket)
                    continue
                if sent >= len(view):
                    return
        except OSError as exc:
            raise self._broken(exc) from exc

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self.socket)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        size = max_bytes or 65536
        if self.socket.fileno() == -1:
            raise trio.ClosedResourceError("the socket was closed")
        try:
            while True:
                if not self._more_waiting:
                    await trio.lowlevel.wait_readable(self.socket)
                try:
                    data = self.socket.recv(size)
                except BlockingIOError:
                    self._more_waiting = False
                    continue
                self._more_waiting = len(data) == size
                return data
        except OSError as exc:
            raise self._broken(exc) from exc

    def is_readable(self) -> bool:
        """Whether a read would not wait: on an idle keep-alive socket, the server's EOF (or junk)."""
        try:
            self.socket.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def close(self) -> None:
        """Close at once (any task waiting on the socket gets ``ClosedResourceError``)."""
        if self.socket.fileno() != -1:
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    def _broken(self, exc: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
        if self.socket.fileno() == -1:
            return trio.ClosedResourceError("the socket was closed")
        return trio.BrokenResourceError(f"socket connection broken: {exc}")
