"""``api: openai`` on the Responses wire (``POST /v1/responses``): which models take it, the request
each prompt form and feature becomes (checked against ``CreateResponse`` of OpenAI's own spec), and the
replies, streamed or not, as the API sends them (wire-protocols §1.6; OpenAI's API reference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from providers import (
    BadRequest,
    ChatRequest,
    Completion,
    ConnectionFailed,
    EndpointSettings,
    Message,
    OutputLimit,
    ProviderContext,
    RateLimited,
    SafetyBlocked,
    ServerError,
    ToolCall,
    Usage,
)
from providers._openai.responses import PARAMETERS, OpenAIResponsesProvider
from providers.batch import batch_api_for
from providers.openai import OpenAIProvider
from runner.prompts._conversation import parse_prompt
from tests.fakes import FakeServer, Reply
from tests.providers.conftest import PNG_BYTES, MakeProvider
from tests.providers.prompts import b64, history, single
from tests.providers.specs_openai_responses import (
    create_response_properties,
    create_response_validator,
    problems,
)

O3_PRO = "o3-pro"
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
FLAT_WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": WEATHER["function"]["parameters"],  # type: ignore[index]
    "strict": False,
}


def provider(make_provider: MakeProvider, server: FakeServer, model: str = O3_PRO, **options: Any) -> Any:
    settings = EndpointSettings(base_url=server.url("/v1"), options=options)
    return make_provider("openai", model, env={"OPENAI_API_KEY": "k"}, settings=settings)


def response(
    *items: dict[str, Any],
    status: str = "completed",
    reason: str | None = None,
    usage: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A ``Response`` object as the API sends it."""
    return {
        "id": "resp_67ccd3a9da748190",
        "object": "response",
        "created_at": 1741476777,
        "status": status,
        "error": None,
        "incomplete_details": None if reason is None else {"reason": reason},
        "instructions": None,
        "max_output_tokens": None,
        "model": "o3-pro-2025-06-10",
        "output": list(items),
        "parallel_tool_calls": True,
        "reasoning": {"effort": "low", "summary": "auto"},
        "service_tier": "default",
        "store": False,
        "text": {"format": {"type": "text"}},
        "usage": usage
        or {
            "input_tokens": 81,
            "input_tokens_details": {"cached_tokens": 64},
            "output_tokens": 1035,
            "output_tokens_details": {"reasoning_tokens": 832},
            "total_tokens": 1116,
        },
        **fields,
    }


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_67ccd3acc8d48190",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def reasoning(*summaries: str) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": "rs_6876cf02e0bc8192",
        "summary": [{"type": "summary_text", "text": text} for text in summaries],
    }


def function_call(arguments: str = '{"city":"Paris"}') -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_12345xyz",
        "call_id": "call_12345xyz",
        "name": "get_weather",
        "arguments": arguments,
        "status": "completed",
    }


REQUEST_ID = {"x-request-id": "req_8f2b1c"}
IMAGE = "https://example.com/c.jpg"


def usage_of(inputs: int, outputs: int, *, cached: int, written: int, reasoning: int) -> dict[str, Any]:
    """``usage`` as a ``Response`` reports it."""
    return {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inputs + outputs,
    }


PREFIX = "api 'openai' (wire: responses): "


# --- which wire --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    ["o1-pro", "o3-pro-2025-06-10", "gpt-5-pro", "gpt-5.5-pro", "gpt-5-codex", "gpt-5.1-codex-max",
     "codex-mini-latest", "o3-deep-research", "o4-mini-deep-research-2025-06-26", "computer-use-preview"],
)  # fmt: skip
def test_models_served_only_by_the_responses_api_take_it(model: str) -> None:
    assert type(OpenAIProvider(ProviderContext(model))) is OpenAIResponsesProvider


def test_the_responses_only_models_of_openais_spec_are_known() -> None:
    from providers._openai.wire import responses_only
    from tests.providers.specs_openai_responses import openai_schemas

    names = openai_schemas()["ModelIdsResponses"]["anyOf"][1]["enum"]
    assert [name for name in names if not responses_only(name) and "daybreak" not in name] == [
        "gpt-5.6-cyber"
    ]


@pytest.mark.parametrize("model", ["gpt-4o", "o1", "o3", "o4-mini", "gpt-5", "gpt-5-chat-latest"])
def test_other_models_stay_on_chat_completions(model: str) -> None:
    assert type(OpenAIProvider(ProviderContext(model))) is OpenAIProvider


