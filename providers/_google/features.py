"""prompto-run's neutral features in ``generateContent``'s shape (Gemini API and Vertex AI alike).

* ``reasoning`` -> ``generationConfig.thinkingConfig``: ``{budget_tokens: N}`` is ``thinkingBudget: N``;
  an ``effort`` is ``thinkingLevel`` (``MINIMAL|LOW|MEDIUM|HIGH``) on Gemini 3 and later models, which
  take levels, and on older ones (2.5) the budget Google documents for that level (:data:`THINKING_BUDGETS`);
  ``includeThoughts: true`` either way, so that the thought summary comes back (``Completion.reasoning``).
* ``response_schema`` -> ``responseMimeType: application/json`` + ``responseJsonSchema`` (the JSON Schema
  as given: both APIs take JSON Schema there, no translation to their OpenAPI-subset ``Schema``).
* ``tools`` -> ``tools: [{functionDeclarations: [{name, description, parametersJsonSchema}]}]``; Google's
  own tools (``{googleSearch: {}}``, ``{codeExecution: {}}``, ``{functionDeclarations: [...]}``...) in the
  same list are sent as given. ``tool_choice`` -> ``toolConfig.functionCallingConfig``: ``auto`` AUTO,
  ``none`` NONE, ``required`` ANY, a tool's name ANY with ``allowedFunctionNames``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from providers._errors import BadRequest
from providers._features import Reasoning, RequestFeatures, ToolSpec
from providers._json_fields import JsonObject
from providers._types import ChatRequest, MediaPart

THINKING_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
"""Thinking tokens per effort level for budget-only models (Gemini 2.5): Google's own mapping of
OpenAI's ``reasoning_effort`` (low 1K, medium 8K, high 24K); ``minimal`` 512, the smallest budget every
2.5 model accepts (Flash-Lite's floor; 0, "off", is refused by 2.5 Pro)."""
NATIVE_TOOLS = frozenset(
    {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext"}
    | {"computerUse", "fileSearch", "googleMaps", "retrieval", "enterpriseWebSearch"}
)
"""``Tool`` fields (camelCase; snake_case is read too): an entry with one is Google's own, sent as given."""
TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}
_GENERATION = re.compile(r"gemini-(\d+)")
_SNAKE = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens`` (camelCase names pass through unchanged)."""
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


FREE_FORM = frozenset(
    {"responseSchema", "responseJsonSchema", "_responseJsonSchema", "parameters", "parametersJsonSchema"}
    | {"response", "labels", "args"}
)
"""Fields whose keys are the user's own (a schema's property names, labels): never camelCased."""


def camel_keys(value: Any) -> Any:
    """``value`` with every field name camelCased (``thinking_config: {thinking_budget: 0}`` ->
    ``thinkingConfig: {thinkingBudget: 0}``), the canonical JSON names both APIs define (Vertex's
    discovery document names no other), except inside :data:`FREE_FORM` fields."""
    if isinstance(value, Mapping):
        return {
            camel(str(key)): item if camel(str(key)) in FREE_FORM else camel_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [camel_keys(item) for item in value]
    return value


def takes_thinking_level(model: str) -> bool:
    """Whether the model is Gemini 3 or later, whose thinking is set by level (2.5 takes budgets only)."""
    generation = _GENERATION.search(model.lower())
    return generation is not None and int(generation.group(1)) >= 3


def is_native_tool(tool: Any) -> bool:
    """A ``Tool`` object of Google's own (``{googleSearch: {}}``...), not a function tool."""
    return isinstance(tool, Mapping) and any(camel(str(key)) in NATIVE_TOOLS for key in tool)


