"""``ClientPool.post`` on the lean transport skips httpx's client and is indistinguishable from it.

The same bytes on the wire, the same response (headers, body decoded, framing headers dropped), the
cookies kept for the next request, httpx's ``HTTP Request:`` log line, and the client's own path for
what it alone does (user info in the URL sent as basic auth, per-request headers).
"""

from __future__ import annotations

import gzip
import logging

import httpx
import pytest
import trio

from providers.http._pool import ClientPool
from tests.providers.test_lean_transport import Handler, RawServer, read_request

BODY = {"model": "m", "messages": [{"role": "user", "content": "é ✓"}], "n": [1, 2.5, None]}


def serve_with(reply: bytes, requests: list[bytes]) -> Handler:
    async def handler(stream: trio.SocketStream, _: int) -> None:
        while request := await read_request(stream):
            requests.append(request)
            await stream.send_all(reply)

    return handler


async def both_ways(
    nursery: trio.Nursery, reply: bytes, base: str = "/v1?x=1"
) -> tuple[list[bytes], httpx.Response, httpx.Response, ClientPool]:
    """The same POST through ``pool.post`` (lean) and through the pool's client (httpx's way)."""
    requests: list[bytes] = []
    server = await RawServer(serve_with(reply, requests)).start(nursery)
    pool = ClientPool(
        f"http://127.0.0.1:{server.port}{base}", headers={"Authorization": "Bearer k"}, lean=True
    )
    lean = await pool.post("chat/completions", json_body=BODY)
    pool._clients[0].cookies.clear()
    async with pool.client() as client:
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions?x=1"
        plain = await client.post(url, json=BODY)
    await pool.aclose()
    return requests, lean, plain, pool


async def test_the_request_and_the_response_are_the_clients(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nx-request-id: r1\r\n"
    reply += b'content-length: 11\r\n\r\n{"ok":true}'
    requests, lean, plain, _ = await both_ways(nursery, reply)

    assert requests[0] == requests[1]
    assert requests[0].startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert (lean.status_code, lean.content, lean.reason_phrase) == (
        plain.status_code,
        plain.content,
        "Created",
    )
    assert list(lean.headers.multi_items()) == list(plain.headers.multi_items())
    assert lean.request.headers.raw == plain.request.headers.raw


async def test_a_gzipped_chunked_reply_is_decoded_and_unframed(nursery: trio.Nursery) -> None:
    packed = gzip.compress(b'{"ok":true}')
    reply = (
        b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed)
    )
    _, lean, plain, _ = await both_ways(nursery, reply)

    assert lean.json() == plain.json() == {"ok": True}
    assert list(lean.headers.multi_items()) == list(plain.headers.multi_items()) == [("content-length", "11")]


async def test_cookies_are_kept_and_sent_back(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.1 200 OK\r\nset-cookie: cf=abc; Path=/\r\ncontent-length: 2\r\n\r\n{}"
    requests: list[bytes] = []
    server = await RawServer(serve_with(reply, requests)).start(nursery)
    pool = ClientPool(f"http://127.0.0.1:{server.port}/v1", lean=True)
    for _ in range(2):
        await pool.post("chat/completions", json_body=BODY)
    await pool.aclose()

    assert b"cookie: cf=abc" not in requests[0].lower()
    assert b"cookie: cf=abc" in requests[1].lower()


async def test_httpx_log_line_is_written(nursery: trio.Nursery, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    requests, _, _, _ = await both_ways(nursery, reply)

    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert lines[0] == f'HTTP Request: POST {lines[0].split()[3]} "HTTP/1.1 200 OK"'


async def test_user_info_in_the_url_goes_through_the_client_as_basic_auth(nursery: trio.Nursery) -> None:
    requests: list[bytes] = []
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    server = await RawServer(serve_with(reply, requests)).start(nursery)
    pool = ClientPool(f"http://u:p@127.0.0.1:{server.port}/v1", lean=True)
    await pool.post("chat/completions", json_body=BODY)
    await pool.post("chat/completions", json_body=BODY, headers={"X-Token": "t"})
    await pool.aclose()

    assert b"Authorization: Basic dTpw" in requests[0]
    assert b"X-Token: t" in requests[1]
