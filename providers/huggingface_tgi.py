"""``api: huggingface-tgi``: Hugging Face Text Generation Inference, through its Chat Completions route;
a plain-string prompt through its completions route, as prompto sends it (:mod:`providers._tgi_completions`).

* endpoint: ``endpoint.base_url``, else ``HUGGINGFACE_TGI_API_ENDPOINT`` (e.g. ``http://localhost:8080``;
  ``/v1`` is added unless present);
* key (optional; Inference Endpoints need one): ``HUGGINGFACE_TGI_API_KEY``, sent as a Bearer token;
* parameters: OpenAI names (``max_tokens``, ``temperature``, ``seed``, ``stop``...), translated where
  TGI's chat request (``ChatRequest`` of its OpenAPI document) differs: ``stop`` is a list only (a string
  is sent as ``[stop]``); ``response_format`` is TGI's grammar, ``{type: json, value: <JSON Schema>}``
  (OpenAI's ``{type: json_schema, json_schema: {schema}}`` and ``{type: json_object}`` are translated,
  ``{type: text}`` dropped, TGI's own shapes sent as given).
* features: ``response_schema`` is that grammar; ``tools`` are TGI's ``{type: function, function: {name,
  description, arguments: <JSON Schema>}}``; ``tool_choice`` as OpenAI's, a tool's name as
  ``{function: {name}}``; ``stream`` as OpenAI's; TGI has no reasoning setting, so ``reasoning`` is
  refused before the run. Tool calls come back with ``arguments`` as an object. Image parts carry
  ``url`` alone (TGI's ``Url``): other media options are dropped, with a notice once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import httpx

from providers import _tgi_completions as completions
from providers._base import ProviderContext
from providers._errors import BadRequest, ProviderError, ServerError
from providers._features import RequestFeatures
from providers._json_fields import JsonObject, object_at
from providers._openai.dialect import OpenAIDialectProvider, error_details
from providers._reply import Completion
from providers._types import ChatRequest


class HuggingFaceTGIProvider(OpenAIDialectProvider):
    """TGI's ``/v1/chat/completions`` (TGI >= 1.4); ``/v1/completions`` for a plain string."""

    api: ClassVar[str] = "huggingface-tgi"
    endpoint_env: ClassVar[str | None] = "HUGGINGFACE_TGI_API_ENDPOINT"
    key_env: ClassVar[str | None] = "HUGGINGFACE_TGI_API_KEY"
    key_required: ClassVar[bool] = False  # a self-hosted TGI has no auth unless started with --api-key
    image_options: ClassVar[frozenset[str] | None] = frozenset()  # its image_url is {url} alone
    error_statuses: ClassVar[Mapping[str, int]] = {
        **OpenAIDialectProvider.error_statuses,
        # TGI's error_type values, with the statuses its router gives them
        "validation": 422,
        "generation": 424,
        "overloaded": 429,
        "incomplete_generation": 500,
    }

    @classmethod
    def resolve_endpoint(cls, context: ProviderContext) -> str | None:
        """prompto's endpoint is the server root; the OpenAI-compatible routes live under ``/v1``."""
        endpoint = super().resolve_endpoint(context)
        if endpoint is None:
            return None
        endpoint = endpoint.rstrip("/")
        return endpoint if endpoint.endswith("/v1") else f"{endpoint}/v1"

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """TGI's 424 ``generation`` error is a failure during generation: worth another attempt."""
        if response.status_code == 424:
            message, _ = error_details(response)
            return ServerError(f"HTTP 424 (generation): {message}", status=424)
        return super().classify_error(response)

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """The dialect's checks, ``reasoning`` (TGI has no field for it), and a plain string's parameters
        that TGI's completion request lacks."""
        problems = super().check_request(request) + completions.completion_problems(cls.api, request)
        try:
            reasoning = request.features.reasoning
        except BadRequest:  # said by the dialect's checks
            return problems
        if reasoning is not None:
            problems.append(
                f"api '{cls.api}' has no reasoning setting (its chat request has no reasoning_effort): "
                "remove reasoning for this model"
            )
        return problems

    def request_path(self, request: ChatRequest) -> str:
        """``completions`` for a plain-string prompt (as prompto), ``chat/completions`` otherwise."""
        return "completions" if completions.uses_completions(request) else super().request_path(request)

    async def request_body(self, request: ChatRequest) -> JsonObject:
        """``CompletionRequest`` for a plain-string prompt, the chat request otherwise."""
        if completions.uses_completions(request):
            return completions.completion_body(request, self.vendor_parameters(request))
        return await super().request_body(request)

    async def complete(self, request: ChatRequest) -> Completion:
        """A streamed plain string reads completion chunks; everything else as the dialect reads it."""
        if not (request.features.stream and completions.uses_completions(request)):
            return await super().complete(request)
        return await self._streams.complete(request, partial(completions.complete_streamed, self))

    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """A completions reply's ``choices[0].text``; a chat reply as the dialect parses it."""
        if completions.is_completion_reply(payload):
            return completions.parse_completion(payload, response, self.request_id_headers)
        return super().parse_reply(payload, response)

    def vendor_parameters(self, request: ChatRequest) -> dict[str, Any]:
        """``stop`` as a list, ``response_format`` as TGI's grammar."""
        parameters = super().vendor_parameters(request)
        if isinstance(parameters.get("stop"), str):
            parameters["stop"] = [parameters["stop"]]
        if "response_format" in parameters:
            grammar = tgi_grammar(parameters.pop("response_format"))
            if grammar is not None:
                parameters["response_format"] = grammar
        return parameters

    def feature_fields(self, requested: RequestFeatures) -> JsonObject:
        """OpenAI's fields, with the schema as TGI's grammar and tools in TGI's shape (no reasoning)."""
        fields = super().feature_fields(requested)
        fields.pop("reasoning_effort", None)  # refused before the run (check_request)
        if requested.response_schema is not None:
            fields["response_format"] = {"type": "json", "value": dict(requested.response_schema)}
        if isinstance(choice := fields.get("tool_choice"), dict):  # TGI's named choice has no type
            fields["tool_choice"] = {"function": choice["function"]}
        if requested.tools:
            fields["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        **({"description": tool.description} if tool.description is not None else {}),
                        "arguments": dict(tool.parameters),
                    },
                }
                for tool in requested.tools
            ]
        return fields


def tgi_grammar(value: Any) -> Any:
    """A ``response_format`` as TGI's grammar: OpenAI's json_schema and json_object translated to
    ``{type: json, value: schema}``, ``text`` (no format) ``None``, anything else as given."""
    if not isinstance(value, Mapping) or "value" in value:
        return value
    kind = value.get("type")
    if kind == "json_schema":
        return {"type": "json", "value": object_at(value, "json_schema").get("schema") or {"type": "object"}}
    if kind == "json_object":
        return {"type": "json", "value": {"type": "object"}}
    return None if kind == "text" else dict(value)
