"""An in-process provider that follows a script, for tests in virtual time (no sockets).

``ScriptedProvider.script[prompt]`` is a list of outcomes consumed one per request: an exception to
raise, a number of seconds to hang, or a :class:`Completion`. Unscripted requests succeed after
``latency_s``. ``sent`` logs ``(trio.current_time(), prompt)`` for every request.
"""

from __future__ import annotations

from typing import ClassVar

import trio

from providers import ChatRequest, Completion, Provider, ProviderError, Usage

Outcome = ProviderError | float | Completion


class ScriptedProvider(Provider):
    """``api: scripted``."""

    api: ClassVar[str] = "scripted"
    script: ClassVar[dict[str, list[Outcome]]] = {}
    sent: ClassVar[list[tuple[float, str]]] = []
    latency_s: ClassVar[float] = 0.0

    @classmethod
    def reset(cls) -> None:
        cls.script, cls.sent, cls.latency_s = {}, [], 0.0

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = request.messages[-1].text
        type(self).sent.append((trio.current_time(), prompt))
        await trio.sleep(type(self).latency_s)
        outcomes = type(self).script.get(prompt)
        outcome = outcomes.pop(0) if outcomes else None
        if isinstance(outcome, ProviderError):
            raise outcome
        if isinstance(outcome, float | int):
            await trio.sleep(outcome)
        if isinstance(outcome, Completion):
            return outcome
        return Completion(f"ok: {prompt}", "stop", Usage(len(prompt) // 4, 10))

    @classmethod
    def times(cls, prompt: str | None = None) -> list[float]:
        """When requests (for ``prompt``, or all) were sent."""
        return [at for at, sent in cls.sent if prompt is None or sent == prompt]


class OtherScriptedProvider(ScriptedProvider):
    """``api: scripted2``: a second queue sharing the same script and log."""

    api: ClassVar[str] = "scripted2"