def test_the_wire_option_chooses_either_way() -> None:
    def built(model: str, wire: str) -> type:
        return type(OpenAIProvider(ProviderContext(model, EndpointSettings(options={"wire": wire}))))

    assert built("gpt-4o", "responses") is OpenAIResponsesProvider
    assert built(O3_PRO, "chat_completions") is OpenAIProvider


def test_a_wire_that_names_no_wire_is_refused_before_the_run() -> None:
    context = ProviderContext(
        "gpt-4o", EndpointSettings(options={"wire": "respones"}), {"OPENAI_API_KEY": "k"}
    )
    assert OpenAIProvider.check_config(context) == [
        "endpoint option wire must be one of chat_completions, responses, not 'respones'"
    ]
    context = ProviderContext(
        "gpt-4o", EndpointSettings(options={"wires": "responses"}), {"OPENAI_API_KEY": "k"}
    )
    assert OpenAIProvider.check_config(context) == [
        "api 'openai' has no endpoint option 'wires' (valid options: wire)"
    ]


def test_a_batch_run_sends_responses_requests_live() -> None:
    assert batch_api_for(OpenAIProvider(ProviderContext(O3_PRO))) is None
    assert batch_api_for(OpenAIProvider(ProviderContext("gpt-4o"))) is not None


# --- the request -------------------------------------------------------------------------------


async def test_the_request_as_the_api_documents_it(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json(response(message("Fine."))))
    parameters = {
        "max_tokens": 2048,
        "reasoning": {"effort": "high"},
        "response_schema": SCHEMA,
        "response_schema_name": "answer",
        "tools": [WEATHER],
        "tool_choice": "get_weather",
        "service_tier": "flex",
    }
    await provider(make_provider, fake_server).complete(history(O3_PRO, **parameters))
    sent = fake_server.last_request
    assert (sent.method, sent.path, sent.headers["authorization"]) == ("POST", "/v1/responses", "Bearer k")
    assert sent.json == {
        "model": O3_PRO,
        "max_output_tokens": 2048,
        "service_tier": "flex",
        "instructions": "Be terse.",
        "input": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "How are you?"},
        ],
        "store": False,
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "answer", "strict": True, "schema": SCHEMA}},
        "tools": [FLAT_WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
    }


async def test_media_parts_are_typed_input_parts(make_provider: MakeProvider, media_dir: Path) -> None:
    (media_dir / "paper.pdf").write_bytes(b"%PDF-1.4 fake")
    prompt = [
        {
            "role": "user",
            "content": [
                "What are these?",
                {"type": "image", "url": "https://example.com/cat.jpg", "detail": "low"},
                {"type": "image", "media": "cat.png", "videoMetadata": {"fps": 1}},
                {"type": "document", "media": "paper.pdf", "mime_type": "application/pdf"},
            ],
        }
    ]
    request = parse_prompt(prompt, media_dir).first_request(O3_PRO, {})
    body = await make_provider("openai", O3_PRO).request_body(request)  # type: ignore[attr-defined]
    pdf = "data:application/pdf;base64," + b64(media_dir / "paper.pdf")
    png = "data:image/png;base64," + b64(media_dir / "cat.png")
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What are these?"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "low"},
                {"type": "input_image", "image_url": png, "detail": "auto"},
                {"type": "input_file", "filename": "paper.pdf", "file_data": pdf},
            ],
        }
    ]  # fmt: skip
    assert PNG_BYTES  # the cat is a real PNG


async def test_a_parameter_the_api_does_not_define_is_refused(make_provider: MakeProvider) -> None:
    request = single(O3_PRO, stop=["\n"], max_output_tokens=10)
    assert OpenAIProvider.check_request(request) == [
        f"{PREFIX}the Responses API has no parameter 'stop': it has no stop, seed or n"
    ]
    with pytest.raises(BadRequest, match="no parameter 'stop'"):
        await make_provider("openai", O3_PRO, env={"OPENAI_API_KEY": "k"}).request_body(request)  # type: ignore[attr-defined]


def test_reasoning_models_refuse_sampling_parameters_before_the_run() -> None:
    assert OpenAIProvider.check_request(single(O3_PRO, temperature=0, top_p=1)) == [
        f"{PREFIX}model 'o3-pro' is a reasoning model, which refuses temperature: remove it",
        f"{PREFIX}model 'o3-pro' is a reasoning model, which refuses top_p: remove it",
    ]
    assert OpenAIProvider.check_request(single("computer-use-preview", temperature=0)) == []


