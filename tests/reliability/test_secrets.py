"""A key never appears in anything a run writes, even when the server and the provider echo it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import providers
from providers import ChatRequest, Completion, EndpointSettings
from runner import ApiLimit, RateLimits, run_async
from tests.reliability.conftest import KEY, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, error_reply, serving
from tests.reliability.http_provider import KEY_ENV, FakeChatProvider


class LeakyProvider(FakeChatProvider):
    """A provider with a bug: its exception text carries the key."""

    api: ClassVar[str] = "leaky"

    async def complete(self, request: ChatRequest) -> Completion:
        if request.messages[-1].text == "crash":
            raise ValueError(f"could not build headers from 'Bearer {self._key}'")
        return await super().complete(request)


@pytest.fixture
def leaky() -> Iterator[type[LeakyProvider]]:
    providers.register(LeakyProvider)
    yield LeakyProvider
    providers.unregister(LeakyProvider.api)


async def test_no_file_of_a_run_contains_the_key(
    tmp_path: Path, leaky: type[LeakyProvider], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".env").write_text(f"{KEY_ENV}={KEY}\n")
    with serving(FakeChatServer()) as good, serving(FakeChatServer(valid_keys=("another",))) as refusing:
        good.script("echoed", error_reply(400, f"invalid request from key {KEY}"))
        good.script("echoed twice", error_reply(503, f"overloaded ({KEY})"), error_reply(400, f"bad: {KEY}"))
        prompts = [
            {"id": "echoed", "api": "leaky", "model_name": "m", "prompt": "echoed"},
            {"id": "echoed twice", "api": "leaky", "model_name": "m", "prompt": "echoed twice"},
            {"id": "crash", "api": "leaky", "model_name": "m", "prompt": "crash"},
            {"id": "fine", "api": "leaky", "model_name": "m", "prompt": "fine"},
            {"id": "refused", "api": "fakechat", "model_name": "m", "prompt": "refused"},
            {"id": "not sent", "api": "fakechat", "model_name": "m", "prompt": "not sent"},
        ]
        endpoints = {
            "leaky": EndpointSettings(base_url=good.url, api_key_env=KEY_ENV),
            "fakechat": EndpointSettings(base_url=refusing.url, api_key_env=KEY_ENV),
        }
        config = make_config(
            tmp_path,
            good.url,
            prompts,
            endpoints=endpoints,
            env_file=tmp_path / ".env",
            parallel=True,
            rate_limits=RateLimits(apis={"fakechat": ApiLimit(max_queries=60)}),
        )
        caplog.set_level(logging.INFO, logger="prompto_run")

        result = await run_async(config, environ={})

        assert good.requests[0].authorization == f"Bearer {KEY}"  # the key was really used
    records = read_records(result.run_dir)
    assert "invalid request from key ***" in records["echoed"]["error"]["message"]
    assert records["crash"]["error"]["type"] == "unexpected"
    assert records["refused"]["error"]["type"] == "auth"
    assert records["not sent"]["error"]["type"] == "not_sent"
    assert records["fine"]["error"] is None
    files = [path for path in result.run_dir.rglob("*") if path.is_file()]
    assert {"completed.jsonl", "run.log", "summary.json", "config.yaml"} <= {path.name for path in files}
    leaks = [path.name for path in files if KEY.encode() in path.read_bytes()]
    assert leaks == []
    assert "Traceback" in (result.run_dir / "run.log").read_text()  # the bug is logged, scrubbed
    assert KEY not in caplog.text
