"""A plain-string prompt on TGI's ``POST {base}/v1/completions``, where prompto 0.2.1 sends it.

prompto's ``huggingface-tgi`` calls the OpenAI client's ``completions.create(prompt=..., **parameters)``
for a string prompt (its default ``mode``; ``chat.completions`` for a list of strings), so TGI continues
the raw text instead of wrapping it in the model's chat template: the same string on
``/v1/chat/completions`` is another request, and a study made with prompto would not reproduce.

The body is TGI's ``CompletionRequest`` (its OpenAPI document): ``{model, prompt, max_tokens,
temperature, top_p, seed, stop (a list), frequency_penalty, repetition_penalty, suffix, stream}``.
A parameter outside it is refused before the run: TGI's router drops unknown fields, so the record
would claim a setting that never applied. The reply is ``CompletionFinal``: ``choices[0].text``,
``finish_reason``, ``usage``; streamed, ``data:`` chunks whose ``choices[0].text`` are fragments
(no usage), merged here into the same reply.

What only the chat route can do sends a plain string there: ``response_schema`` and a
``response_format`` (TGI's grammar is a chat field) and tools. prompto had none of these, so no prompto
study changes by it; refusing them would break prompto-run files that work. ``reasoning`` is refused on
either route (:class:`~providers.huggingface_tgi.HuggingFaceTGIProvider`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import trio

from providers._errors import BadRequest, ConnectionFailed, MalformedReply, excerpt
from providers._features import output_limit
from providers._json_api import malformed
from providers._json_fields import JsonObject, list_at, str_at
from providers._line_stream import event_json, mid_stream_error, open_stream, timed
from providers._openai import reply
from providers._ratelimit import openai_rate_limit
from providers._reply import Completion
from providers._types import ChatRequest
from providers.http._pool import ClientPool

if TYPE_CHECKING:
    from providers.huggingface_tgi import HuggingFaceTGIProvider

COMPLETION_FIELDS = frozenset(
    {
        "frequency_penalty",
        "max_tokens",
        "repetition_penalty",
        "seed",
        "stop",
        "suffix",
        "temperature",
        "top_p",
    }
)
"""``CompletionRequest``'s fields in TGI's OpenAPI document, ``model``, ``prompt`` and ``stream`` aside."""
CHAT_ONLY = frozenset({"response_format", "tools", "tool_choice"})
"""Parameters that only ``/v1/chat/completions`` has: a plain string giving one is sent there."""


def uses_completions(request: ChatRequest) -> bool:
    """Whether ``request`` goes to ``/v1/completions``: a plain string asking for nothing only chat has."""
    if request.prompt_text is None or request.system is not None:
        return False
    turns = request.turns
    if len(turns) != 1 or turns[0].role != "user" or not isinstance(turns[0].content, str):
        return False
    try:
        features = request.features
    except BadRequest:  # check_request says what is wrong
        return False
    if features.response_schema is not None or (features.tools and features.tool_choice != "none"):
        return False
    return not CHAT_ONLY & request.vendor_parameters.keys()


def completion_problems(api: str, request: ChatRequest) -> list[str]:
    """Parameters a plain-string prompt would send to ``/v1/completions`` that TGI's request lacks."""
    if not uses_completions(request):
        return []
    unknown = sorted(set(request.vendor_parameters) - COMPLETION_FIELDS)
    if not unknown:
        return []
    return [
        f"api '{api}' sends a plain-string prompt to /v1/completions (as prompto does), whose request has "
        f"no {', '.join(unknown)} (TGI would drop it unapplied): remove it, or write the prompt as "
        '[{"role": "user", "content": "..."}] to send it to /v1/chat/completions'
    ]


def completion_body(request: ChatRequest, parameters: JsonObject) -> JsonObject:
    """``CompletionRequest``: the parameters as sent, ``model`` and ``prompt``."""
    return {**parameters, "model": request.model_name, "prompt": request.prompt_text}


