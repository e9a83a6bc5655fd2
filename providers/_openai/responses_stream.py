"""A Responses API reply read as server-sent events (``stream: true``): the record is the same as unstreamed.

The events are named (``event: response.output_text.delta`` / ``data: {"type": ..., ...}``). The deltas
(``response.output_text.delta``, ``response.reasoning_summary_text.delta``,
``response.function_call_arguments.delta``...) only time the first token (``time_to_first_token_s``);
the reply is the ``Response`` object the terminal event carries whole (``response.completed`` or
``response.incomplete``), parsed as an unstreamed reply is; the stream is read to its end, which the
server reaches right after that event. ``response.failed`` carries the
``Response`` with its ``error`` (``{code, message}``) and an ``error`` event ``{code, message, param}``:
each is classified as the same error in an HTTP reply would be (a ``server_error`` is retried, a
``rate_limit_exceeded`` paces the queue). A stream that ends without a terminal event was cut: a
:class:`~providers.ConnectionFailed` (retried), its partial text never returned as a reply.

Streams go through httpx's own transport (``lean=False``: the lean one reads a reply whole) and are
counted byte by byte against the run's ``max_reply_mb``. The engine's deadline cancels the read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import httpx
import trio

from providers._error_replies import UNNAMED_ERROR_STATUS
from providers._errors import ConnectionFailed, MalformedReply, excerpt
from providers._json_fields import JsonObject, object_at
from providers._line_stream import parsed_stream, sse_data, timed
from providers._reply import Completion
from providers._types import ChatRequest
from providers.http._pool import ClientPool, joined_url, transport_errors, with_server_retry_verdict
from providers.http._reply_size import reply_too_large

if TYPE_CHECKING:
    from providers._openai.responses import OpenAIResponsesProvider

TERMINAL = frozenset({"response.completed", "response.incomplete"})


async def complete_streamed(
    provider: OpenAIResponsesProvider, request: ChatRequest, pool: ClientPool
) -> Completion:
    """Send ``request`` with ``stream: true`` and read its events into one :class:`Completion`."""
    body = await provider.request_body(request)
    url = joined_url(
        urlsplit(provider.resolve_endpoint(provider.context) or ""), provider.request_path(request)
    )
    limit = provider.context.max_reply_bytes
    started = trio.current_time()
    async with pool.client() as client, transport_errors():
        sent = client.build_request("POST", url, json=body, headers=await provider.request_headers())
        response = await client.send(sent, stream=True)
        try:
            if response.status_code >= 400:
                async with aclosing(_read(response.aiter_bytes(), limit, response)) as chunks:
                    content = b"".join([chunk async for chunk in chunks])
                error = httpx.Response(response.status_code, headers=response.headers, content=content)
                raise with_server_retry_verdict(provider.classify_error(error), response.headers)
            async with aclosing(_events(response, limit)) as events:
                final, first_token_at = await _final_response(events, provider, response)
        except httpx.DecodingError as exc:
            raise MalformedReply(f"HTTP {response.status_code}: stream is not valid ({exc})") from exc
        finally:
            await response.aclose()
    completion = parsed_stream(provider, final, response)
    return timed(completion, first_token_at, started)


async def _final_response(
    events: AsyncIterator[JsonObject], provider: OpenAIResponsesProvider, response: httpx.Response
) -> tuple[JsonObject, float | None]:
    """The ``Response`` of the terminal event, and when the first delta came; the first error event
    raised, classified. The stream is read to its end (the server ends it after the terminal event),
    so that every iterator under it finishes."""
    first_token_at: float | None = None
    final: JsonObject | None = None
    failure: JsonObject | None = None
    async for event in events:
        kind = str(event.get("type", ""))
        if kind.endswith(".delta") and first_token_at is None:
            first_token_at = trio.current_time()
        if kind in ("error", "response.failed") and failure is None and final is None:
            failure = event
        if kind in TERMINAL and final is None and failure is None:
            final = object_at(event, "response")
    if failure is not None:
        raise provider.classify_error(_error_response(failure, response, provider.error_statuses))
    if final is None:
        raise ConnectionFailed(
            "the stream ended before its last event (no response.completed): the partial reply is not kept"
        )
    return final, first_token_at


def _error_response(event: JsonObject, response: httpx.Response, statuses: Any) -> httpx.Response:
    """An ``error`` event, or the ``error`` of a ``response.failed`` one, as the HTTP error reply it stands
    for (the status its ``code`` names, else 500), in the ``{"error": {...}}`` shape of an HTTP one."""
    error = (
        object_at(object_at(event, "response"), "error") if event.get("type") == "response.failed" else event
    )
    code = error.get("code")
    fields = {
        "message": error.get("message") or "the stream failed",
        "code": code,
        "param": error.get("param"),
    }
    status = statuses.get(code, UNNAMED_ERROR_STATUS) if isinstance(code, str) else UNNAMED_ERROR_STATUS
    return httpx.Response(status, headers=response.headers, json={"error": fields})


async def _events(response: httpx.Response, limit: int) -> AsyncGenerator[JsonObject]:
    """Each event's ``data`` JSON (``event:`` names are also in its ``type``; comments skipped)."""
    async with aclosing(sse_data(response, limit)) as events:
        async for text in events:
            yield _event_json(text, response.status_code)


def _event_json(text: str, status: int) -> JsonObject:
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(f"HTTP {status}: a stream event is not JSON: {excerpt(text)!r}") from exc
    if not isinstance(event, dict):
        raise MalformedReply(f"HTTP {status}: a stream event is not a JSON object: {excerpt(text)!r}")
    return event


async def _read(pieces: AsyncIterator[Any], limit: int, response: httpx.Response) -> AsyncGenerator[Any]:
    """The pieces (bytes or lines) of a body, stopped past ``limit`` bytes (httpx's iterator closed
    however the reading ends: an iterator left open is finalised late, with a warning)."""
    size = 0
    async with aclosing(cast("AsyncGenerator[Any]", pieces)) as closing:
        async for piece in closing:
            size += len(piece)
            if size > limit:
                raise reply_too_large(response.status_code, limit)
            yield piece
