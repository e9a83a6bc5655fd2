"""``:streamGenerateContent?alt=sse``: a reply read as server-sent events, merged into the one reply
``generateContent`` would have sent, so that the record is the same as unstreamed.

Each event is ``data: <GenerateContentResponse JSON>`` carrying only the new parts; ``finishReason``
and the final ``usageMetadata`` come on the last one, and the stream then simply ends (no ``[DONE]``).
An ``{"error": {...}}`` event is classified as the same error status would be. A stream that ends
before any chunk said ``finishReason`` was cut: a :class:`ConnectionFailed` (retried), its partial text
never returned as a reply. The time to the first chunk with content is ``time_to_first_token_s``.

Streams are read through httpx's own transport (:class:`~providers.http._pool.ClientPool` with
``lean=False``): the lean one reads each reply whole, which would hold every event until the last.
Bytes are counted as they arrive, up to the run's ``max_reply_mb``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import trio

from providers._errors import ConnectionFailed, MalformedReply, ProviderError, excerpt
from providers._json_fields import JsonObject, list_at, object_at
from providers._line_stream import parsed_stream, sse_data, timed
from providers._reply import Completion
from providers._types import ChatRequest
from providers.http._pool import ClientPool, joined_url, transport_errors
from providers.http._reply_size import reply_too_large

if TYPE_CHECKING:
    from providers._google.base import GenerateContentProvider

Classify = Callable[[httpx.Response], ProviderError]


async def complete_streamed(
    provider: GenerateContentProvider, request: ChatRequest, pool: ClientPool
) -> Completion:
    """Send ``request`` to the streaming method, merge its events, parse them as one reply."""
    body = await provider.request_body(request)
    headers = await provider.request_headers()
    url = joined_url(
        urlsplit(provider.resolve_endpoint(provider.context) or ""), provider.request_path(request)
    )
    started = trio.current_time()
    streamed = await read_stream(
        pool,
        url,
        body,
        headers,
        limit=provider.context.max_reply_bytes,
        classify=provider.classify_error,
        statuses=provider.error_statuses,
    )
    payload = streamed.payload()
    completion = parsed_stream(provider, payload, streamed.response)
    first = streamed.first_content_at
    return timed(completion, first, started)


@dataclass
class Streamed:
    """The events of one stream, merged: the reply's JSON, its HTTP response, and when content began."""

    response: httpx.Response
    parts: list[Any] = field(default_factory=list)
    finish_reason: str | None = None
    fields: JsonObject = field(default_factory=dict)
    """The last value of each top-level field (``usageMetadata``, ``modelVersion``, ``responseId``...)."""
    first_content_at: float | None = None
    saw_candidate: bool = False

    def add(self, chunk: JsonObject) -> None:
        """One event's ``GenerateContentResponse``."""
        self.fields.update({key: value for key, value in chunk.items() if key != "candidates"})
        candidates = list_at(chunk, "candidates")
        candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else None
        if candidate is None:
            return
        self.saw_candidate = True
        parts = list_at(object_at(candidate, "content"), "parts")
        if parts and self.first_content_at is None:
            self.first_content_at = trio.current_time()
        self.parts.extend(parts)
        if isinstance(candidate.get("finishReason"), str):
            self.finish_reason = candidate["finishReason"]

    @property
    def finished(self) -> bool:
        """Whether the stream said it was complete: a finish reason, or a prompt blocked outright."""
        return self.finish_reason is not None or bool(object_at(self.fields, "promptFeedback"))

    def payload(self) -> JsonObject:
        """The reply as ``generateContent`` would have sent it."""
        payload = dict(self.fields)
        if self.saw_candidate:
            candidate: JsonObject = {"content": {"role": "model", "parts": self.parts}}
            if self.finish_reason is not None:
                candidate["finishReason"] = self.finish_reason
            payload["candidates"] = [candidate]
        return payload


async def read_stream(
    pool: ClientPool,
    url: str,
    body: JsonObject,
    headers: Mapping[str, str] | None,
    *,
    limit: int,
    classify: Classify,
    statuses: Mapping[str, int],
) -> Streamed:
    """POST ``body`` to the streaming ``url`` and merge its events; errors come out classified."""
    async with pool.client() as client, transport_errors():
        request = client.build_request("POST", url, json=body, headers=headers)
        response = await client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                async with aclosing(_capped(response.aiter_bytes(), limit, response)) as pieces:
                    content = b"".join([piece async for piece in pieces])
                error = httpx.Response(response.status_code, headers=response.headers, content=content)
                raise classify(error)
            streamed = Streamed(response)
            async with aclosing(_events(response, limit)) as events:
                async for event in events:
                    if isinstance(event.get("error"), dict):
                        raise classify(_error_response(event, statuses))
                    streamed.add(event)
        except httpx.DecodingError as exc:
            raise MalformedReply(f"HTTP {response.status_code}: stream is not valid ({exc})") from exc
        finally:
            await response.aclose()
    if not streamed.finished:
        raise ConnectionFailed(
            "the stream ended before its last chunk (no finishReason): the partial reply is not kept"
        )
    return streamed


async def _events(response: httpx.Response, limit: int) -> AsyncGenerator[JsonObject, None]:
    """Each ``data:`` event's JSON (comments and other fields skipped)."""
    async with aclosing(sse_data(response, limit)) as events:
        async for text in events:
            yield _event_json(text, response.status_code)


def _event_json(text: str, status: int) -> JsonObject:
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(f"HTTP {status}: a stream event is not JSON: {excerpt(text)!r}") from exc
    if isinstance(event, list) and event and isinstance(event[0], dict):  # an error sent as an array
        event = event[0]
    if not isinstance(event, dict):
        raise MalformedReply(f"HTTP {status}: a stream event is not a JSON object: {excerpt(text)!r}")
    return event


async def _capped(
    pieces: AsyncIterator[Any], limit: int, response: httpx.Response
) -> AsyncGenerator[Any, None]:
    """The pieces (bytes or lines) of a body, stopped past ``limit`` bytes."""
    size = 0
    async for piece in pieces:
        size += len(piece)
        if size > limit:
            raise reply_too_large(response.status_code, limit)
        yield piece


def _error_response(event: JsonObject, statuses: Mapping[str, int]) -> httpx.Response:
    """A mid-stream ``{"error": {...}}`` as the HTTP error it stands for: its ``code``, else its
    ``status`` name's, else 500."""
    code, name = event["error"].get("code"), event["error"].get("status")
    status = code if isinstance(code, int) and 400 <= code <= 599 else statuses.get(str(name), 500)
    return httpx.Response(status, json=event)
