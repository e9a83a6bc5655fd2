"""prompto-run's neutral features in the Chat Completions shape (OpenAI, Azure, OpenAI-compatible servers).

* ``reasoning`` -> ``reasoning_effort``: an ``effort`` as given; a ``budget_tokens`` becomes the nearest
  effort level (:data:`EFFORT_BUDGETS`: the dialect takes levels, not budgets). On OpenAI's reasoning
  models (o1, o3, o4, gpt-5 families: :func:`is_reasoning_model`) ``max_tokens`` is sent as
  ``max_completion_tokens``, the only name they accept, and the sampling parameters they refuse
  (:data:`REFUSED_BY_REASONING_MODELS`) are reported before the run.
* ``response_schema`` -> ``response_format: {type: json_schema, json_schema: {name, schema, strict: true}}``.
* ``tools`` -> ``tools`` (function tools); ``tool_choice`` -> ``auto|none|required`` as given, a tool's
  name as ``{type: function, function: {name}}``.
* ``stream`` -> ``stream: true`` and ``stream_options: {include_usage: true}`` (the usage comes in the
  last chunk), added only to the live request (:func:`streamed`): a batch line is never streamed.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from providers._errors import BadRequest
from providers._features import Reasoning, RequestFeatures
from providers._json_fields import JsonObject
from providers._types import ChatRequest

EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
"""The thinking budget each effort level stands for (Google's mapping of OpenAI's levels: low 1K,
medium 8K, high 24K; minimal 512): a ``budget_tokens`` is sent as the level nearest to it (on a log
scale; 0 is ``minimal``, the least the neutral levels name)."""
REFUSED_BY_REASONING_MODELS = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
"""Sampling parameters OpenAI's reasoning models answer with a 400 ("Unsupported parameter")."""
_REASONING_MODEL = re.compile(r"(?:^|[/_\-\s])(?:o[1-9](?=$|[-_.])|gpt-5)")
TOOL_MODES = frozenset({"auto", "none", "required"})
logger = logging.getLogger("prompto_run")
_dropped: set[str] = set()


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` (a model id or an Azure deployment named after one) is one of OpenAI's reasoning
    models (o1, o3, o4-mini, gpt-5, gpt-5.1...), which take ``max_completion_tokens`` only; the gpt-5
    ``-chat`` models are not."""
    name = model.lower()
    return _REASONING_MODEL.search(name) is not None and not ("gpt-5" in name and "-chat" in name)


def effort(reasoning: Reasoning) -> str:
    """The ``reasoning_effort`` level: the effort given, else the one nearest to the budget."""
    if reasoning.effort is not None:
        return reasoning.effort
    budget = max(reasoning.budget_tokens or 0, 1)
    return min(EFFORT_BUDGETS, key=lambda level: abs(math.log2(EFFORT_BUDGETS[level] / budget)))


def tool_choice(choice: str) -> str | JsonObject:
    """``auto``, ``none``, ``required`` as given; any other value names the tool to call."""
    return choice if choice in TOOL_MODES else {"type": "function", "function": {"name": choice}}


def feature_fields(features: RequestFeatures) -> JsonObject:
    """The request fields for the neutral features (never ``stream``: see :func:`streamed`)."""
    fields: JsonObject = {}
    if features.reasoning is not None:
        fields["reasoning_effort"] = effort(features.reasoning)
    if features.response_schema is not None:
        schema = {"name": features.schema_name, "schema": dict(features.response_schema), "strict": True}
        fields["response_format"] = {"type": "json_schema", "json_schema": schema}
    if features.tools:
        fields["tools"] = [tool.as_openai() for tool in features.tools]
    if features.tool_choice is not None:
        fields["tool_choice"] = tool_choice(features.tool_choice)
    return fields


def kept_options(options: Mapping[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    """The media-part options an API defines; each other one is dropped, said once per run."""
    for name in sorted(set(options) - keep - _dropped):
        _dropped.add(name)
        logger.warning(
            "media option %r is not sent to this API, which does not define it (it takes: %s)",
            name,
            ", ".join(sorted(keep)) or "none",
        )
    return {name: value for name, value in options.items() if name in keep}


def streamed(body: JsonObject) -> JsonObject:
    """``body`` as a streamed request: ``stream: true``, with the usage asked for in the last chunk."""
    options = body.get("stream_options")
    options = dict(options) if isinstance(options, Mapping) else {}
    return {**body, "stream": True, "stream_options": {"include_usage": True, **options}}


def for_reasoning_model(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters for a reasoning model: ``max_tokens`` sent as ``max_completion_tokens``."""
    if "max_tokens" not in parameters or "max_completion_tokens" in parameters:
        return dict(parameters)
    renamed = {key: value for key, value in parameters.items() if key != "max_tokens"}
    return {**renamed, "max_completion_tokens": parameters["max_tokens"]}


def request_problems(api: str, request: ChatRequest, *, reasoning_by_name: bool) -> list[str]:
    """What this dialect's API would refuse in ``request``, said before the run."""
    try:
        features = request.features
    except BadRequest as exc:
        return [f"api '{api}': {exc.message}"]
    parameters = request.vendor_parameters
    problems = []
    if features.reasoning is not None and "reasoning_effort" in parameters:
        problems.append(f"api '{api}': give reasoning or reasoning_effort, not both")
    if features.response_schema is not None and "response_format" in parameters:
        problems.append(f"api '{api}': give response_schema or response_format, not both")
    names = {tool.name for tool in features.tools}
    if features.tool_choice not in (None, *TOOL_MODES) and features.tool_choice not in names:
        problems.append(
            f"api '{api}': tool_choice {features.tool_choice!r} names no tool in tools "
            f"({', '.join(sorted(names)) or 'none given'})"
        )
    if reasoning_by_name and is_reasoning_model(request.model_name):
        problems.extend(_reasoning_model_problems(api, request.model_name, parameters))
    return problems


def _reasoning_model_problems(api: str, model: str, parameters: Mapping[str, Any]) -> list[str]:
    problems = []
    if "max_tokens" in parameters and "max_completion_tokens" in parameters:
        problems.append(
            f"api '{api}': model '{model}' takes max_completion_tokens only: give it, not max_tokens too"
        )
    if parameters.get("reasoning_effort") == "none":  # gpt-5.1 and later sample as chat models then
        return problems
    refused = [name for name in REFUSED_BY_REASONING_MODELS if name in parameters]
    if refused:
        problems.append(
            f"api '{api}': model '{model}' is a reasoning model, which refuses {', '.join(refused)}: "
            "remove them from its parameters (or set them per model)"
        )
    return problems
