"""The request features a study asks for in one vendor-neutral form, which each provider maps to its API.

A prompt's ``parameters`` (merged from the model config, the experiment and the prompt line) are sent
to the API under the vendor's own names, except for these keys, which prompto-run reads itself and each
provider renders in its own API's shape:

* ``reasoning: {effort: minimal|low|medium|high}`` or ``{budget_tokens: N}``: OpenAI's
  ``reasoning_effort``, Anthropic's ``thinking``, Gemini's ``thinkingConfig``, Ollama's ``think``;
* ``response_schema``: a JSON Schema the reply must follow (OpenAI's ``response_format`` json_schema,
  Anthropic's structured output, Gemini's ``responseSchema``, Ollama's ``format``, TGI's grammar,
  llama.cpp's ``json_schema``); ``response_schema_name`` names it where the API wants a name;
* ``tools`` (OpenAI's function-tool shape, or ``{name, description, parameters}``) and
  ``tool_choice`` (``auto``, ``none``, ``required`` or a tool's name): passed in each API's shape;
* ``stream: true``: read the reply as server-sent events (a transport detail: the record is the same).

:class:`RequestFeatures` is what a provider reads (:attr:`providers.ChatRequest.features`);
:func:`vendor_parameters` is the rest, sent as given.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from providers._errors import BadRequest, ProviderError

Effort = Literal["minimal", "low", "medium", "high"]
NEUTRAL_PARAMETERS = frozenset(
    {"reasoning", "response_schema", "response_schema_name", "tools", "tool_choice", "stream"}
)
DEFAULT_SCHEMA_NAME = "response"


@dataclass(frozen=True, slots=True)
class Reasoning:
    """How much a reasoning model may think: an effort level, or a budget of thinking tokens."""

    effort: Effort | None = None
    budget_tokens: int | None = None

    @classmethod
    def parse(cls, value: Any) -> Reasoning:
        """``reasoning``'s value, or :class:`BadRequest` saying what is wrong with it."""
        if not isinstance(value, Mapping) or set(value) - {"effort", "budget_tokens"} or not value:
            raise BadRequest(
                "reasoning must be {effort: minimal|low|medium|high} or {budget_tokens: N}, "
                f"not {json.dumps(value, default=str)}"
            )
        effort, budget = value.get("effort"), value.get("budget_tokens")
        if effort is not None and effort not in get_args(Effort):
            raise BadRequest(f"reasoning.effort must be one of {', '.join(get_args(Effort))}, not {effort!r}")
        if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 0):
            raise BadRequest(f"reasoning.budget_tokens must be a whole number of tokens, not {budget!r}")
        return cls(effort, budget)

    def budget_or(self, per_effort: Mapping[str, int]) -> int:
        """The token budget, or the one ``per_effort`` gives the effort level (for budget-only APIs)."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        return per_effort[self.effort or "medium"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: a name, a description and its arguments' JSON Schema."""

    name: str
    description: str | None
    parameters: Mapping[str, Any]

    @classmethod
    def parse(cls, value: Any) -> ToolSpec:
        """One entry of ``tools``: OpenAI's ``{type: function, function: {...}}`` or the bare function."""
        function = value.get("function", value) if isinstance(value, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise BadRequest(f"each tool needs a name: {json.dumps(value, default=str)[:200]}")
        schema = function.get("parameters", {"type": "object", "properties": {}})
        description = function.get("description")
        return cls(function["name"], description if isinstance(description, str) else None, schema)

    def as_openai(self) -> dict[str, Any]:
        """OpenAI's (and most servers') function-tool shape."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description is not None:
            function["description"] = self.description
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for: the record's ``tool_calls`` entries, one shape for every API."""

    name: str
    arguments: Any
    """The arguments, decoded from JSON where the API sends a string (kept as sent if not JSON)."""
    id: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The entry written into the record."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_json_arguments(cls, name: str, arguments: Any, call_id: str | None = None) -> ToolCall:
        """A call whose arguments came as a JSON string (OpenAI): decoded where they parse."""
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError):
                arguments = json.loads(arguments)
        return cls(name, arguments, call_id)


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """The neutral features of one request, read from its parameters."""

    reasoning: Reasoning | None = None
    response_schema: Mapping[str, Any] | None = None
    schema_name: str = DEFAULT_SCHEMA_NAME
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None
    stream: bool = False

    @classmethod
    def of(cls, parameters: Mapping[str, Any]) -> RequestFeatures:
        """The features ``parameters`` ask for (:class:`BadRequest` for a malformed one)."""
        if not NEUTRAL_PARAMETERS & parameters.keys():
            return NO_FEATURES
        schema = parameters.get("response_schema")
        if schema is not None and not isinstance(schema, Mapping):
            raise BadRequest(
                "response_schema must be a JSON Schema (a mapping), a schema file, or a pydantic model"
            )
        tools = parameters.get("tools") or ()
        if not isinstance(tools, list | tuple):
            raise BadRequest("tools must be a list")
        choice = parameters.get("tool_choice")
        stream = parameters.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest(f"stream must be true or false, not {stream!r}")
        return cls(
            reasoning=Reasoning.parse(parameters["reasoning"])
            if parameters.get("reasoning") is not None
            else None,
            response_schema=schema,
            schema_name=str(parameters.get("response_schema_name") or DEFAULT_SCHEMA_NAME),
            tools=tuple(ToolSpec.parse(tool) for tool in tools),
            tool_choice=None if choice is None else str(choice),
            stream=stream,
        )


NO_FEATURES = RequestFeatures()


def vendor_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters sent to the API as given: all but the neutral ones."""
    if not NEUTRAL_PARAMETERS & parameters.keys():
        return dict(parameters)
    return {key: value for key, value in parameters.items() if key not in NEUTRAL_PARAMETERS}


class OutputLimit(ProviderError):
    """The reply spent its whole output budget (on reasoning, usually) before any answer: the same
    request would fail the same way, so it is recorded, not retried; the message names what to raise."""

    error_type = "output_limit"


def output_limit(finish_reason: str | None, reasoning_tokens: int | None, raise_what: str) -> OutputLimit:
    """The error for a reply with no text that stopped at its token limit."""
    thought = f" after {reasoning_tokens:,} reasoning tokens" if reasoning_tokens else ""
    return OutputLimit(
        f"the reply reached its output limit{thought} before any answer (finish_reason {finish_reason!r}): "
        f"raise {raise_what}, or lower reasoning.effort / reasoning.budget_tokens"
    )
