"""The chunks of a streamed Chat Completions reply, merged into the reply they add up to.

``choices[0].delta`` pieces are joined: ``content``, ``reasoning_content`` / ``reasoning`` (compatible
servers), ``refusal``, and ``tool_calls`` pieces by their ``index`` (``id`` and ``function.name`` come
once, ``function.arguments`` in JSON fragments; TGI sends them whole). The choice's ``finish_reason``
(and Azure's ``content_filter_results``) and the top-level ``id``, ``model``, ``system_fingerprint``,
``service_tier`` keep their last non-empty value (Azure's first chunk has ``model: ""`` and no choice);
``usage`` comes in the final chunk, whose ``choices`` is ``[]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from providers._json_fields import JsonObject, list_at, object_at

_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
_TOP_FIELDS = ("id", "model", "created", "system_fingerprint", "service_tier")


@dataclass
class Merged:
    """The chunks of one stream so far: the reply they add up to, and when generation began."""

    fields: JsonObject = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    calls: dict[int, JsonObject] = field(default_factory=dict)
    choice: JsonObject = field(default_factory=dict)
    """The choice's own fields besides the delta: ``finish_reason``, ``content_filter_results``..."""
    first_token_at: float | None = None
    done: bool = False

    @property
    def finished(self) -> bool:
        """Whether the server said the reply was complete: a finish reason, or ``[DONE]``."""
        return self.done or self.choice.get("finish_reason") is not None

    def add(self, chunk: JsonObject) -> None:
        """One chunk."""
        for name in _TOP_FIELDS:
            if chunk.get(name) not in (None, ""):
                self.fields[name] = chunk[name]
        if isinstance(chunk.get("usage"), dict):
            self.fields["usage"] = chunk["usage"]
        for choice in list_at(chunk, "choices"):
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._add_choice(choice)

    def _add_choice(self, choice: JsonObject) -> None:
        self.choice.update(
            {
                key: value
                for key, value in choice.items()
                if key not in ("delta", "index") and value is not None
            }
        )
        delta = object_at(choice, "delta")
        generated = False
        for name in _TEXT_FIELDS:
            if isinstance(piece := delta.get(name), str):
                self.texts.setdefault(name, []).append(piece)
                generated = generated or bool(piece)
        for piece in list_at(delta, "tool_calls"):
            if isinstance(piece, dict):
                self._add_call(piece)
                generated = True
        if generated and self.first_token_at is None:
            self.first_token_at = trio.current_time()

    def _add_call(self, piece: JsonObject) -> None:
        index = piece.get("index", len(self.calls))
        call = self.calls.setdefault(index if isinstance(index, int) else len(self.calls), {})
        for name in ("id", "type"):
            if isinstance(piece.get(name), str) and piece[name]:
                call.setdefault(name, piece[name])
        function = call.setdefault("function", {})
        delta = object_at(piece, "function")
        if isinstance(delta.get("name"), str) and delta["name"]:
            function.setdefault("name", delta["name"])
        if isinstance(arguments := delta.get("arguments"), str):
            function["arguments"] = function.get("arguments", "") + arguments
        elif arguments is not None:  # a whole object (TGI)
            function["arguments"] = arguments

    def payload(self) -> JsonObject:
        """The reply as the unstreamed request would have had it."""
        message: JsonObject = {"role": "assistant"}
        for name, pieces in self.texts.items():
            message[name] = "".join(pieces)
        message.setdefault("content", None)
        if self.calls:
            message["tool_calls"] = [self.calls[index] for index in sorted(self.calls)]
        choice = {"index": 0, **self.choice, "message": message}
        return {**self.fields, "object": "chat.completion", "choices": [choice]}
