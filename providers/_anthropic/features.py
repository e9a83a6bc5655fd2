"""The neutral request features in the Messages API's shape (:mod:`providers._features`).

* ``reasoning`` becomes ``thinking``, in the mode the model takes (Anthropic's thinking guides):

  - Claude 4.7 and later (and Mythos / Fable models) take only adaptive thinking:
    ``thinking: {type: adaptive, display: summarized}`` (summarized: these models omit the thinking
    text by default) with ``output_config.effort``; a token budget is refused before the run;
  - Claude 4.6 takes both: an effort is adaptive as above, a budget is manual;
  - older and unrecognised models take manual thinking, ``thinking: {type: enabled, budget_tokens: N}``:
    a budget is sent as given (at least 1,024), an effort as :data:`THINKING_BUDGETS` says. The budget
    must be below ``max_tokens``: where the request's cap is not above it, ``max_tokens`` is raised to
    budget + cap (the answer keeps the room it asked for), with a warning;
  - ``budget_tokens: 0`` sends no ``thinking`` (the model's default).

  With thinking on, Anthropic refuses ``temperature``, ``top_k``, a ``top_p`` below 0.95 and a forced
  tool choice; Claude 4.7 and later refuse ``temperature``, ``top_p`` and ``top_k`` outright. Both are
  said before the run (:func:`feature_problems`).
* ``response_schema`` becomes structured output as Anthropic documents it today (generally available, no
  beta header): ``output_config: {format: {type: json_schema, schema}}``; the JSON is the reply's text.
* ``tools`` become ``[{name, description, input_schema}]``; ``tool_choice`` ``auto``, ``none``,
  ``required`` (``{type: any}``) or a tool's name (``{type: tool, name}``).
* ``stream: true`` is added by :mod:`providers._anthropic.stream` as it sends the request, never by
  ``request_body``: a batch (which cannot stream) sends the same request unstreamed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from providers._errors import BadRequest
from providers._features import Reasoning, RequestFeatures, ToolSpec
from providers._json_fields import JsonObject
from providers._types import ChatRequest

ThinkingMode = Literal["adaptive", "both", "manual"]
MIN_BUDGET = 1024
THINKING_BUDGETS: Mapping[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
"""``budget_tokens`` per ``reasoning.effort`` on models that take only manual thinking."""
ADAPTIVE_EFFORTS: Mapping[str, str] = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}
"""``output_config.effort`` per ``reasoning.effort`` (Anthropic's levels: low, medium, high, xhigh, max)."""
MEDIA_FIELDS: Mapping[str, frozenset[str]] = {
    "image": frozenset({"cache_control", "transformations"}),
    "document": frozenset({"cache_control", "citations", "context", "title"}),
}
"""The fields of an image / document block a media part's options may set (the SDK's block params)."""
SAMPLING = ("temperature", "top_p", "top_k")

_VERSION = re.compile(r"claude-(?:[a-z]+-)?(\d+)(?:-(\d{1,2}))?(?!\d)")


def thinking_mode(model: str) -> ThinkingMode:
    """How ``model`` thinks: adaptive only (4.7+), both (4.6), manual only (older or unrecognised)."""
    if "mythos" in model or "fable" in model:
        return "adaptive"
    match = _VERSION.search(model)
    if match is None:
        return "manual"
    version = (int(match[1]), int(match[2] or 0))
    return "adaptive" if version >= (4, 7) else "both" if version >= (4, 6) else "manual"


def thinking(reasoning: Reasoning, model: str) -> JsonObject | None:
    """The ``thinking`` field for ``reasoning`` on ``model`` (None: send none)."""
    if reasoning.budget_tokens == 0:
        return None
    mode = thinking_mode(model)
    if mode == "adaptive" or (mode == "both" and reasoning.budget_tokens is None):
        return {"type": "adaptive", "display": "summarized"}
    return {"type": "enabled", "budget_tokens": reasoning.budget_or(THINKING_BUDGETS)}


def render_features(body: JsonObject, request: ChatRequest, features: RequestFeatures) -> int | None:
    """Add the features to ``body``; return the ``max_tokens`` asked for when it had to be raised above
    the thinking budget (None otherwise)."""
    output_config: JsonObject = dict(body.get("output_config") or {})
    raised = None
    if features.reasoning is not None and (config := thinking(features.reasoning, request.model_name)):
        body["thinking"] = config
        if config["type"] == "adaptive":
            output_config["effort"] = ADAPTIVE_EFFORTS[features.reasoning.effort or "high"]
        elif body["max_tokens"] <= config["budget_tokens"]:
            raised = body["max_tokens"]
            body["max_tokens"] = config["budget_tokens"] + raised
    if features.response_schema is not None:
        output_config["format"] = {"type": "json_schema", "schema": dict(features.response_schema)}
    if output_config:
        body["output_config"] = output_config
    if features.tools:
        body["tools"] = [tool_param(tool) for tool in features.tools]
        if features.tool_choice is not None:
            body["tool_choice"] = tool_choice(features.tool_choice)
    return raised


def tool_param(tool: ToolSpec) -> JsonObject:
    """One ``tools`` entry."""
    param: JsonObject = {"name": tool.name}
    if tool.description is not None:
        param["description"] = tool.description
    param["input_schema"] = dict(tool.parameters)
    return param


def tool_choice(choice: str) -> JsonObject:
    """``tool_choice``: auto, none, any (for ``required``) or one named tool."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def feature_problems(request: ChatRequest) -> list[str]:
    """What Anthropic would refuse in this request's features and sampling parameters, said before the run."""
    try:
        features = request.features
    except BadRequest as exc:
        return [exc.message]
    parameters, model, problems = request.vendor_parameters, request.model_name, []
    mode = thinking_mode(model)
    if mode == "adaptive":
        problems += [
            f"{name} is not accepted by {model} (Anthropic removed sampling parameters on Claude 4.7 and "
            "later): leave it out"
            for name in SAMPLING
            if name in parameters
        ]
    reasoning = features.reasoning
    if reasoning is not None and reasoning.budget_tokens:
        if mode == "adaptive":
            problems.append(
                f"{model} takes no thinking budget (only adaptive thinking, on Claude 4.7 and later): "
                "use reasoning.effort instead of reasoning.budget_tokens"
            )
        elif reasoning.budget_tokens < MIN_BUDGET:
            problems.append(f"reasoning.budget_tokens must be at least {MIN_BUDGET} for Anthropic's thinking")
    if reasoning is not None and thinking(reasoning, model) is not None:
        if mode != "adaptive":
            problems += [
                f"{name} cannot be set with thinking on (Anthropic refuses it): leave it out, "
                "or drop reasoning"
                for name in ("temperature", "top_k")
                if name in parameters
            ]
        top_p = parameters.get("top_p")
        if mode != "adaptive" and isinstance(top_p, int | float) and top_p < 0.95:
            problems.append("top_p must be between 0.95 and 1 with thinking on (Anthropic refuses lower)")
        if features.tools and features.tool_choice not in (None, "auto", "none"):
            problems.append(
                f"tool_choice {features.tool_choice!r} forces a tool, which Anthropic refuses with thinking "
                "on: use auto or none"
            )
    names = {tool.name for tool in features.tools}
    choice = features.tool_choice
    if features.tools and choice not in (None, "auto", "none", "required") and choice not in names:
        problems.append(f"tool_choice {choice!r} names no tool of the request ({', '.join(sorted(names))})")
    return problems


def media_options(kind: str, options: Mapping[str, Any]) -> tuple[JsonObject, list[str]]:
    """The options a block of ``kind`` defines, and the names of the others (dropped)."""
    fields = MEDIA_FIELDS.get(kind, frozenset())
    kept = {key: value for key, value in options.items() if key in fields}
    return kept, [key for key in options if key not in fields]
