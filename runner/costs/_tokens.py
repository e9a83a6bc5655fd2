"""Tokens before a request is sent: its prompt's, and the output it may generate.

**Input.** OpenAI's models (``openai``, ``azure-openai``) are counted with OpenAI's own tokenizer,
`tiktoken <https://github.com/openai/tiktoken>`_ (the ``tokens`` extra), as the Chat Completions API
counts them: each message's text, plus :data:`OPENAI_TOKENS_PER_MESSAGE` per message and
:data:`OPENAI_REPLY_PRIMING` for the reply. tiktoken downloads each encoding once and keeps it in its
cache (``TIKTOKEN_CACHE_DIR``); where it cannot (offline, not installed) the count is an estimate, and
a notice says so once. Every other API is estimated: characters / :data:`CHARS_PER_TOKEN` plus
:data:`TOKENS_PER_MESSAGE` per message (no other vendor ships a tokenizer that works offline). Media
parts are not counted.

**Output.** The worst case is the request's own cap under the API's name for it
(:data:`OUTPUT_CAP_KEYS`), else :data:`DEFAULT_OUTPUT_CAP` for its API. The expected length is
``expected_output_tokens`` (the model config's, then the run's), else
:data:`EXPECTED_OUTPUT_TOKENS`, never above the worst case. A reasoning budget
(``thinking.budget_tokens``, ``reasoning.budget_tokens``, Gemini's ``thinking_config.thinking_budget``)
adds to both; where the request sets its own cap, that cap already counts the thinking (Anthropic's
``max_tokens``, Gemini's ``maxOutputTokens``, OpenAI's ``max_completion_tokens`` all do), so the worst
case stays the cap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from providers import ChatRequest
from providers.anthropic import DEFAULT_MAX_TOKENS as ANTHROPIC_MAX_TOKENS
from runner.config._config import RunConfig
from runner.config._log import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
"""The estimate's allowance per message for its role and separators."""
OPENAI_TOKENS_PER_MESSAGE = 3
OPENAI_REPLY_PRIMING = 3
"""OpenAI's chat format: ``<|start|>{role}\\n{content}<|end|>\\n`` per message, ``<|start|>assistant``
for the reply (OpenAI's cookbook, "How to count tokens with tiktoken")."""
TIKTOKEN_APIS = frozenset({"openai", "azure-openai"})
FALLBACK_ENCODING = "o200k_base"
"""For an OpenAI model tiktoken does not know by name (a newer one, an Azure deployment name)."""

OUTPUT_CAP_KEYS: Mapping[str, tuple[str, ...]] = {
    "openai": ("max_completion_tokens", "max_tokens"),
    "azure-openai": ("max_completion_tokens", "max_tokens"),
    "openai-compatible": ("max_completion_tokens", "max_tokens"),
    "huggingface-tgi": ("max_tokens", "max_new_tokens"),
    "anthropic": ("max_tokens",),
    "gemini": ("max_output_tokens", "maxOutputTokens"),
    "vertexai": ("max_output_tokens", "maxOutputTokens"),
    "ollama": ("num_predict",),
    "llamacpp": ("max_tokens",),
}
"""Where each API takes the reply's token cap (Gemini's also inside ``generation_config``, Ollama's
also inside ``options``). Other APIs: any of these names."""
DEFAULT_OUTPUT_CAP: Mapping[str, int] = {
    "openai": 16_384,  # GPT-4o's and GPT-4.1-mini's output limit; reasoning models may go further
    "azure-openai": 16_384,
    "openai-compatible": 16_384,
    "huggingface-tgi": 16_384,
    "anthropic": ANTHROPIC_MAX_TOKENS,  # the provider sends it: the API requires a max_tokens
    "gemini": 8_192,  # Gemini's output limit before 2.5 (2.5 models allow 65,536: set max_output_tokens)
    "vertexai": 8_192,
    "ollama": 4_096,  # num_predict -1 (Ollama's default) runs until the context is full
    "llamacpp": 256,  # providers.llamacpp.DEFAULT_MAX_TOKENS, sent when a prompt sets none
    "simulated": 64,
}
"""The worst case of a request that sets no cap of its own. APIs not named: :data:`OTHER_OUTPUT_CAP`."""
OTHER_OUTPUT_CAP = 4_096
EXPECTED_OUTPUT_TOKENS = 256
"""A typical reply (about 200 words) when neither the model config nor the run declares
``expected_output_tokens``."""
_SENT_DEFAULT_CAP = frozenset({"anthropic", "llamacpp"})
"""APIs whose default cap is sent with the request (so a thinking budget falls inside it)."""


