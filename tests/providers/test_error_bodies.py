"""Error classes of replies that are not what they seem: an error object in an HTTP 200, a body too
deeply nested to parse, a body its content-encoding cannot decode. None of them is ``unexpected``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from providers import (
    AuthError,
    BadRequest,
    EndpointSettings,
    MalformedReply,
    Provider,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from runner import ExperimentConfig, RunConfig, run_experiment
from tests.fakes import FakeServer, RecordedRequest, Reply
from tests.fakes.replies import gemini_quota_429, openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import SECRET, single
from tests.providers.test_reply_limits import ABANDONS_A_BODY
from tests.reliability.conftest import read_records

DEEP = b"[" * 100_000 + b"]" * 100_000
"""Valid JSON that Python's parser cannot parse (RecursionError)."""


def build(api: str, make_provider: MakeProvider, server: FakeServer) -> Provider:
    env = {
        "openai": {"OPENAI_BASE_URL": server.url("/v1"), "OPENAI_API_KEY": SECRET},
        "huggingface-tgi": {"HUGGINGFACE_TGI_API_ENDPOINT": server.base_url},
        "anthropic": {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": SECRET},
        "gemini": {"GEMINI_BASE_URL": server.base_url, "GEMINI_API_KEY": SECRET},
        "ollama": {"OLLAMA_API_ENDPOINT": server.base_url},
    }[api]
    return make_provider(api, "m", env=env)


def case(
    name: str, api: str, body: dict[str, Any], error: type[ProviderError], retryable: bool, **headers: str
) -> Any:
    return pytest.param(api, Reply.json(body, headers=headers), error, retryable, id=name)


@pytest.mark.parametrize(
    ("api", "reply", "error", "retryable"),
    [
        case(
            "openai server_error",
            "openai",
            {"error": {"type": "server_error", "message": "Oops"}},
            ServerError,
            True,
        ),
        case(
            "openai rate limit",
            "openai",
            {
                "error": {
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                    "message": "Please try again in 2s.",
                }
            },
            RateLimited,
            True,
        ),
        case(
            "openai quota",
            "openai",
            {"error": {"code": "insufficient_quota", "message": "Quota"}},
            QuotaExhausted,
            False,
        ),
        case(
            "openai bad request",
            "openai",
            {"error": {"type": "invalid_request_error", "message": "No"}},
            BadRequest,
            False,
        ),
        case(
            "openai bad key",
            "openai",
            {"error": {"code": "invalid_api_key", "message": "Bad key"}},
            AuthError,
            False,
        ),
        case(
            "gateway's status code",
            "openai",
            {"error": {"code": 502, "message": "upstream failed"}},
            ServerError,
            True,
        ),
        case("no name at all", "openai", {"error": {"message": "Something went wrong"}}, ServerError, True),
        case(
            "x-should-retry false",
            "openai",
            {"error": {"type": "server_error", "message": "No"}},
            ServerError,
            False,
            **{"x-should-retry": "false"},
        ),
        case(
            "tgi overloaded",
            "huggingface-tgi",
            {"error": "Model is overloaded", "error_type": "overloaded"},
            RateLimited,
            True,
        ),
        case(
            "anthropic overloaded",
            "anthropic",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ServerError,
            True,
        ),
        case(
            "anthropic rate limit",
            "anthropic",
            {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}},
            RateLimited,
            True,
        ),
        case(
            "anthropic spend cap",
            "anthropic",
            {"type": "error", "error": {"type": "billing_error", "message": "Credit balance too low"}},
            QuotaExhausted,
            False,
        ),
        case(
            "gemini unavailable",
            "gemini",
            {"error": {"code": 503, "status": "UNAVAILABLE", "message": "The model is overloaded."}},
            ServerError,
            True,
        ),
        case(
            "gemini status name only",
            "gemini",
            {"error": {"status": "RESOURCE_EXHAUSTED", "message": "Too many requests"}},
            RateLimited,
            True,
        ),
        case("ollama", "ollama", {"error": "model runner has unexpectedly stopped"}, ServerError, True),
    ],
)
async def test_an_error_object_in_a_200_is_the_error_it_names(
    make_provider: MakeProvider,
    fake_server: FakeServer,
    api: str,
    reply: Reply,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake_server.enqueue(reply)
    provider = build(api, make_provider, fake_server)

    with pytest.raises(error) as caught:
        await provider.complete(single("m"))

    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert caught.value.status == 200
    assert caught.value.message.startswith("HTTP 200 with an error object, taken as HTTP ")


async def test_a_200_error_keeps_the_vendors_details(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    openai = build("openai", make_provider, fake_server)
    fake_server.enqueue(Reply.json({"error": {"type": "server_error", "message": "The server had an error"}}))
    with pytest.raises(ServerError) as caught:
        await openai.complete(single("m"))
    assert caught.value.message == (
        "HTTP 200 with an error object, taken as HTTP 500 (server_error): The server had an error"
    )

    gemini = build("gemini", make_provider, fake_server)
    fake_server.enqueue(
        Reply(body=gemini_quota_429("PerMinute").body, headers={"content-type": "application/json"})
    )
    with pytest.raises(RateLimited) as limited:
        await gemini.complete(single("m"))
    assert limited.value.retry_after == 23.0  # RetryInfo read as on a real 429


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini", "ollama"])
async def test_json_nested_too_deep_is_malformed_or_classified_by_status(
    make_provider: MakeProvider, fake_server: FakeServer, api: str
) -> None:
    provider = build(api, make_provider, fake_server)
    fake_server.enqueue(Reply.text(DEEP, content_type="application/json"))
    with pytest.raises(MalformedReply, match="reply is JSON nested too deep to parse"):
        await provider.complete(single("m"))

    fake_server.enqueue(Reply.text(DEEP, status=503, content_type="application/json"))
    with pytest.raises(ServerError):  # the error body is unreadable, the status still says what happened
        await provider.complete(single("m"))


@ABANDONS_A_BODY
async def test_a_run_records_each_as_its_class_and_retries_what_may_succeed(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    scripted = {
        "bad gzip": [
            Reply.text(
                b"not gzip at all", content_type="application/json", headers={"content-encoding": "gzip"}
            )
        ],
        "deep": [Reply.text(DEEP, content_type="application/json")],
        "200 server_error": [Reply.json({"error": {"type": "server_error", "message": "Oops"}})],
        "200 bad request": [Reply.json({"error": {"type": "invalid_request_error", "message": "No"}})],
    }

    def reply(request: RecordedRequest) -> Reply:
        prompt = request.json["messages"][-1]["content"]
        return scripted[prompt].pop(0) if scripted.get(prompt) else openai_chat(f"ok: {prompt}")

    fake_server.responder = reply
    file = tmp_path / "prompts.jsonl"
    file.write_text("".join(json.dumps({"id": p, "prompt": p}) + "\n" for p in scripted))
    config = RunConfig(
        experiment=ExperimentConfig(file=file, api="openai", model_name="m"),
        endpoints={"openai": EndpointSettings(base_url=fake_server.url("/v1"))},
        max_queries=6000,
        env_file=None,
        output_dir=tmp_path / "run",
    )

    result = await run_experiment(config, {"OPENAI_API_KEY": SECRET})

    records = read_records(result.run_dir)
    outcome = {p: (r["error"] and r["error"]["type"], r["attempts"]) for p, r in records.items()}
    assert outcome == {
        "bad gzip": ("malformed_reply", 1),
        "deep": ("malformed_reply", 1),
        "200 server_error": (None, 2),  # retried, then answered
        "200 bad request": ("bad_request", 1),
    }
    assert "Traceback" not in (result.run_dir / "run.log").read_text()
