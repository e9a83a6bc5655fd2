"""OpenAI's Responses API (``POST /v1/responses``): the wire of models served only there (o3-pro...) and
of any ``api: openai`` model whose config says ``endpoint.options.wire: responses``.

Request (``CreateResponse`` of OpenAI's spec): ``model``; system messages joined into ``instructions``;
the turns as ``input`` messages (a user turn's parts as ``input_text``, ``input_image`` with its
``detail``, ``auto`` unless the prompt gives one, and ``input_file`` for a PDF; an assistant turn as its
text); ``store: false`` unless set (each request stands alone, as on Chat Completions). The prompt's
parameters go at the top level under the Responses API's names; ``max_tokens`` and
``max_completion_tokens`` become ``max_output_tokens``, and a name the API does not define (``stop``,
``seed``, ``n``...) is refused before sending. Neutral features: ``reasoning: {effort}`` ->
``reasoning: {effort, summary: auto}`` (the summary is the record's reasoning text; a ``budget_tokens``
is sent as the nearest effort, as on Chat Completions);
``response_schema`` -> ``text.format`` ``{type: json_schema, name, schema, strict: true}``; ``tools`` ->
flat function tools ``{type: function, name, description, parameters, strict: false}``; ``tool_choice``
-> ``auto|none|required`` or ``{type: function, name}``; ``stream: true`` -> server-sent events
(:mod:`providers._openai.responses_stream`). The reply: :mod:`providers._openai.responses_reply`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import httpx

from providers._errors import BadRequest
from providers._features import Reasoning, RequestFeatures
from providers._json_api import JsonObject
from providers._openai.dialect import OpenAIDialectProvider
from providers._openai.features import effort
from providers._openai.responses_reply import parse_response
from providers._openai.responses_stream import complete_streamed
from providers._openai.wire import refuses_sampling
from providers._reply import Completion
from providers._types import ChatRequest, MediaKind, MediaPart, Message, TextPart
from providers.openai import OpenAIProvider

logger = logging.getLogger("prompto_run")

PARAMETERS = frozenset(
    {
        "background",
        "context_management",
        "conversation",
        "include",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "store",
        "temperature",
        "text",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
"""``CreateResponse``'s fields a prompt's parameters may set (the others are built from the prompt and
its neutral features: ``model``, ``input``, ``instructions``, ``reasoning``, ``tools``, ``tool_choice``,
``stream`` and ``stream_options``)."""
MAX_TOKENS_NAMES = ("max_tokens", "max_completion_tokens")
SAMPLING = ("temperature", "top_p", "top_logprobs")
IMAGE_OPTIONS = frozenset({"detail"})
_dropped: set[str] = set()


class OpenAIResponsesProvider(OpenAIProvider):
    """``api: openai`` on the Responses wire: same key, base URL and error bodies, another request."""

    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "document"})
    batch_api: ClassVar[str | None] = None
    """The Responses wire in batch mode is not built: a batch run sends these requests live."""

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Media, parameters the Responses API does not define, sampling on a reasoning model, and
        features it cannot take."""
        found = parameter_problems(request.vendor_parameters)
        if refuses_sampling(request.model_name):
            found += [
                f"model '{request.model_name}' is a reasoning model, which refuses {name}: remove it"
                for name in SAMPLING
                if name in request.parameters
            ]
        try:
            _tool_choice(request.features)
        except BadRequest as exc:
            found.append(exc.message)
        # The media check of every provider, not the Chat Completions dialect's request checks.
        media = super(OpenAIDialectProvider, cls).check_request(request)
        return media + [f"api 'openai' (wire: responses): {problem}" for problem in found]

    def request_path(self, request: ChatRequest) -> str:
        """``responses`` under the base URL (which carries the version, e.g. ``…/v1``)."""
        return "responses"

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``model``, ``instructions``, ``input`` and the parameters, then the features in their shapes."""
        features = request.features
        if problems := parameter_problems(request.vendor_parameters):
            raise BadRequest("; ".join(problems))
        body: JsonObject = {"model": request.model_name, **_renamed(request.vendor_parameters)}
        if request.system is not None:
            body["instructions"] = request.system
        body["input"] = [await _input_message(message) for message in request.turns]
        body.setdefault("store", False)
        if (reasoning := _reasoning(features.reasoning)) is not None:
            body["reasoning"] = reasoning
        if features.response_schema is not None:
            json_schema = {"type": "json_schema", "name": features.schema_name, "strict": True}
            text = body.get("text")
            body["text"] = {
                **(text if isinstance(text, Mapping) else {}),
                "format": {**json_schema, "schema": dict(features.response_schema)},
            }
        if features.tools:
            body["tools"] = [
                _function_tool(tool.name, tool.description, tool.parameters) for tool in features.tools
            ]
        if (choice := _tool_choice(features)) is not None:
            body["tool_choice"] = choice
        if features.stream:
            body["stream"] = True
        return body

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """The ``Response`` object: see :mod:`providers._openai.responses_reply`."""
        return parse_response(payload, response)

    async def complete(self, request: ChatRequest) -> Completion:
        """One JSON reply, or (``stream: true``) the events of one, read into the same :class:`Completion`."""
        if not request.features.stream:
            return await super().complete(request)
        return await self._streams.complete(request, partial(complete_streamed, self))


def parameter_problems(parameters: Mapping[str, Any]) -> list[str]:
    """Names the Responses API does not define, and chat-style token limits given twice."""
    unknown = sorted(set(parameters) - PARAMETERS - set(MAX_TOKENS_NAMES))
    problems = [
        f"the Responses API has no parameter {name!r}"
        + (": it has no stop, seed or n" if name in ("stop", "seed", "n") else "")
        for name in unknown
    ]
    limits = [name for name in ("max_output_tokens", *MAX_TOKENS_NAMES) if name in parameters]
    if len(limits) > 1:
        problems.append(
            f"give one output limit, not {' and '.join(limits)} (the Responses API's is max_output_tokens)"
        )
    return problems


def _renamed(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters with Chat Completions' token limit under the Responses API's name."""
    renamed = {key: value for key, value in parameters.items() if key not in MAX_TOKENS_NAMES}
    for name in MAX_TOKENS_NAMES:
        if name in parameters:
            renamed["max_output_tokens"] = parameters[name]
    return renamed


