"""A JSON POST straight through the lean transport: what ``httpx.AsyncClient.post`` does, for less CPU.

At a thousand requests a second the client's machinery around the transport (building the request
from the client's settings, auth and redirect handling, the cookie jar's request model, the response
stream, a second response for the capped body) cost as much CPU as the transport itself.
:func:`post_lean` makes the same request (httpx's JSON encoding, its header order and timeouts) and
the same response (body read whole under the cap and decoded, framing headers dropped, cookies kept,
httpx's ``HTTP Request:`` log line) with none of it. :class:`~providers.http._pool.ClientPool` uses it for
a plain POST through :class:`~providers.http._lean_transport.LeanTransport`; a request with headers of its
own, cookies to send, or user info in its URL (sent as basic auth) goes through the client.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import SplitResult

import httpx

from providers.http._lean_transport import LeanTransport
from providers.http._reply_size import (
    BODY_FRAMING,
    Pieces,
    ReplyCappedClient,
    ReplyTooLarge,
    read_capped_body,
    reply_too_large,
)

MAX_LEAN_TARGETS = 1024
"""Distinct request paths whose URL and head a pool keeps ready (one per model at most)."""
_HTTPX_LOGGER = logging.getLogger("httpx")
_JSON = b"application/json"

LeanTarget = tuple[httpx.URL, list[tuple[bytes, bytes]]]
"""A request's URL, and its head before the body's headers: ``Host``, then the client's headers."""


def lean_target(
    targets: dict[str, LeanTarget | None], base: SplitResult, path: str, client: httpx.AsyncClient
) -> LeanTarget | None:
    """The URL and head of a POST to ``path`` under ``base`` as ``client.build_request`` makes them,
    kept in ``targets``; ``None`` when the URL carries user info (the client sends it as basic auth)."""
    try:
        return targets[path]
    except KeyError:
        pass
    from providers.http._pool import joined_url

    url = httpx.URL(joined_url(base, path))
    target = None if url.username or url.password else (url, [(b"Host", url.netloc), *client.headers.raw])
    if len(targets) < MAX_LEAN_TARGETS:
        targets[path] = target
    return target


async def post_lean(
    transport: LeanTransport,
    target: LeanTarget,
    json_body: Any,
    timeouts: dict[str, float | None],
    client: ReplyCappedClient,
) -> httpx.Response:
    """``client.post(url, json=json_body)``, sent by ``transport`` (the client's own) without the client."""
    url, head = target
    timeout = {"timeout": timeouts}
    content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    length = (b"Content-Length", str(len(content)).encode())
    headers = httpx.Headers([*head, length, (b"Content-Type", _JSON)])
    # stream=, not content=: the same request for a third of the CPU (content= re-derives its headers)
    request = httpx.Request(
        "POST", url, headers=headers, stream=httpx.ByteStream(content), extensions=timeout
    )
    try:
        status, raw_headers, chunks, reason = await transport.exchange(request)
    except ReplyTooLarge as exc:  # reading stopped before any decoding
        raise reply_too_large(exc.status, exc.limit) from None
    extensions = {"http_version": b"HTTP/1.1", "reason_phrase": reason}
    if any(name.lower() == b"content-encoding" for name, _ in raw_headers):
        streamed = httpx.Response(
            status, headers=raw_headers, stream=Pieces(chunks), request=request, extensions=extensions
        )
        response = await read_capped_body(streamed, client.max_reply_bytes)
    else:  # the body as sent is the body decoded, and the transport held it under the cap
        body = b"".join(chunks)
        kept = [(name, value) for name, value in raw_headers if name.lower() not in BODY_FRAMING]
        kept.append((b"Content-Length", str(len(body)).encode()))  # what content= would add
        response = httpx.Response(
            status, headers=kept, stream=httpx.ByteStream(body), request=request, extensions=extensions
        )
        response.read()  # stream= and read(), not content=: the same response for less CPU
    if "set-cookie" in response.headers:
        client.cookies.extract_cookies(response)
    if _HTTPX_LOGGER.isEnabledFor(logging.INFO):  # httpx's own line, as its client logs it
        reason_text = reason.decode("ascii", errors="ignore")
        _HTTPX_LOGGER.info('HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", status, reason_text)
    return response
