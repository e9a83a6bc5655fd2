"""``api: simulated``: no network; replies derived from the prompt, with latency, jitter and failures.

It serves dry runs of a whole experiment, the demo before a real model is installed, and the tests.
Options (model config ``endpoint.options``, or a prompt's ``parameters`` under the same names):

* ``latency_s`` (default 0.05) and ``jitter_s`` (default 0): reply time, uniform in latency ± jitter;
* ``failure_rate`` (default 0): the share of requests that fail with a transient 503;
* ``response_template`` (default ``"{model}: {prompt}"``): ``{prompt}`` is the last user turn;
* ``seed`` (default 0): makes jitter and failures repeatable.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import trio

from providers._base import Provider, ProviderContext
from providers._errors import ServerError
from providers._reply import Completion, Usage
from providers._types import ChatRequest, MediaKind


class SimulatedProvider(Provider):
    """A stand-in model whose replies and timing are configured, not computed."""

    api: ClassVar[str] = "simulated"
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video", "audio", "document"})
    option_names: ClassVar[frozenset[str]] = frozenset(
        {"latency_s", "jitter_s", "failure_rate", "response_template", "seed"}
    )

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._rng = random.Random(self._option({}, "seed", 0))

    def _option(self, parameters: Any, name: str, default: Any) -> Any:
        if name in parameters:
            return parameters[name]
        return self.context.settings.options.get(name, default)

    async def complete(self, request: ChatRequest) -> Completion:
        """Sleep for the configured latency, then echo the prompt through the template."""
        params = request.parameters
        latency = float(self._option(params, "latency_s", 0.05))
        jitter = float(self._option(params, "jitter_s", 0.0))
        await trio.sleep(max(0.0, latency + self._rng.uniform(-jitter, jitter)))
        if self._rng.random() < float(self._option(params, "failure_rate", 0.0)):
            raise ServerError("simulated transient failure", status=503)
        user_turns = [m.text for m in request.messages if m.role == "user"]
        prompt = user_turns[-1] if user_turns else ""
        template = str(self._option(params, "response_template", "{model}: {prompt}"))
        text = template.format(prompt=prompt, model=self.model_name)
        input_tokens = sum(len(m.text.split()) for m in request.messages)
        return Completion(
            text=text,
            finish_reason="stop",
            usage=Usage(input_tokens=input_tokens, output_tokens=len(text.split())),
            model=self.model_name,
        )