def is_completion_reply(payload: JsonObject) -> bool:
    """Whether ``payload`` is a completions reply (``choices[0].text``, no ``message``)."""
    choices = list_at(payload, "choices")
    return (
        bool(choices)
        and isinstance(choices[0], dict)
        and "text" in choices[0]
        and "message" not in choices[0]
    )


def parse_completion(
    payload: JsonObject, response: httpx.Response, id_headers: tuple[str, ...]
) -> Completion:
    """``choices[0].text`` and ``finish_reason``, ``usage``, ``model``, what answered."""
    choice = list_at(payload, "choices")[0]
    text, finish_reason = choice.get("text"), str_at(choice, "finish_reason")
    if not isinstance(text, str):
        raise malformed(f"reply has no text (finish_reason {finish_reason!r})", payload)
    if not text and finish_reason == "length":
        raise output_limit(finish_reason, None, "max_tokens")
    return Completion(
        text=text,
        finish_reason=finish_reason,
        usage=reply.usage(payload),
        model=str_at(payload, "model"),
        rate_limit=openai_rate_limit(response.headers),
        provenance=reply.provenance(payload, response.headers, id_headers),
    )


@dataclass
class _Chunks:
    """The ``data:`` chunks of one completions stream so far."""

    fields: JsonObject = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    first_token_at: float | None = None
    done: bool = False

    def add(self, chunk: JsonObject) -> None:
        for name in ("id", "model", "created", "system_fingerprint"):
            if chunk.get(name) not in (None, ""):
                self.fields[name] = chunk[name]
        if isinstance(chunk.get("usage"), dict):
            self.fields["usage"] = chunk["usage"]
        for choice in list_at(chunk, "choices"):
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                if isinstance(piece := choice.get("text"), str):
                    self.texts.append(piece)
                    if piece and self.first_token_at is None:
                        self.first_token_at = trio.current_time()
                self.finish_reason = str_at(choice, "finish_reason") or self.finish_reason

    def payload(self) -> JsonObject:
        choice = {"index": 0, "text": "".join(self.texts), "finish_reason": self.finish_reason}
        return {**self.fields, "object": "text_completion", "choices": [choice]}


async def complete_streamed(
    provider: HuggingFaceTGIProvider, request: ChatRequest, pool: ClientPool
) -> Completion:
    """Send ``request`` with ``stream: true``, merge its chunks, parse them as the one reply (a server
    that answers with one JSON body is read as that body)."""
    body = {**await provider.request_body(request), "stream": True}
    started, chunks, lines = trio.current_time(), _Chunks(), list[str]()

    def take(line: str) -> None:
        if not line.startswith("data:"):  # comments and the blank lines between events
            return
        data = line[5:].strip()
        if data == "[DONE]":
            chunks.done = True
            return
        event = event_json(data)
        if not isinstance(event, dict):
            raise MalformedReply(f"HTTP 200: a stream event is not a JSON object: {excerpt(data)!r}")
        if event.get("error"):
            raise mid_stream_error(provider, event)
        chunks.add(event)

    headers = await provider.request_headers()
    async with open_stream(provider, pool, provider.request_path(request), body, headers) as stream:
        response = stream.response
        one_body = "json" in response.headers.get("content-type", "")
        await stream.feed(lines.append if one_body else take)
    if one_body:
        content = "\n".join(lines).encode()
        return provider.outcome_of(
            httpx.Response(response.status_code, headers=response.headers, content=content)
        )
    if not chunks.done and chunks.finish_reason is None:
        raise ConnectionFailed(
            "the stream ended before its last chunk (no finish_reason, no [DONE]): "
            "the partial reply is not kept"
        )
    merged = httpx.Response(response.status_code, headers=response.headers, json=chunks.payload())
    completion = provider.outcome_of(merged)
    first = chunks.first_token_at
    return timed(completion, first, started)
