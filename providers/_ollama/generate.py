"""A plain-string prompt on ``POST {endpoint}/api/generate``, where prompto 0.2.1 sends it.

prompto's Ollama client calls ``generate(model, prompt, options=parameters)`` for a string prompt and
``chat`` for a list of strings or of role dicts. The two routes build the model's input differently
(generate fills the template's ``.System`` and ``.Prompt``, chat its ``.Messages``, and a template may
render the two differently), so a string sent to ``/api/chat`` is not the request a study made with
prompto sent. The body is ``{model, prompt, system?, stream, options?}`` with the
request-level fields of ``GenerateRequest`` (:data:`~providers._ollama.options.GENERATE_LEVEL`) at the
top level; prompto's client also sends its defaults (``suffix: ""``, ``template: ""``, ``context: []``,
``raw: false``, ``images: []``, ``format: ""``, ``keep_alive: null``), which Ollama reads as unset, so
they are left out.

``reasoning`` is ``think`` and ``response_schema`` is ``format`` here as on chat. ``/api/generate`` has
no tools: a plain string asking for tools (tool_choice other than ``none``) goes to ``/api/chat``, the one
route that can honour them (prompto had no tools, so no prompto study is changed by it).

The reply: ``response`` is the text, ``thinking`` the reasoning, ``done_reason`` and the eval counts as
on chat. Streamed, the NDJSON lines carry ``response`` fragments (:mod:`providers._ollama.stream`).
"""

from __future__ import annotations

from providers._errors import BadRequest
from providers._features import RequestFeatures, output_limit
from providers._json_api import malformed
from providers._json_fields import JsonObject, str_at, token_count
from providers._ollama.options import GENERATE_LEVEL, render_features, split
from providers._reply import Completion, Usage
from providers._types import ChatRequest

NUM_PREDICT = "options.num_predict (and num_ctx, if the prompt fills it)"


def uses_generate(request: ChatRequest) -> bool:
    """Whether ``request`` goes to ``/api/generate``: a plain-string prompt that asks for no tools."""
    if request.prompt_text is None:
        return False
    turns = request.turns
    if len(turns) != 1 or turns[0].role != "user" or not isinstance(turns[0].content, str):
        return False
    try:
        features = request.features
    except BadRequest:  # check_request says what is wrong; chat raises it as it always has
        return False
    return not (features.tools and features.tool_choice != "none")


def generate_body(request: ChatRequest, features: RequestFeatures) -> tuple[JsonObject, bool]:
    """The ``/api/generate`` body, and whether a token budget was asked for (Ollama has none)."""
    top, options = split(request.vendor_parameters, GENERATE_LEVEL)
    body: JsonObject = {**top, "model": request.model_name, "prompt": request.prompt_text}
    if request.system is not None and "system" not in body:
        body["system"] = request.system
    body["stream"] = features.stream
    budget = render_features(body, request, features)
    if options:
        body["options"] = options
    return body, budget


def is_generate_reply(payload: JsonObject) -> bool:
    """Whether ``payload`` is a ``GenerateResponse`` (``response``, no ``message``)."""
    return "response" in payload and "message" not in payload


def parse_generate(payload: JsonObject) -> Completion:
    """``response``, ``thinking``, ``done_reason``, the eval counts, ``model``."""
    text = payload.get("response")
    if not isinstance(text, str):
        raise malformed("reply has no response text", payload)
    done_reason = str_at(payload, "done_reason")
    if done_reason == "length" and not text:
        raise output_limit(done_reason, None, NUM_PREDICT)
    thinking = payload.get("thinking")
    return Completion(
        text=text,
        finish_reason=done_reason,
        usage=Usage(token_count(payload.get("prompt_eval_count")), token_count(payload.get("eval_count"))),
        model=str_at(payload, "model"),
        reasoning=thinking if isinstance(thinking, str) and thinking else None,
    )