def _reasoning(reasoning: Reasoning | None) -> JsonObject | None:
    """``{effort, summary: auto}``: a ``budget_tokens`` as the effort level nearest to it, as on Chat
    Completions (the API takes levels, not budgets)."""
    if reasoning is None:
        return None
    return {"effort": effort(reasoning), "summary": "auto"}


def _function_tool(name: str, description: str | None, parameters: Mapping[str, Any]) -> JsonObject:
    tool: JsonObject = {"type": "function", "name": name, "parameters": dict(parameters), "strict": False}
    if description is not None:
        tool["description"] = description
    return tool


def _tool_choice(features: RequestFeatures) -> Any:
    choice = features.tool_choice
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if choice not in {tool.name for tool in features.tools}:
        raise BadRequest(f"tool_choice {choice!r} names no tool in tools")
    return {"type": "function", "name": choice}


async def _input_message(message: Message) -> JsonObject:
    """One turn as an ``input`` message: the assistant's as its text, a user's parts typed for input."""
    if isinstance(message.content, str) or message.role == "assistant":
        return {"role": message.role, "content": message.text}
    return {"role": message.role, "content": [await _input_part(part) for part in message.content]}


async def _input_part(part: TextPart | MediaPart) -> JsonObject:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    for name in sorted(set(part.options) - IMAGE_OPTIONS if part.kind == "image" else set(part.options)):
        if name not in _dropped:
            _dropped.add(name)
            logger.warning("media option %r is not sent: OpenAI's Responses API does not define it", name)
    if part.kind == "image":
        return {
            "type": "input_image",
            "image_url": await part.data_uri(),
            "detail": part.options.get("detail", "auto"),
        }
    if part.url is not None and not part.url.startswith("data:"):
        return {"type": "input_file", "file_url": part.url}
    filename = part.path.name if part.path is not None else "document.pdf"
    return {"type": "input_file", "filename": filename, "file_data": await part.data_uri()}
