"""The lean HTTP/1.1 transport against real sockets on 127.0.0.1: keep-alive, failures, TLS.

Each test runs a small trio server written for it (raw bytes on a socket), so what goes over the
wire, and how many connections carry it, is exactly what the test says.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from providers._errors import ConnectionFailed, RequestTimeout
from providers.http._lean_transport import LeanTransport
from providers.http._pool import ClientPool, lean_transport_allowed

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'

Handler = Callable[[trio.SocketStream, int], Awaitable[None]]


class RawServer:
    """Serves each connection with ``handler(stream, connection_number)``; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.ended = 0
        """Connections whose handler has returned (for ``keep_alive``: the client closed them)."""
        self.port = 0

    async def start(self, nursery: trio.Nursery) -> RawServer:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, self._serve, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def _serve(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        async with stream:
            await self.handler(stream, self.connections)
        self.ended += 1


async def read_request(stream: trio.SocketStream) -> bytes:
    """Read one request (head and a content-length body); b"" at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += await stream.receive_some(65536)
    return data


async def keep_alive(stream: trio.SocketStream, _: int) -> None:
    while await read_request(stream):
        await stream.send_all(OK)


async def post(transport: LeanTransport, url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.post(url, json={"model": "m"}, **kwargs)  # type: ignore[arg-type]


async def test_requests_reuse_one_keep_alive_connection(nursery: trio.Nursery) -> None:
    server = await RawServer(keep_alive).start(nursery)
    transport = LeanTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        replies = [await client.post(server.url, json={"n": n}) for n in range(3)]
    assert [reply.json() for reply in replies] == [{"ok": True}] * 3
    assert server.connections == 1


async def test_a_thousand_concurrent_requests_each_get_their_reply(nursery: trio.Nursery) -> None:
    async def echo_after_a_while(stream: trio.SocketStream, _: int) -> None:
        while request := await read_request(stream):
            body = request.partition(b"\r\n\r\n")[2]
            await trio.sleep(0.05)
            await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))

    server = await RawServer(echo_after_a_while).start(nursery)
    transport = LeanTransport()
    replies: dict[int, object] = {}
    async with httpx.AsyncClient(transport=transport) as client:

        async def one(number: int) -> None:
            replies[number] = (await client.post(server.url, json={"n": number})).json()

        async with trio.open_nursery() as requests:
            for number in range(1000):
                requests.start_soon(one, number)
        assert transport.idle_connections() == server.connections
    assert replies == {number: {"n": number} for number in range(1000)}
    assert transport.idle_connections() == 0
    await trio.testing.wait_all_tasks_blocked()
    assert server.ended == server.connections  # closing the client closed every connection it kept


async def test_a_connection_the_server_closed_while_idle_is_not_reused(nursery: trio.Nursery) -> None:
    async def one_reply_then_hang_up(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await stream.send_all(OK)  # keep-alive, yet the server closes right after

    server = await RawServer(one_reply_then_hang_up).start(nursery)
    transport = LeanTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        first = await client.post(server.url, json={})
        await trio.sleep(0.05)  # the server's FIN arrives
        second = await client.post(server.url, json={})
    assert (first.status_code, second.status_code) == (200, 200)
    assert server.connections == 2


async def test_connection_close_and_http_1_0_replies_are_not_kept(nursery: trio.Nursery) -> None:
    async def close_after_reply(stream: trio.SocketStream, number: int) -> None:
        await read_request(stream)
        version = b"HTTP/1.0" if number == 1 else b"HTTP/1.1"
        await stream.send_all(version + b" 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}")

    server = await RawServer(close_after_reply).start(nursery)
    transport = LeanTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        assert [(await client.post(server.url, json={})).json() for _ in range(2)] == [{}, {}]
    assert transport.idle_connections() == 0
    assert server.connections == 2


async def test_chunked_and_gzipped_replies_are_decoded(nursery: trio.Nursery) -> None:
    payload = gzip.compress(b'{"text": "hello"}')

    async def chunked_gzip(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-encoding: gzip\r\n\r\n"
        half = len(payload) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:half], payload[half:]))
        await stream.send_all(head + chunks + b"0\r\n\r\n")

    server = await RawServer(chunked_gzip).start(nursery)
    assert (await post(LeanTransport(), server.url)).json() == {"text": "hello"}


async def test_an_interim_reply_is_skipped_and_a_body_may_end_with_the_connection(
    nursery: trio.Nursery,
) -> None:
    async def continue_then_close_delimited(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        await stream.send_all(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"whole": ')
        await stream.send_all(b"true}")  # no content-length, not chunked: the body ends with the connection

    server = await RawServer(continue_then_close_delimited).start(nursery)
    transport = LeanTransport()
    reply = await post(transport, server.url)
    assert (reply.status_code, reply.json()) == (200, {"whole": True})
    assert transport.idle_connections() == 0


async def test_a_body_cut_short_is_a_remote_protocol_error(nursery: trio.Nursery) -> None:
    async def cut_short(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await stream.send_all(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"par')

    server = await RawServer(cut_short).start(nursery)
    transport = LeanTransport()
    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
        await post(transport, server.url)
    assert transport.idle_connections() == 0


async def test_bytes_after_a_reply_keep_the_reply_but_not_the_connection(nursery: trio.Nursery) -> None:
    async def trailing_junk(stream: trio.SocketStream, _: int) -> None:
        while await read_request(stream):
            await stream.send_all(OK + b"\x00junk after the reply")

    server = await RawServer(trailing_junk).start(nursery)
    transport = LeanTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        replies = [(await client.post(server.url, json={})).json() for _ in range(2)]
    assert replies == [{"ok": True}] * 2
    assert (server.connections, transport.idle_connections()) == (2, 0)


async def test_headers_past_64_kib_are_refused(nursery: trio.Nursery) -> None:
    async def endless_headers(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await stream.send_all(b"HTTP/1.1 200 OK\r\n" + b"x-padding: %s\r\n" % (b"p" * 1000) * 80)

    server = await RawServer(endless_headers).start(nursery)
    with pytest.raises(httpx.RemoteProtocolError, match="reply headers over 65536 bytes"):
        await post(LeanTransport(), server.url)


async def test_a_head_reply_has_no_body_whatever_its_length(nursery: trio.Nursery) -> None:
    async def head(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")

    server = await RawServer(head).start(nursery)
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        reply = await client.head(server.url)
    assert (reply.status_code, reply.headers["content-length"], reply.content) == (200, "1234", b"")


async def test_a_streamed_request_body_is_sent_chunked(nursery: trio.Nursery) -> None:
    seen: list[bytes] = []

    async def record_chunked(stream: trio.SocketStream, _: int) -> None:
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += await stream.receive_some(65536)
        seen.append(data)
        await stream.send_all(OK)

    async def pieces() -> AsyncIterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    server = await RawServer(record_chunked).start(nursery)
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        reply = await client.post(server.url, content=pieces())
    assert reply.json() == {"ok": True}
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b'8\r\n{"a": 1}\r\n0\r\n\r\n'


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x-note": "two\r\nx-injected: lines"}, "the value of header 'x-note' is not valid in HTTP"),
        ({"x note": "x-injected"}, "the header name 'x note' is not valid in HTTP"),
    ],
)
async def test_a_header_http_cannot_carry_is_refused_before_sending(
    nursery: trio.Nursery, headers: dict[str, str], error: str
) -> None:
    server = await RawServer(keep_alive).start(nursery)
    with pytest.raises(httpx.LocalProtocolError, match=error) as refused:
        await post(LeanTransport(), server.url, headers=headers)
    assert "injected" not in str(refused.value)
    assert server.connections == 0


async def test_the_request_on_the_wire_is_what_httpx_built(nursery: trio.Nursery) -> None:
    seen: list[bytes] = []

    async def record(stream: trio.SocketStream, _: int) -> None:
        seen.append(await read_request(stream))
        await stream.send_all(OK)

    server = await RawServer(record).start(nursery)
    await post(LeanTransport(), server.url + "?api-version=1", headers={"api-key": "k"})
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions?api-version=1 HTTP/1.1"
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines[1:])}
    assert headers[b"host"] == f"127.0.0.1:{server.port}".encode()
    assert headers[b"api-key"] == b"k"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert body == b'{"model":"m"}'


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", "Server disconnected without sending a response"),
        (b"SMTP ready\r\n\r\n", "the reply is not HTTP/1.1"),
    ],
)
async def test_a_broken_reply_is_a_remote_protocol_error(
    nursery: trio.Nursery, reply: bytes, error: str
) -> None:
    async def broken(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await stream.send_all(reply)

    server = await RawServer(broken).start(nursery)
    transport = LeanTransport()
    with pytest.raises(httpx.RemoteProtocolError, match=error):
        await post(transport, server.url)
    assert transport.idle_connections() == 0


async def test_a_silent_server_times_out_as_httpx_does_and_through_the_pool(nursery: trio.Nursery) -> None:
    async def silent(stream: trio.SocketStream, _: int) -> None:
        await read_request(stream)
        await trio.sleep_forever()

    server = await RawServer(silent).start(nursery)
    transport = LeanTransport()
    with pytest.raises(httpx.ReadTimeout):
        await post(transport, server.url, timeout=0.1)
    pool = ClientPool(server.url, timeout=httpx.Timeout(0.1))
    with pytest.raises(RequestTimeout, match="ReadTimeout"):
        await pool.post("", json_body={})
    await pool.aclose()
    assert transport.idle_connections() == 0


async def test_a_refused_connection_is_a_connection_failure() -> None:
    with trio.socket.socket() as probe:  # a port nothing listens on
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await post(LeanTransport(), f"http://127.0.0.1:{port}/")
    pool = ClientPool(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectionFailed, match="ConnectError"):
        await pool.post("/v1/chat/completions", json_body={})
    await pool.aclose()


async def test_a_cancelled_request_closes_its_connection(nursery: trio.Nursery) -> None:
    async def slow(stream: trio.SocketStream, _: int) -> None:
        while await read_request(stream):
            await trio.sleep(10)
            await stream.send_all(OK)

    server = await RawServer(slow).start(nursery)
    transport = LeanTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with trio.move_on_after(0.05):
            await client.post(server.url, json={})
    assert transport.idle_connections() == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_https_through_tls_with_a_verified_certificate(nursery: trio.Nursery, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_stdout=True,
        capture_stderr=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    connections = 0

    async def tls_keep_alive(stream: trio.SSLStream[trio.SocketStream]) -> None:
        nonlocal connections
        connections += 1
        with contextlib.suppress(trio.BrokenResourceError):  # the client that refuses the certificate
            while await read_request(stream):  # type: ignore[arg-type]
                await stream.send_all(OK)

    listeners = await nursery.start(
        functools.partial(trio.serve_ssl_over_tcp, tls_keep_alive, 0, server_context, host="127.0.0.1")
    )
    port = listeners[0].transport_listener.socket.getsockname()[1]
    url = f"https://localhost:{port}/v1/chat/completions"

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await post(LeanTransport(), url)  # the system's trust store does not know this certificate
    trusting = ssl.create_default_context(cafile=str(cert))
    transport = LeanTransport(trusting)
    async with httpx.AsyncClient(transport=transport) as client:
        replies = [await client.post(url, json={}) for _ in range(2)]
    assert [reply.json() for reply in replies] == [{"ok": True}] * 2
    assert connections == 2  # the refused handshake, then one connection kept alive for both requests


@pytest.mark.parametrize(
    ("environment", "lean"),
    [({}, True), ({"NO_PROXY": "localhost"}, True), ({"HTTPS_PROXY": "http://proxy.lab:3128"}, False)],
)
def test_a_proxy_in_the_environment_leaves_requests_to_httpx(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], lean: bool
) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert lean_transport_allowed() is lean
