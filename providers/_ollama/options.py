"""Which of a request's parameters are fields of Ollama's chat (or generate) request and which are model
``options``, and the neutral features in ``/api/chat``'s shape (``/api/generate`` takes the same, tools
aside: :mod:`providers._ollama.generate`).

:data:`REQUEST_LEVEL` is every field of ``ChatRequest`` in Ollama's ``api/types.go`` besides ``model``,
``messages`` and ``options``: a parameter with one of these names is sent at the top level, every other
one under ``options`` (where Ollama drops an unknown name with "invalid option provided").

* ``reasoning`` becomes ``think``: an effort level for gpt-oss models, which take ``"low"``,
  ``"medium"`` or ``"high"`` (``minimal`` is sent as ``low``), ``true`` for every other thinking model;
  ``budget_tokens: 0`` is ``think: false``, any other budget ``think: true`` (Ollama takes no budget:
  a warning says so);
* ``response_schema`` becomes ``format`` (Ollama's structured output takes a JSON Schema there);
* ``tools`` go in OpenAI's function shape; Ollama has no ``tool_choice``: ``auto`` is its behaviour,
  ``none`` sends no tools, and ``required`` or a tool's name are refused before the run;
* ``stream`` is sent as given (false unless the request streams): :mod:`providers._ollama.stream`.
"""

from __future__ import annotations

from typing import Any

from providers._errors import BadRequest
from providers._features import RequestFeatures
from providers._json_fields import JsonObject
from providers._types import ChatRequest

REQUEST_LEVEL = frozenset(
    {
        "stream",
        "format",
        "keep_alive",
        "tools",
        "think",
        "truncate",
        "shift",
        "_debug_render_only",
        "logprobs",
        "top_logprobs",
    }
)
"""``ChatRequest``'s fields in Ollama's ``api/types.go``, ``model``, ``messages`` and ``options`` aside."""
GENERATE_LEVEL = (REQUEST_LEVEL - {"tools"}) | {"suffix", "system", "template", "context", "raw", "images"}
"""``GenerateRequest``'s fields (no ``tools``), ``model``, ``prompt`` and ``options`` aside."""
EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}


def split(parameters: dict[str, Any], level: frozenset[str] = REQUEST_LEVEL) -> tuple[JsonObject, JsonObject]:
    """The request-level fields (``level``: chat's, or :data:`GENERATE_LEVEL`) and the model ``options``."""
    top = {name: value for name, value in parameters.items() if name in level}
    options = {name: value for name, value in parameters.items() if name not in level}
    return top, options


def takes_effort(model: str) -> bool:
    """Whether ``think`` takes a level for ``model`` (Ollama: gpt-oss models)."""
    return "gpt-oss" in model.lower()


def render_features(body: JsonObject, request: ChatRequest, features: RequestFeatures) -> bool:
    """Add the features to ``body``; return whether a token budget was asked for (Ollama has none)."""
    reasoning = features.reasoning
    if reasoning is not None:
        if reasoning.budget_tokens is not None:
            body["think"] = reasoning.budget_tokens > 0
        elif takes_effort(request.model_name):
            body["think"] = EFFORTS[reasoning.effort or "medium"]
        else:
            body["think"] = True
    if features.response_schema is not None:
        body["format"] = dict(features.response_schema)
    if features.tools and features.tool_choice != "none":
        body["tools"] = [tool.as_openai() for tool in features.tools]
    return bool(reasoning is not None and reasoning.budget_tokens)


def feature_problems(request: ChatRequest) -> list[str]:
    """What ``/api/chat`` cannot do with this request's features, said before the run."""
    try:
        features = request.features
    except BadRequest as exc:
        return [exc.message]
    parameters, problems = request.vendor_parameters, []
    if features.tool_choice not in (None, "auto", "none"):
        problems.append(
            f"api 'ollama' has no tool_choice: {features.tool_choice!r} cannot be asked for "
            "(auto is Ollama's behaviour; none sends no tools)"
        )
    if features.reasoning is not None and "think" in parameters:
        problems.append("give reasoning or think, not both (reasoning becomes Ollama's think)")
    if features.response_schema is not None and "format" in parameters:
        problems.append("give response_schema or format, not both (response_schema becomes Ollama's format)")
    return problems
