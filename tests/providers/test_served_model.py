"""``served_model`` on each record: the model the server says answered, which may be more specific
than the ``model_name`` asked for (a dated snapshot, a tag), from a whole run against a fake vendor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from providers import EndpointSettings
from runner import CacheConfig, ExperimentConfig, RunConfig, run_experiment
from tests.conftest import read_jsonl
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import anthropic_message, gemini_response, ollama_chat, openai_chat


def _config(
    tmp_path: Path, server: FakeServer, api: str, model_name: str, prompts: list[Any], **settings: Any
) -> RunConfig:
    file = tmp_path / "prompts.jsonl"
    file.write_text("".join(json.dumps({"id": str(n), "prompt": p}) + "\n" for n, p in enumerate(prompts)))
    base_url = server.url("/v1") if api == "openai" else server.base_url
    return RunConfig(
        experiment=ExperimentConfig(file=file, api=api, model_name=model_name),
        endpoints={api: EndpointSettings(base_url=base_url)},
        max_queries=6000,
        env_file=None,
        output_dir=tmp_path / "run",
        **settings,
    )


async def _records(config: RunConfig, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    result = await run_experiment(config, environ, log_to_file=False)
    return read_jsonl(result.completed_file)


@pytest.mark.parametrize(
    ("api", "model_name", "environ", "reply", "served"),
    [
        (
            "openai",
            "gpt-4o-mini",
            {"OPENAI_API_KEY": "sk-test-served-0123"},
            openai_chat("Paris.", model="gpt-4o-mini-2024-07-18"),
            "gpt-4o-mini-2024-07-18",
        ),
        (
            "anthropic",
            "claude-sonnet-4-5",
            {"ANTHROPIC_API_KEY": "sk-ant-test-served"},
            anthropic_message("Paris.", model="claude-sonnet-4-5-20250929"),
            "claude-sonnet-4-5-20250929",
        ),
        (
            "gemini",
            "gemini-2.5-flash",
            {"GEMINI_API_KEY": "g-test-served"},
            gemini_response("Paris.", model_version="gemini-2.5-flash-002"),
            "gemini-2.5-flash-002",
        ),
        ("ollama", "llama3.2", {}, ollama_chat("Paris.", model="llama3.2:latest"), "llama3.2:latest"),
    ],
    ids=["openai", "anthropic", "gemini", "ollama"],
)
async def test_the_record_names_the_model_the_server_says_answered(
    tmp_path: Path,
    fake_server: FakeServer,
    api: str,
    model_name: str,
    environ: dict[str, str],
    reply: Reply,
    served: str,
) -> None:
    fake_server.enqueue(reply)

    [record] = await _records(
        _config(tmp_path, fake_server, api, model_name, ["Capital of France?"]), environ
    )

    assert (record["response"], record["error"]) == ("Paris.", None)
    assert (record["model_name"], record["served_model"]) == (model_name, served)


async def test_a_conversation_records_the_model_that_answered_its_last_turn(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    fake_server.enqueue(
        openai_chat("Hi.", model="gpt-4o-2024-08-06"), openai_chat("Fine.", model="gpt-4o-2024-11-20")
    )
    config = _config(tmp_path, fake_server, "openai", "gpt-4o", [["Hello", "How are you?"]])

    [record] = await _records(config, {"OPENAI_API_KEY": "sk-test-served-0123"})

    assert (record["response"], record["served_model"]) == (["Hi.", "Fine."], "gpt-4o-2024-11-20")


async def test_a_failed_prompt_and_a_silent_server_record_no_served_model(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    silent = json.loads(openai_chat("Paris.").body)
    del silent["model"]
    refused = Reply.json({"error": {"message": "bad"}}, status=400)
    fake_server.responder = lambda request: (
        refused if "refused" in request.body.decode() else Reply.json(silent)
    )
    config = _config(tmp_path, fake_server, "openai", "gpt-4o", ["answered", "refused"])

    records = {r["id"]: r for r in await _records(config, {"OPENAI_API_KEY": "sk-test-served-0123"})}

    assert (records["0"]["response"], records["0"]["served_model"]) == ("Paris.", None)
    assert records["1"]["error"]["type"] == "bad_request"
    assert records["1"]["served_model"] is None


async def test_a_reply_from_the_cache_keeps_the_model_that_answered_it(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    fake_server.enqueue(ollama_chat("Paris.", model="llama3.2:latest"))
    cache = CacheConfig(enabled=True, dir=tmp_path / "cache", sampled=True)
    first = _config(tmp_path, fake_server, "ollama", "llama3.2", ["Capital?"], cache=cache)
    await _records(first, {})
    again = first.model_copy(update={"output_dir": tmp_path / "again"})

    [record] = await _records(again, {})

    assert (record["cached"], record["served_model"]) == (True, "llama3.2:latest")
    assert len(fake_server.requests) == 1
