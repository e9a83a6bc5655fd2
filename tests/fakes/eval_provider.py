"""A provider for evaluation tests: replies from a per-model rule, and a history of every request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import trio

from providers import ChatRequest, Completion, Provider, ServerError, Usage


@dataclass(frozen=True)
class Sent:
    """One request as the fake received it."""

    at: float
    model_name: str
    text: str
    system: str | None


class ScriptedProvider(Provider):
    """``api: scripted``. ``rules[model_name](prompt_text) -> reply`` (a reply of ``!fail`` is a 503)."""

    api: ClassVar[str] = "scripted"
    history: ClassVar[list[Sent]] = []
    rules: ClassVar[dict[str, Callable[[str], str]]] = {}
    latency_s: ClassVar[dict[str, float]] = {}

    async def complete(self, request: ChatRequest) -> Completion:
        text = request.turns[-1].text
        ScriptedProvider.history.append(Sent(trio.current_time(), self.model_name, text, request.system))
        await trio.sleep(self.latency_s.get(self.model_name, 1.0))
        reply = self.rules.get(self.model_name, lambda prompt: f"echo: {prompt}")(text)
        if reply == "!fail":
            raise ServerError("scripted failure", status=503)
        return Completion(reply, "stop", Usage(1, 1), self.model_name)

    @classmethod
    def reset(cls) -> None:
        cls.history.clear()
        cls.rules.clear()
        cls.latency_s.clear()

    @classmethod
    def sent_to(cls, model_name: str) -> list[Sent]:
        return [sent for sent in cls.history if sent.model_name == model_name]