async def test_a_token_budget_is_sent_as_the_nearest_effort(make_provider: MakeProvider) -> None:
    request = single(O3_PRO, reasoning={"budget_tokens": 9000})
    assert OpenAIProvider.check_request(request) == []
    body = await make_provider("openai", O3_PRO).request_body(request)  # type: ignore[attr-defined]
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}


def test_an_unknown_tool_choice_and_two_output_limits_are_refused_before_the_run() -> None:
    assert OpenAIProvider.check_request(single(O3_PRO, tools=[WEATHER], tool_choice="get_time")) == [
        f"{PREFIX}tool_choice 'get_time' names no tool in tools"
    ]
    assert OpenAIProvider.check_request(single(O3_PRO, max_tokens=5, max_output_tokens=5)) == [
        f"{PREFIX}give one output limit, not max_output_tokens and max_tokens "
        "(the Responses API's is max_output_tokens)"
    ]


def test_the_parameters_a_prompt_may_set_are_createresponses_own() -> None:
    built_from_the_prompt = {"model", "input", "instructions", "reasoning", "tools", "tool_choice", "stream"}
    assert create_response_properties() - PARAMETERS == built_from_the_prompt | {"stream_options"}
    assert create_response_properties() >= PARAMETERS


# --- every prompt form and parameter against the spec ------------------------------------------

PROMPTS: dict[str, Any] = {
    "string": "Hello",
    "list of strings (first turn)": ["Hi", "How are you?"],
    "chat with system": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ],
    "developer role": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
    "image url with detail": [
        {"role": "user", "content": ["What?", {"type": "image", "url": IMAGE, "detail": "low"}]}
    ],
    "prompto's image_url with a url and detail": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE, "detail": "high"}}]}
    ],
    "prompto's parts, local image": [
        {"role": "user", "parts": ["What?", {"type": "image", "media": "cat.png", "mime_type": "image/png"}]}
    ],
    "anthropic's source": [{"role": "user", "content": [{"type": "image", "source": {"media": "cat.png"}}]}],
    "ollama's images": [{"role": "user", "content": "What?", "images": ["cat.png"]}],
    "local pdf and a pdf url": [
        {"role": "user", "content": [
            {"type": "document", "media": "paper.pdf", "mime_type": "application/pdf"},
            {"type": "document", "url": "https://example.com/paper.pdf"},
            "Summarise both.",
        ]}
    ],
}  # fmt: skip
TYPICAL = {
    "max_output_tokens": 512,
    "metadata": {"study": "s1"},
    "service_tier": "auto",
    "truncation": "auto",
}
PARAMETERS_SETS: dict[str, dict[str, Any]] = {
    "none": {},
    "typical": TYPICAL,
    "chat's token limit": {"max_completion_tokens": 256},
    "store and a cache key": {"store": True, "prompt_cache_key": "study-1", "safety_identifier": "u1"},
    "verbosity": {"text": {"verbosity": "low"}},
    "reasoning effort": {"reasoning": {"effort": "minimal"}, "max_output_tokens": 4096},
    "reasoning budget": {"reasoning": {"budget_tokens": 2048}},
    "response_schema": {"response_schema": SCHEMA, "text": {"verbosity": "medium"}},
    "tools, auto": {"tools": [WEATHER], "tool_choice": "auto"},
    "tools, required": {"tools": [WEATHER], "tool_choice": "required"},
    "tools, none": {"tools": [WEATHER], "tool_choice": "none"},
    "tools, named, bare function": {"tools": [WEATHER["function"]], "tool_choice": "get_weather"},
    "stream": {"stream": True, **TYPICAL},
    "everything": {
        **TYPICAL,
        "reasoning": {"effort": "high"},
        "response_schema": SCHEMA,
        "tools": [WEATHER],
        "parallel_tool_calls": False,
        "stream": True,
    },
}


@pytest.mark.parametrize("model", [O3_PRO, "gpt-5-codex"])
@pytest.mark.parametrize("parameters", PARAMETERS_SETS.values(), ids=PARAMETERS_SETS.keys())
@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
async def test_every_prompt_form_and_parameter_conforms(
    make_provider: MakeProvider, media_dir: Path, prompt: Any, parameters: dict[str, Any], model: str
) -> None:
    (media_dir / "paper.pdf").write_bytes(b"%PDF-1.4 fake")
    request = parse_prompt(prompt, media_dir).first_request(model, parameters)
    assert OpenAIProvider.check_request(request) == []
    body = await make_provider("openai", model).request_body(request)  # type: ignore[attr-defined]
    assert problems(create_response_validator(), body) == []


