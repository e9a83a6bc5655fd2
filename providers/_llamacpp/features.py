"""prompto-run's neutral features for ``api: llamacpp`` (llama-cpp-python, in this process).

* ``response_schema``: compiled to a llama.cpp grammar (``LlamaGrammar.from_json_schema``, done in the
  worker thread by :mod:`providers._llamacpp.model`) that constrains every token, in both modes (a
  base model continuing text is held to the schema too). llama-cpp-python's own
  ``response_format: {type: json_object, schema}`` falls back to any JSON when a schema does not
  compile; here such a schema is a :class:`~providers.BadRequest` instead.
* ``tools`` and ``tool_choice`` (chat mode): llama-cpp-python reads tool calls back only where its chat
  handler makes them. The ``chatml-function-calling`` and ``functionary`` chat formats let the model
  choose (``tool_choice`` ``auto``, the default with tools, ``none`` or a tool's name; not
  ``required``). Any other template (the GGUF file's own, ``gemma``, ``chatml``...) calls a tool only
  when ``tool_choice`` names it: the call is then forced by a grammar of its parameters.
* ``reasoning``: llama-cpp-python has no control of a model's thinking: refused before the run.
* ``stream``: nothing to stream in-process: ignored (the record is the same).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers._errors import BadRequest
from providers._features import RequestFeatures, ToolCall

CHOOSING_FORMATS = frozenset({"chatml-function-calling", "functionary", "functionary-v1", "functionary-v2"})
"""The chat formats whose handler lets the model choose whether to call a tool, and parses the calls."""


def feature_problems(features: RequestFeatures, mode: str, parameters: Mapping[str, Any]) -> list[str]:
    """What llama-cpp-python cannot do of ``features``, found before the run (``parameters``: the
    request's own ones)."""
    problems = []
    if features.reasoning is not None:
        problems.append(
            "api 'llamacpp' has no reasoning control (llama-cpp-python sets no effort or thinking budget): "
            "remove reasoning from this model's parameters"
        )
    if features.response_schema is not None:
        problems += [
            f"api 'llamacpp': give response_schema or {name}, not both"
            for name in ("grammar", "response_format")
            if name in parameters
        ]
    if features.response_schema is not None:
        try:
            schema_grammar(features.response_schema)
        except BadRequest as exc:
            problems.append(f"api 'llamacpp': {exc.message}")
        except ImportError:
            pass  # check_config reports the missing extra, once
    if features.tools and mode == "completion":
        problems.append("api 'llamacpp': tools need chat mode (completion mode continues text)")
    names = {tool.name for tool in features.tools}
    if features.tool_choice not in (None, "auto", "none", "required") and features.tool_choice not in names:
        problems.append(
            f"api 'llamacpp': tool_choice {features.tool_choice!r} names no tool in tools "
            f"({', '.join(sorted(names)) or 'none given'})"
        )
    if features.tool_choice == "required":
        problems.append(
            "api 'llamacpp': llama-cpp-python takes tool_choice auto, none or a tool's name, not required "
            "(name the tool to force its call)"
        )
    return problems


def tool_arguments(features: RequestFeatures, chat_format: str | None) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` for ``create_chat_completion`` under ``chat_format``, or a
    :class:`BadRequest` where its handler could not read the calls back."""
    if not features.tools:
        return {}
    choice = features.tool_choice
    if choice not in (None, "auto", "none", "required"):
        named: Any = {"type": "function", "function": {"name": choice}}
        return {"tools": [tool.as_openai() for tool in features.tools], "tool_choice": named}
    if choice == "none":
        return {}  # no call wanted: the template is not given tools it would only describe
    if chat_format not in CHOOSING_FORMATS:
        raise BadRequest(
            f"llama-cpp-python reads tool calls back for tool_choice {choice or 'auto'!r} only with "
            f"chat_format {' or '.join(sorted(CHOOSING_FORMATS))} (this model's is "
            f"{chat_format or 'the GGUF template'}): set that option, or name the tool in tool_choice "
            "to force its call"
        )
    if choice == "required":
        raise BadRequest("llama-cpp-python takes tool_choice auto, none or a tool's name, not required")
    return {"tools": [tool.as_openai() for tool in features.tools], "tool_choice": "auto"}


def tool_calls(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The calls of a chat reply's ``message`` (OpenAI's shape; arguments a JSON string)."""
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            call_id = call.get("id")
            calls.append(
                ToolCall.from_json_arguments(
                    function["name"],
                    function.get("arguments", ""),
                    call_id if isinstance(call_id, str) else None,
                )
            )
    return tuple(calls)


def schema_grammar(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"grammar": ...}``: the llama.cpp grammar of a ``response_schema`` (none without one); a schema
    that does not compile is a :class:`BadRequest`, not llama-cpp-python's silent "any JSON"."""
    if schema is None:
        return {}
    from llama_cpp import LlamaGrammar

    try:
        return {"grammar": LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)}
    except Exception as exc:  # json_schema_to_gbnf raises bare Exceptions, and more
        raise BadRequest(f"response_schema cannot be made a llama.cpp grammar: {exc}") from exc
