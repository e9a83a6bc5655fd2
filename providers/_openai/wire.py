"""Which of OpenAI's two wires an ``api: openai`` model speaks: Chat Completions, or the Responses API.

A model is sent to ``POST /v1/responses`` (:mod:`providers._openai.responses`) when its config says
``endpoint.options.wire: responses``, or when it is one OpenAI serves only there: the ``ResponsesOnlyModel``
names of OpenAI's spec (``o1-pro``, ``o3-pro``, ``gpt-5-pro``, ``gpt-5.5-pro``, ``gpt-5-codex``,
``gpt-5.1-codex-max``, ``o3-deep-research``, ``o4-mini-deep-research``, ``computer-use-preview``, each with
its dated snapshots) and the families they belong to (every ``*-pro``, ``*codex*`` and ``*deep-research``
model). ``wire: chat_completions`` keeps a model so named on Chat Completions (a proxy that serves it
there). A batch run sends Responses models live: the Responses wire has no batch mode here.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from providers._base import ProviderContext

Wire = Literal["chat_completions", "responses"]
WIRE_OPTION = "wire"
_RESPONSES_ONLY = re.compile(
    r"^(?:o\d+-pro|gpt-\d+(?:\.\d+)?-pro|.*codex.*|.*deep-research|computer-use-preview)(?:-\d{4}-\d\d-\d\d)?$"
)
_REASONING = re.compile(r"^(?:o\d|gpt-\d+(?:\.\d+)?-pro|.*codex.*|.*deep-research)")


def responses_only(model_name: str) -> bool:
    """Whether OpenAI serves ``model_name`` only through the Responses API."""
    return _RESPONSES_ONLY.match(model_name) is not None


def refuses_sampling(model_name: str) -> bool:
    """Whether ``model_name`` is a Responses-only reasoning model, which refuses ``temperature``,
    ``top_p`` and ``top_logprobs`` ("Unsupported parameter ... is not supported with this model")."""
    return responses_only(model_name) and _REASONING.match(model_name) is not None


def wire_of(context: ProviderContext) -> Wire:
    """The wire the options name, else the one the model name calls for."""
    named = context.settings.options.get(WIRE_OPTION)
    if named == "responses" or named == "chat_completions":
        return "responses" if named == "responses" else "chat_completions"
    return "responses" if responses_only(context.model_name) else "chat_completions"


def wire_problems(context: ProviderContext) -> list[str]:
    """A ``wire`` option that names no wire."""
    named = context.settings.options.get(WIRE_OPTION)
    if named is None or named in get_args(Wire):
        return []
    return [f"endpoint option wire must be one of {', '.join(get_args(Wire))}, not {named!r}"]