async def test_later_turns_and_the_wire_option_conform(make_provider: MakeProvider) -> None:
    provider = make_provider("openai", "gpt-4o", settings=EndpointSettings(options={"wire": "responses"}))
    body = await provider.request_body(history("gpt-4o", temperature=0.2, top_p=0.9, top_logprobs=2))  # type: ignore[attr-defined]
    assert problems(create_response_validator(), body) == []


def test_the_validator_rejects_what_the_api_does_not_define() -> None:
    """A closed spec: without it, every body would pass."""
    body = {"model": O3_PRO, "input": [{"role": "user", "content": "Hi"}]}
    validator = create_response_validator()
    assert problems(validator, body) == []
    assert problems(validator, {**body, "stop": ["\n"]})
    assert problems(validator, {**body, "tools": [WEATHER]})  # Chat Completions' nested tool
    image = {"type": "input_image", "image_url": "https://example.com/c.jpg"}  # detail is required
    assert problems(validator, {**body, "input": [{"role": "user", "content": [image]}]})
    assert problems(
        validator, {**body, "input": [{"role": "user", "content": [{**image, "detail": "low", "x": 1}]}]}
    )


# --- replies -----------------------------------------------------------------------------------


async def test_a_reasoning_reply_keeps_its_summary_out_of_the_text(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    reply = response(reasoning("**Weighing it**", "Then the answer."), message("Paris."))
    fake_server.enqueue(Reply.json(reply, headers=REQUEST_ID))
    completion = await provider(make_provider, fake_server).complete(
        single(O3_PRO, reasoning={"effort": "low"})
    )
    assert completion == Completion(
        text="Paris.",
        finish_reason="completed",
        usage=Usage(81, 1035, cached_input_tokens=64, reasoning_tokens=832),
        model="o3-pro-2025-06-10",
        rate_limit=completion.rate_limit,
        reasoning="**Weighing it**\n\nThen the answer.",
        provenance={"request_id": "req_8f2b1c", "service_tier": "default"},
    )


async def test_a_reply_with_only_tool_calls_is_a_completion(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json(response(reasoning(), function_call(), function_call("not json"))))
    completion = await provider(make_provider, fake_server).complete(single(O3_PRO, tools=[WEATHER]))
    assert (completion.text, completion.reasoning) == ("", None)
    assert completion.tool_calls == (
        ToolCall("get_weather", {"city": "Paris"}, "call_12345xyz"),
        ToolCall("get_weather", "not json", "call_12345xyz"),
    )


async def test_a_budget_spent_thinking_is_an_output_limit(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    usage = usage_of(9, 300, cached=0, written=0, reasoning=300)
    fake_server.enqueue(
        Reply.json(response(reasoning(), status="incomplete", reason="max_output_tokens", usage=usage))
    )
    with pytest.raises(OutputLimit, match=r"after 300 reasoning tokens .*raise max_output_tokens") as caught:
        await provider(make_provider, fake_server).complete(single(O3_PRO, max_output_tokens=300))
    assert not caught.value.retryable
    assert len(fake_server.requests) == 1


async def test_an_incomplete_reply_with_text_is_kept_with_its_reason(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    usage = usage_of(9, 16, cached=0, written=4, reasoning=0)
    fake_server.enqueue(
        Reply.json(
            response(message("Once upon"), status="incomplete", reason="max_output_tokens", usage=usage)
        )
    )
    completion = await provider(make_provider, fake_server).complete(single(O3_PRO))
    assert (completion.text, completion.finish_reason) == ("Once upon", "max_output_tokens")
    assert completion.usage == Usage(9, 16, cached_input_tokens=0, cache_write_tokens=4, reasoning_tokens=0)


async def test_refusals_and_filtered_replies_are_safety_blocks(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    refusal = {**message(""), "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    fake_server.enqueue(
        Reply.json(response(refusal)), Reply.json(response(status="incomplete", reason="content_filter"))
    )
    model = provider(make_provider, fake_server)
    with pytest.raises(SafetyBlocked, match="refused: I can't help with that"):
        await model.complete(single(O3_PRO))
    with pytest.raises(SafetyBlocked, match="content_filter"):
        await model.complete(single(O3_PRO))


async def test_errors_are_classified_as_on_chat_completions(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    unsupported = {
        "message": "Unsupported parameter: 'temperature' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_parameter",
    }
    failed = {
        **response(status="failed", usage={}),
        "error": {"code": "server_error", "message": "The model failed."},
    }
    fake_server.enqueue(Reply.json({"error": unsupported}, status=400), Reply.json(failed))
    model = provider(make_provider, fake_server, "gpt-4o", wire="responses")
    with pytest.raises(BadRequest, match="'temperature' is not supported with this model"):
        await model.complete(single("gpt-4o", temperature=0))
    with pytest.raises(ServerError, match="The model failed"):
        await model.complete(single("gpt-4o"))


# --- streaming ---------------------------------------------------------------------------------


def sse(*events: dict[str, Any]) -> Reply:
    """Named server-sent events, as the Responses API streams them."""
    lines = [f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events]
    return Reply.text("".join(lines), content_type="text/event-stream", headers=REQUEST_ID)


def delta(kind: str, text: str, number: int) -> dict[str, Any]:
    return {"type": kind, "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": text,
            "sequence_number": number, "logprobs": []}  # fmt: skip


FINAL = response(reasoning("Thinking."), message("Paris."))
IN_PROGRESS = {**FINAL, "status": "in_progress", "output": []}
STREAM = (
    {"type": "response.created", "sequence_number": 0, "response": IN_PROGRESS},
    {"type": "response.in_progress", "sequence_number": 1, "response": IN_PROGRESS},
    {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": reasoning()},
    delta("response.reasoning_summary_text.delta", "Thinking.", 3),
    {"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": reasoning("…")},
    delta("response.output_text.delta", "Par", 5),
    delta("response.output_text.delta", "is.", 6),
    {"type": "response.output_text.done", "sequence_number": 7, "item_id": "msg_1", "output_index": 1,
     "content_index": 0, "text": "Paris.", "logprobs": []},
)  # fmt: skip


async def test_a_streamed_reply_is_recorded_as_an_unstreamed_one(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    completed = {"type": "response.completed", "sequence_number": 8, "response": FINAL}
    fake_server.enqueue(sse(*STREAM, completed), Reply.json(FINAL, headers=REQUEST_ID))
    model = provider(make_provider, fake_server)
    streamed = await model.complete(single(O3_PRO, stream=True))
    assert fake_server.requests[0].json["stream"] is True
    unstreamed = await model.complete(single(O3_PRO))
    assert streamed.time_to_first_token_s is not None
    assert streamed.time_to_first_token_s >= 0
    assert streamed.text == "Paris."
    assert {**_fields(streamed), "time_to_first_token_s": None, "rate_limit": None} == {
        **_fields(unstreamed),
        "rate_limit": None,
    }


def _fields(completion: Completion) -> dict[str, Any]:
    return {name: getattr(completion, name) for name in completion.__dataclass_fields__}


async def test_a_streamed_failure_is_the_error_it_names(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    failed = {
        **FINAL,
        "status": "failed",
        "output": [],
        "error": {"code": "server_error", "message": "Overloaded."},
    }
    error = {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Slow down.",
        "param": None,
        "sequence_number": 3,
    }
    fake_server.enqueue(
        sse(*STREAM[:6], {"type": "response.failed", "sequence_number": 6, "response": failed}),
        sse(*STREAM[:2], error),
    )  # fmt: skip
    model = provider(make_provider, fake_server)
    with pytest.raises(ServerError, match="Overloaded"):
        await model.complete(single(O3_PRO, stream=True))
    with pytest.raises(RateLimited, match="Slow down"):
        await model.complete(single(O3_PRO, stream=True))


async def test_a_stream_cut_short_is_never_a_reply(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse(*STREAM))
    with pytest.raises(ConnectionFailed, match="partial reply is not kept"):
        await provider(make_provider, fake_server).complete(single(O3_PRO, stream=True))


async def test_a_streamed_request_refused_up_front_is_classified(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    error = {
        "message": "Invalid 'input[0].content'.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }
    fake_server.enqueue(Reply.json({"error": error}, status=400))
    with pytest.raises(BadRequest, match="Invalid 'input"):
        await provider(make_provider, fake_server).complete(single(O3_PRO, stream=True))


async def test_an_incomplete_stream_ends_as_the_reply_would(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    incomplete = response(reasoning(), status="incomplete", reason="max_output_tokens")
    fake_server.enqueue(
        sse(STREAM[0], {"type": "response.incomplete", "sequence_number": 1, "response": incomplete})
    )
    with pytest.raises(OutputLimit, match="max_output_tokens"):
        await provider(make_provider, fake_server).complete(single(O3_PRO, stream=True))


def test_a_request_without_the_responses_wire_is_untouched() -> None:
    request = ChatRequest("gpt-4o", (Message("user", "Hi"),), {"stop": ["\n"], "seed": 1})
    assert OpenAIProvider.check_request(request) == []