class _Encoder(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...


_encodings: dict[str, _Encoder | None] = {}
_notices: dict[str, None] = {}


def input_tokens(api: str, model_name: str, request: ChatRequest) -> tuple[int, bool]:
    """The request's prompt tokens, and whether they were counted with the model's own tokenizer
    (``False``: estimated)."""
    encoder, known = _encoder(model_name) if api in TIKTOKEN_APIS else (None, False)
    if encoder is None:
        return estimate_tokens(sum(len(m.text) for m in request.messages), len(request.messages)), False
    counted = sum(len(encoder.encode(m.text, disallowed_special=())) for m in request.messages)
    return counted + OPENAI_TOKENS_PER_MESSAGE * len(request.messages) + OPENAI_REPLY_PRIMING, known


def one_turn_counter(api: str, model_name: str) -> tuple[Callable[[str], int], bool]:
    """What :func:`input_tokens` counts for a request of one text message, as a function of its text
    (the tokenizer looked up once, for a million such prompts), and whether it counts exactly."""
    encoder, known = _encoder(model_name) if api in TIKTOKEN_APIS else (None, False)
    if encoder is None:
        return lambda text: len(text) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE, False
    encode, overhead = encoder.encode, OPENAI_TOKENS_PER_MESSAGE + OPENAI_REPLY_PRIMING
    return lambda text: len(encode(text, disallowed_special=())) + overhead, known


def text_tokens(api: str, model_name: str, text: str) -> tuple[int, bool]:
    """The tokens of a piece of text (no message overhead), and whether they were counted exactly."""
    encoder, known = _encoder(model_name) if api in TIKTOKEN_APIS else (None, False)
    if encoder is None:
        return len(text) // CHARS_PER_TOKEN, False
    return len(encoder.encode(text, disallowed_special=())), known


def estimate_tokens(characters: int, messages: int) -> int:
    """The estimate: characters / 4, plus 4 per message."""
    return characters // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * messages


def tokenizer_notices() -> list[str]:
    """What was said about counting tokens (each notice once): tiktoken missing or offline."""
    return list(_notices)


def output_allowance(
    api: str, model_name: str, parameters: Mapping[str, Any], config: RunConfig
) -> tuple[int, int]:
    """The output tokens a request is expected to generate, and the most it can (its worst case)."""
    cap = output_cap(api, parameters)
    budget = reasoning_budget(parameters)
    if cap is None:
        cap_sent = api in _SENT_DEFAULT_CAP
        worst = DEFAULT_OUTPUT_CAP.get(api, OTHER_OUTPUT_CAP) + (0 if cap_sent else budget)
    else:
        worst = cap
    declared = config.expected_output_tokens
    model = config.model
    if model is not None and model.expected_output_tokens is not None and config.uses_model(api, model_name):
        declared = model.expected_output_tokens
    expected = (declared or EXPECTED_OUTPUT_TOKENS) + budget
    return min(expected, worst), worst


_ANY_CAP_KEYS = tuple({key: None for keys in OUTPUT_CAP_KEYS.values() for key in keys})
_CAP_SCOPES = ("generation_config", "generationConfig", "options")
_THINKING = (
    ("thinking", "budget_tokens"),
    ("reasoning", "budget_tokens"),
    ("thinking_config", "thinking_budget"),
    ("thinkingConfig", "thinkingBudget"),
)


def output_cap(api: str, parameters: Mapping[str, Any]) -> int | None:
    """The reply's token cap the request sets, under its API's name for it."""
    if not parameters:
        return None
    keys = OUTPUT_CAP_KEYS.get(api) or _ANY_CAP_KEYS
    for scope in (parameters, *_nested(parameters, *_CAP_SCOPES)):
        for key in keys:
            if (value := _count(scope.get(key))) is not None:
                return value
    return None


def reasoning_budget(parameters: Mapping[str, Any]) -> int:
    """Tokens a request lets the model think: ``thinking.budget_tokens`` (Anthropic),
    ``reasoning.budget_tokens``, or ``thinking_config.thinking_budget`` (Gemini)."""
    if not parameters:
        return 0
    for scope in (parameters, *_nested(parameters, "generation_config", "generationConfig")):
        for outer, inner in _THINKING:
            block = scope.get(outer)
            if isinstance(block, Mapping) and (value := _count(block.get(inner))) is not None:
                return value
    return 0


def _nested(parameters: Mapping[str, Any], *names: str) -> list[Mapping[str, Any]]:
    return [value for name in names if name in parameters and isinstance(value := parameters[name], Mapping)]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _encoder(model_name: str) -> tuple[_Encoder | None, bool]:
    """tiktoken's encoding for an OpenAI model, loaded once, and whether tiktoken knows the model (else
    its newest encoding counts, as an estimate); ``None`` where it cannot be loaded (said once)."""
    try:
        import tiktoken
    except ImportError:
        _notice(
            "OpenAI input tokens are estimated (characters / 4): install the tokens extra "
            "(pip install 'prompto-run[tokens]') to count them with tiktoken"
        )
        return None, False
    try:
        name, known = tiktoken.encoding_name_for_model(model_name), True
    except KeyError:
        name, known = FALLBACK_ENCODING, False
    if name not in _encodings:
        try:
            _encodings[name] = tiktoken.get_encoding(name)
        except Exception as exc:  # offline: requests' ConnectionError; a corrupt cache: ValueError
            _encodings[name] = None
            _notice(
                f"OpenAI input tokens are estimated (characters / 4): tiktoken could not load its "
                f"{name} encoding ({type(exc).__name__}; it downloads each encoding once, then keeps it "
                "in TIKTOKEN_CACHE_DIR)"
            )
    return _encodings[name], known


def _notice(message: str) -> None:
    if message not in _notices:
        _notices[message] = None
        logger.info("%s", message)