def split_tools(parameters: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Google's own tools, and the parameters with only the function tools left in ``tools``."""
    tools = parameters.get("tools")
    if not isinstance(tools, list | tuple) or not any(is_native_tool(tool) for tool in tools):
        return [], dict(parameters)
    native = [camel_keys(tool) for tool in tools if is_native_tool(tool)]
    functions = [tool for tool in tools if not is_native_tool(tool)]
    return native, {**parameters, "tools": functions}


def features_of(request: ChatRequest) -> RequestFeatures:
    """The request's neutral features (Google's own tools left out: they are sent as given)."""
    return RequestFeatures.of(split_tools(request.parameters)[1])


def thinking_config(reasoning: Reasoning, model: str) -> JsonObject:
    """``generationConfig.thinkingConfig`` for ``reasoning`` on ``model``."""
    if reasoning.budget_tokens is None and takes_thinking_level(model):
        return {"thinkingLevel": (reasoning.effort or "medium").upper(), "includeThoughts": True}
    return {"thinkingBudget": reasoning.budget_or(THINKING_BUDGETS), "includeThoughts": True}


def function_declarations(tools: Iterable[ToolSpec]) -> JsonObject:
    """One ``Tool`` holding every function, each with its JSON Schema as ``parametersJsonSchema``."""
    declarations = []
    for tool in tools:
        declaration: JsonObject = {"name": tool.name}
        if tool.description is not None:
            declaration["description"] = tool.description
        declaration["parametersJsonSchema"] = dict(tool.parameters)
        declarations.append(declaration)
    return {"functionDeclarations": declarations}


def function_calling_config(choice: str) -> JsonObject:
    """``toolConfig.functionCallingConfig`` for ``tool_choice`` (a mode, or the one tool to call)."""
    mode = TOOL_MODES.get(choice.lower())
    if mode is not None:
        return {"mode": mode}
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def render_features(
    body: JsonObject, generation_config: JsonObject, request: ChatRequest, native_tools: list[Any]
) -> None:
    """Add the request's features to ``body`` and its ``generation_config``, in Google's shape."""
    features = features_of(request)
    if features.reasoning is not None:
        generation_config["thinkingConfig"] = thinking_config(features.reasoning, request.model_name)
    if features.response_schema is not None:
        generation_config["responseMimeType"] = "application/json"
        generation_config["responseJsonSchema"] = dict(features.response_schema)
    tools = [*native_tools, function_declarations(features.tools)] if features.tools else native_tools
    if tools:
        body["tools"] = tools
    if features.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": function_calling_config(features.tool_choice)}


def feature_problems(request: ChatRequest) -> list[str]:
    """What the API would refuse, said before the run: a feature set twice, a tool choice naming no tool."""
    try:
        features = features_of(request)
    except BadRequest as exc:
        return [exc.message]
    parameters = request.parameters
    problems = []
    config = parameters.get("generation_config") or parameters.get("generationConfig") or {}
    given = {camel(str(key)) for key in config} if isinstance(config, Mapping) else set()
    given |= {camel(key) for key in parameters}
    if features.reasoning is not None and "thinkingConfig" in given:
        problems.append("reasoning and thinking_config both set the thinking: keep one")
    mime = {camel(str(key)): value for key, value in {**config, **parameters}.items()}.get("responseMimeType")
    if features.response_schema is not None and mime not in (None, "application/json"):
        problems.append(f"response_schema needs response_mime_type application/json, not {mime!r}")
    if features.tool_choice is not None and "toolConfig" in given:
        problems.append("tool_choice and tool_config both set toolConfig: keep one")
    names = {tool.name for tool in features.tools}
    choice = features.tool_choice
    if choice is not None and choice.lower() not in TOOL_MODES and choice not in names:
        problems.append(
            f"tool_choice {choice!r} names no tool in tools ({', '.join(sorted(names)) or 'none'})"
        )
    return problems


def media_options(
    part: MediaPart, allowed: Mapping[str, frozenset[str]], notice: Callable[[str], None]
) -> JsonObject:
    """The options of a media part the API's ``Part`` defines for its kind; ``notice`` is told the others
    (OpenAI's ``detail``...), which the API would refuse as unknown fields, and which are dropped."""
    kept: JsonObject = {}
    for key, value in part.options.items():
        if camel(key) in allowed.get(part.kind, frozenset()):
            kept[camel(key)] = value
        else:
            notice(key)
    return kept
