"""A Chat Completions reply read as server-sent events, merged into the one reply the unstreamed request
would have had, so that the record is the same.

Each event is ``data: <chat.completion.chunk JSON>``; the stream ends with ``data: [DONE]``. Chunks
carry ``choices[0].delta`` pieces: ``content``, ``reasoning_content`` / ``reasoning`` (compatible
servers), ``refusal``, and ``tool_calls`` pieces joined by their ``index`` (the ``arguments`` JSON
arrives in fragments). ``finish_reason`` comes on the last chunk with a choice; the usage (asked for
with ``stream_options.include_usage``) on a final chunk whose ``choices`` is ``[]``; Azure's first chunk
has ``choices: []`` and an empty ``model``. An ``{"error": ...}`` event mid-stream is classified as the
error status it stands for would be. A stream that ends before a ``finish_reason`` or ``[DONE]`` was
cut: a :class:`ConnectionFailed` (retried), its partial text never returned as a reply. A server that
answers a streamed request with one JSON body is read as that body.

Streams go through httpx's own transport (``ClientPool(lean=False)``): the lean one reads a reply
whole. Bytes are counted as they arrive, up to the run's ``max_reply_mb``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import trio

from providers._error_replies import named_status
from providers._errors import ConnectionFailed, MalformedReply, ProviderError, excerpt
from providers._json_fields import JsonObject
from providers._line_stream import sse_data, timed
from providers._openai.chunks import Merged
from providers._openai.features import streamed
from providers._reply import Completion
from providers._types import ChatRequest
from providers.http._pool import ClientPool, joined_url, transport_errors, with_server_retry_verdict
from providers.http._reply_size import reply_too_large

if TYPE_CHECKING:
    from providers._openai.dialect import OpenAIDialectProvider

Classify = Callable[[httpx.Response], ProviderError]
DONE = "[DONE]"


async def complete_streamed(
    provider: OpenAIDialectProvider, request: ChatRequest, pool: ClientPool
) -> Completion:
    """Send ``request`` streamed, merge its chunks and parse them as the one reply they add up to."""
    body = streamed(await provider.request_body(request))
    headers = await provider.request_headers()
    url = joined_url(
        urlsplit(provider.resolve_endpoint(provider.context) or ""), provider.request_path(request)
    )
    started = trio.current_time()
    payload, response, first = await read_stream(
        pool,
        url,
        body,
        headers,
        limit=provider.context.max_reply_bytes,
        classify=provider.classify_error,
        statuses=provider.error_statuses,
    )
    whole = httpx.Response(response.status_code, headers=response.headers, json=payload)
    completion = provider.outcome_of(whole)
    return timed(completion, first, started)


async def read_stream(
    pool: ClientPool,
    url: str,
    body: JsonObject,
    headers: Mapping[str, str] | None,
    *,
    limit: int,
    classify: Classify,
    statuses: Mapping[str, int],
) -> tuple[JsonObject, httpx.Response, float | None]:
    """POST ``body`` to ``url`` and read its events: the merged reply, the HTTP response and when its
    first token arrived (``trio.current_time()``); errors come out classified."""
    async with pool.client() as client, transport_errors():
        response = await client.send(
            client.build_request("POST", url, json=body, headers=headers), stream=True
        )
        try:
            if response.status_code >= 400 or "json" in response.headers.get("content-type", ""):
                content = b"".join(
                    [piece async for piece in _capped(response.aiter_bytes(), limit, response)]
                )
                whole = httpx.Response(response.status_code, headers=response.headers, content=content)
                if response.status_code >= 400:
                    raise with_server_retry_verdict(classify(whole), response.headers)
                return _whole_body(whole), whole, None
            merged, failed = Merged(), None
            # Read to the end (the server closes after [DONE] or an error): leaving the event generators
            # suspended would leave httpx's unclosed.
            async for event in _events(response, limit):
                if merged.done or failed is not None:
                    continue
                if event is None:
                    merged.done = True
                elif event.get("error") or event.get("type") == "error":
                    status = named_status(event, statuses) or 500
                    failed = classify(httpx.Response(status, headers=response.headers, json=event))
                else:
                    merged.add(event)
            if failed is not None:
                raise with_server_retry_verdict(failed, response.headers)
        except httpx.DecodingError as exc:
            raise MalformedReply(f"HTTP {response.status_code}: stream is not valid ({exc})") from exc
        finally:
            await response.aclose()
    if not merged.finished:
        raise ConnectionFailed(
            "the stream ended before its last chunk (no finish_reason, no [DONE]): "
            "the partial reply is not kept"
        )
    return merged.payload(), response, merged.first_token_at


def _whole_body(response: httpx.Response) -> JsonObject:
    """A streamed request answered with one JSON body (a server that does not stream)."""
    try:
        payload = json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(
            f"HTTP {response.status_code}: reply is not JSON: {excerpt(response.content)!r}"
        ) from exc
    if not isinstance(payload, dict):
        raise MalformedReply(
            f"HTTP {response.status_code}: reply is not a JSON object: {excerpt(response.content)!r}"
        )
    return payload


async def _events(response: httpx.Response, limit: int) -> AsyncIterator[JsonObject | None]:
    """Each ``data:`` event's JSON, ``None`` for ``[DONE]`` (comments and other fields skipped)."""
    async with aclosing(sse_data(response, limit)) as events:
        async for text in events:
            yield _event(text, response.status_code)


def _event(text: str, status: int) -> JsonObject | None:
    if text.strip() == DONE:
        return None
    try:
        event: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(f"HTTP {status}: a stream event is not JSON: {excerpt(text)!r}") from exc
    if not isinstance(event, dict):
        raise MalformedReply(f"HTTP {status}: a stream event is not a JSON object: {excerpt(text)!r}")
    return event


async def _capped(pieces: AsyncIterator[Any], limit: int, response: httpx.Response) -> AsyncIterator[Any]:
    """The pieces (bytes or lines) of a body, stopped past ``limit`` bytes."""
    size = 0
    async for piece in pieces:
        size += len(piece)
        if size > limit:
            raise reply_too_large(response.status_code, limit)
        yield piece
