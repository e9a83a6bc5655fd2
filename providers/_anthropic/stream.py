"""``stream: true`` on the Messages API: server-sent events merged into the one message an unstreamed
request gets, so that the record is the same.

The events (``event: <name>`` / ``data: <JSON>``): ``message_start`` (the message, empty content, the
first usage), ``content_block_start`` / ``content_block_delta`` (``text_delta``, ``thinking_delta``,
``signature_delta``, ``input_json_delta`` whose ``partial_json`` pieces make a tool call's input) /
``content_block_stop``, ``message_delta`` (``stop_reason``, cumulative ``usage``), ``message_stop``;
``ping`` is skipped. An ``error`` event after the 200 is classified as its ``error.type`` would be
(``overloaded_error``: 529), and a stream that ends before ``message_stop`` was cut: a
:class:`ConnectionFailed` (retried). Either way the partial text is never returned as a reply. The time
to the first content delta is ``time_to_first_token_s``.
"""

from __future__ import annotations

import contextlib
import json
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
    from providers.anthropic import AnthropicProvider

_DELTA_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "citations_delta": None}


@dataclass
class MessageStream:
    """The events of one stream so far, merged into a Messages API reply."""

    message: JsonObject = field(default_factory=dict)
    blocks: dict[int, JsonObject] = field(default_factory=dict)
    tool_input: dict[int, str] = field(default_factory=dict)
    first_content_at: float | None = None
    stopped: bool = False

    def add(self, event: JsonObject) -> None:
        """One event's data (its ``type`` names it, as the ``event:`` line does)."""
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            self.message = dict(event["message"])
        elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            self.blocks[int(event["index"])] = dict(event["content_block"])
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            self._delta(int(event["index"]), event["delta"])
        elif kind == "content_block_stop":
            self._stop(int(event["index"]))
        elif kind == "message_delta":
            self.message.update(event.get("delta") or {})
            usage = event.get("usage")
            if isinstance(usage, dict):  # cumulative: the latest counts win
                self.message["usage"] = {**(self.message.get("usage") or {}), **usage}
        elif kind == "message_stop":
            self.stopped = True

    def _delta(self, index: int, delta: JsonObject) -> None:
        if self.first_content_at is None:
            self.first_content_at = trio.current_time()
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "input_json_delta":
            self.tool_input[index] = self.tool_input.get(index, "") + str(delta.get("partial_json", ""))
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature")
        elif (name := _DELTA_FIELDS.get(str(kind))) is not None:
            block[name] = str(block.get(name) or "") + str(delta.get(name, ""))

    def _stop(self, index: int) -> None:
        if index in self.tool_input and index in self.blocks:
            pieces = self.tool_input.pop(index)
            value: Any = pieces
            with contextlib.suppress(ValueError):
                value = json.loads(pieces) if pieces else {}
            self.blocks[index]["input"] = value

    def payload(self) -> JsonObject:
        """The message as the unstreamed reply carries it."""
        for index in list(self.tool_input):
            self._stop(index)
        return {**self.message, "content": [self.blocks[index] for index in sorted(self.blocks)]}


async def complete_streamed(
    provider: AnthropicProvider, request: ChatRequest, pool: ClientPool
) -> Completion:
    """Send ``request`` with ``stream: true``, merge its events, parse them as one reply."""
    body = {**await provider.request_body(request), "stream": True}
    started = trio.current_time()
    merged = MessageStream()
    data: list[str] = []

    def take(line: str) -> None:  # server-sent events: ``data:`` lines, a blank line after each event
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line.strip() and data:
            _take(provider, merged, "\n".join(data))
            data.clear()

    async with open_stream(provider, pool, provider.request_path(request), body, None) as stream:
        await stream.feed(take)
        if data:
            _take(provider, merged, "\n".join(data))
        response = stream.response
    if not merged.stopped:
        raise ConnectionFailed("the stream ended before message_stop: the partial reply is not kept")
    payload = merged.payload()
    completion = parsed_stream(provider, payload, response)
    first = merged.first_content_at
    return timed(completion, first, started)


def _take(provider: AnthropicProvider, merged: MessageStream, text: str) -> None:
    event = event_json(text)
    if not isinstance(event, dict):
        raise MalformedReply(f"HTTP 200: a stream event is not a JSON object: {excerpt(text)!r}")
    if event.get("type") == "error":
        raise mid_stream_error(provider, event)
    try:
        merged.add(event)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedReply(f"HTTP 200: a stream event could not be read: {excerpt(text)!r}") from exc
