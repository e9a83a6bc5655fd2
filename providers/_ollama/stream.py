"""``stream: true`` on ``/api/chat`` and ``/api/generate``: Ollama streams JSON lines
(``application/x-ndjson``, not server-sent events), merged into the one reply an unstreamed request
gets, so that the record is the same.

Each line is a ``ChatResponse`` with ``done: false`` and a fragment of ``message.content`` (or of
``message.thinking``, or whole ``message.tool_calls``), or on ``/api/generate`` a ``GenerateResponse``
with a fragment of ``response`` (or of ``thinking``); the last has ``done: true``, ``done_reason`` and
the counts (``prompt_eval_count``, ``eval_count``). An ``{"error": "..."}`` line after the 200 is an
error (taken as HTTP 500: Ollama names no kind), and a stream that ends before its ``done`` line was cut:
a :class:`ConnectionFailed` (retried). Either way the partial text is never returned as a reply. The
time to the first line with content is ``time_to_first_token_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from providers._errors import ConnectionFailed, MalformedReply, excerpt
from providers._json_fields import JsonObject
from providers._line_stream import event_json, mid_stream_error, open_stream, parsed_stream, timed
from providers._reply import Completion
from providers._types import ChatRequest
from providers.http._pool import ClientPool

if TYPE_CHECKING:
    from providers.ollama import OllamaProvider


@dataclass
class ChatStream:
    """The lines of one stream so far, merged into a ``/api/chat`` (or ``/api/generate``) reply."""

    content: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[Any] = field(default_factory=list)
    last: JsonObject = field(default_factory=dict)
    first_content_at: float | None = None
    done: bool = False
    generate: bool = False
    """Whether the lines are ``GenerateResponse``s (``response``, ``thinking`` at the top level)."""

    def add(self, line: JsonObject) -> None:
        """One line's ``ChatResponse`` (or ``GenerateResponse``)."""
        message = line.get("message")
        if "response" in line and not isinstance(message, dict):
            self.generate = True
            message = {"content": line["response"], "thinking": line.get("thinking")}
        if isinstance(message, dict):
            pieces = [message.get("content"), message.get("thinking")]
            if self.first_content_at is None and (any(pieces) or message.get("tool_calls")):
                self.first_content_at = trio.current_time()
            if isinstance(pieces[0], str):
                self.content.append(pieces[0])
            if isinstance(pieces[1], str):
                self.thinking.append(pieces[1])
            if isinstance(message.get("tool_calls"), list):
                self.tool_calls.extend(message["tool_calls"])
        self.last = line
        self.done = line.get("done") is True

    def payload(self) -> JsonObject:
        """The reply as the unstreamed request gets it."""
        if self.generate:
            merged: JsonObject = {**self.last, "response": "".join(self.content)}
            merged.pop("thinking", None)
            return merged | ({"thinking": "".join(self.thinking)} if self.thinking else {})
        message: JsonObject = {"role": "assistant", "content": "".join(self.content)}
        if self.thinking:
            message["thinking"] = "".join(self.thinking)
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return {**self.last, "message": message}


async def complete_streamed(provider: OllamaProvider, request: ChatRequest, pool: ClientPool) -> Completion:
    """Send ``request`` with ``stream: true``, merge its lines, parse them as one reply."""
    body = await provider.request_body(request)
    started = trio.current_time()
    merged = ChatStream()

    def take(text: str) -> None:
        if not text.strip():
            return
        line = event_json(text)
        if not isinstance(line, dict):
            raise MalformedReply(f"HTTP 200: a stream line is not a JSON object: {excerpt(text)!r}")
        if line.get("error"):
            raise mid_stream_error(provider, line)
        merged.add(line)

    async with open_stream(provider, pool, provider.request_path(request), body, None) as stream:
        await stream.feed(take)
        response = stream.response
    if not merged.done:
        raise ConnectionFailed("the stream ended before its done line: the partial reply is not kept")
    payload = merged.payload()
    completion = parsed_stream(provider, payload, response)
    first = merged.first_content_at
    return timed(completion, first, started)
