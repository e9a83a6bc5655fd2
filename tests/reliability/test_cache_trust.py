"""The response cache serves only what it should: the same endpoint's whole replies, or nothing at all.

* The key holds the endpoint the provider sends to, however it was set (an env var, a per-model env
  var, the config): a run against another server is a miss, and that server gets the requests.
* A reply a retry might improve (cut off by ``max_tokens``, or empty) is not stored or served, unless
  ``cache.keep_incomplete`` is set.
* A cache file that cannot be opened or read (garbage, truncated) is given up with one warning naming
  it, and the run answers every prompt anyway.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from providers import EndpointSettings, ProviderContext, Usage, provider_class
from runner import CacheConfig, run_experiment
from runner.engine._cache import FILE_NAME, CachedReply
from tests.reliability.conftest import ENVIRON, KEY, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, Reply, serving

OPENAI_ENV = {**ENVIRON, "OPENAI_API_KEY": KEY}


def openai_prompts(count: int = 5, **parameters: Any) -> list[dict[str, Any]]:
    """Prompts for the real ``openai`` provider (the fake server speaks its protocol), at temperature 0."""
    return [
        {
            "id": i,
            "prompt": f"q{i}",
            "api": "openai",
            "model_name": "gpt-test",
            "parameters": {"temperature": 0, **parameters},
        }
        for i in range(count)
    ]


def chat_reply(content: str, finish_reason: str) -> Reply:
    return Reply(
        200,
        {
            "choices": [
                {"message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 0},
        },
    )


def cache_at(tmp_path: Path, **settings: Any) -> CacheConfig:
    return CacheConfig(enabled=True, dir=tmp_path / "cache", **settings)


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_BASE_URL_gpt_test"])
async def test_a_base_url_from_the_environment_keys_the_cache(tmp_path: Path, variable: str) -> None:
    cache = cache_at(tmp_path)
    with serving(FakeChatServer()) as a, serving(FakeChatServer()) as b:

        async def run_against(server: FakeChatServer, name: str) -> dict[str, dict[str, Any]]:
            config = make_config(tmp_path / name, server.url, openai_prompts(), cache=cache)
            result = await run_experiment(config, {**OPENAI_ENV, variable: server.url})
            assert result.summary["ok"] == 5
            return read_records(result.run_dir)

        await run_against(a, "first-a")
        on_b = await run_against(b, "then-b")
        again_on_a = await run_against(a, "a-again")

    assert len(b.requests) == 5  # server B was asked, not answered with A's replies
    assert not any(record.get("cached") for record in on_b.values())
    assert len(a.requests) == 5  # A's own replies are still reused for A
    assert all(record["cached"] is True for record in again_on_a.values())


async def test_a_base_url_in_the_config_keys_the_cache(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    with serving(FakeChatServer()) as a, serving(FakeChatServer()) as b:
        for server, name in ((a, "a"), (b, "b")):
            config = make_config(
                tmp_path / name,
                server.url,
                openai_prompts(),
                cache=cache,
                endpoints={"openai": EndpointSettings(base_url=server.url)},
            )
            await run_experiment(config, OPENAI_ENV)

    assert (len(a.requests), len(b.requests)) == (5, 5)


def test_the_endpoint_identity_is_the_resolved_url_without_credentials() -> None:
    openai = provider_class("openai")

    def endpoint_url(environ: dict[str, str], settings: EndpointSettings | None = None) -> str | None:
        context = ProviderContext(
            "gpt-test", settings or EndpointSettings(), {"OPENAI_API_KEY": KEY, **environ}
        )
        return openai(context).endpoint_url

    assert endpoint_url({}) == "https://api.openai.com/v1"  # the API's default
    assert endpoint_url({"OPENAI_BASE_URL": "http://a.example:8000/v1/"}) == "http://a.example:8000/v1"
    assert endpoint_url({"OPENAI_BASE_URL": "https://user:sk-secret@Proxy.example/v1?api-key=sk-x"}) == (
        "https://proxy.example/v1"  # neither user info nor a query (where keys hide) is part of it
    )
    settings = EndpointSettings(base_url="http://config.example/v1")
    assert endpoint_url({"OPENAI_BASE_URL": "http://env.example/v1"}, settings) == "http://config.example/v1"
    simulated = provider_class("simulated")
    assert simulated(ProviderContext("sim")).endpoint_url is None  # nothing sent over a network


async def test_replies_a_retry_might_improve_are_not_reused(tmp_path: Path, server: FakeChatServer) -> None:
    server.script("q0", chat_reply("", "length"))  # no answer before max_tokens: output_limit, a failure
    server.script("q1", chat_reply("The capital of Fra", "length"))
    server.script("q2", chat_reply("   ", "stop"))  # empty, though the model says it finished
    cache = cache_at(tmp_path)
    prompts = openai_prompts(4, max_tokens=5)
    environ = {**OPENAI_ENV, "OPENAI_BASE_URL": server.url}

    first = await run_experiment(make_config(tmp_path / "1", server.url, prompts, cache=cache), environ)
    server.requests.clear()
    second = await run_experiment(make_config(tmp_path / "2", server.url, prompts, cache=cache), environ)
    sent_second = sorted(logged.prompt for logged in server.requests)
    server.requests.clear()
    third = await run_experiment(make_config(tmp_path / "3", server.url, prompts, cache=cache), environ)

    assert read_records(first.run_dir)[0]["error"]["type"] == "output_limit"  # never cached
    assert sent_second == ["q0", "q1", "q2"]  # asked again; only the whole reply (q3) is reused
    assert read_records(second.run_dir)[0]["response"] == "echo: q0"
    assert [r.get("cached", False) for r in read_records(second.run_dir).values()].count(True) == 1
    assert server.requests == []  # the whole replies the second run got are stored
    assert all(record["cached"] is True for record in read_records(third.run_dir).values())


async def test_keep_incomplete_stores_and_serves_them(tmp_path: Path, server: FakeChatServer) -> None:
    server.script("q0", chat_reply("", "stop"), chat_reply("", "stop"))  # empty, though finished
    prompts = openai_prompts(2, max_tokens=5)
    environ = {**OPENAI_ENV, "OPENAI_BASE_URL": server.url}
    keeping = cache_at(tmp_path, keep_incomplete=True)

    await run_experiment(make_config(tmp_path / "1", server.url, prompts, cache=keeping), environ)
    server.requests.clear()
    kept = await run_experiment(make_config(tmp_path / "2", server.url, prompts, cache=keeping), environ)
    assert server.requests == []
    assert read_records(kept.run_dir)[0]["cached"] is True
    assert read_records(kept.run_dir)[0]["response"] == ""

    # Stored while asked for, not served once the setting is off again (as for a cache filled before).
    default = await run_experiment(
        make_config(tmp_path / "3", server.url, prompts, cache=cache_at(tmp_path)), environ
    )
    assert [logged.prompt for logged in server.requests] == ["q0"]
    assert "cached" not in read_records(default.run_dir)[0]


@pytest.mark.parametrize(
    ("response", "finish_reason", "incomplete"),
    [
        ("Paris", "stop", False),
        ("Paris", None, False),
        ("Paris is", "length", True),  # OpenAI, vLLM, Ollama, llama.cpp
        ("Paris is", "max_tokens", True),  # Anthropic
        ("Paris is", "MAX_TOKENS", True),  # Gemini
        ("", "stop", True),
        (" \n", "end_turn", True),
        (["Paris", ""], "stop", True),  # a multi-turn prompt with one empty turn
        (["Paris", "Rome"], "stop", False),
    ],
)
def test_what_a_retry_might_improve(response: Any, finish_reason: str | None, incomplete: bool) -> None:
    assert CachedReply(response, finish_reason, Usage(1, 2)).incomplete is incomplete


def _warnings_naming(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and str(path) in record.getMessage()
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"this is not a database\n" * 200),
        lambda path: path.write_bytes(path.read_bytes()[:50]),  # cut inside the header
    ],
    ids=["garbage", "truncated-header"],
)
async def test_a_cache_that_cannot_be_opened_is_gone_without(
    tmp_path: Path, server: FakeChatServer, caplog: pytest.LogCaptureFixture, damage: Any
) -> None:
    cache = cache_at(tmp_path)
    prompts = openai_prompts(20)
    environ = {**OPENAI_ENV, "OPENAI_BASE_URL": server.url}
    await run_experiment(make_config(tmp_path / "1", server.url, prompts, cache=cache), environ)
    path = cache.dir / FILE_NAME
    damage(path)
    server.requests.clear()

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        result = await run_experiment(make_config(tmp_path / "2", server.url, prompts, cache=cache), environ)

    assert len(server.requests) == 20
    assert (result.summary["status"], result.summary["ok"]) == ("complete", 20)
    assert (result.run_dir / "summary.json").is_file()
    assert len(_warnings_naming(caplog, path)) == 1
    assert "goes on without it" in (result.run_dir / "run.log").read_text()


def damage_replies_from(path: Path, prompt: int) -> None:
    """Overwrite with garbage the table pages that hold only replies to prompts ``prompt`` and later:
    the file opens and the first lookups are answered, then SQLite meets a malformed page."""
    with closing(sqlite3.connect(path)) as connection:
        prompt_of = {
            rowid: int(json.loads(reply)["response"].removeprefix("echo: q"))
            for rowid, reply in connection.execute("SELECT rowid, reply FROM replies")
        }
        leaves = connection.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = 'replies' AND pagetype = 'leaf' ORDER BY path"
        ).fetchall()
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    rowids, first = sorted(prompt_of), 0  # a table's leaves, in order, hold its rows in rowid order
    with path.open("r+b") as file:
        for page, cells in leaves:
            if all(prompt_of[rowid] >= prompt for rowid in rowids[first : first + cells]):
                file.seek((page - 1) * page_size)
                file.write(b"\xa5" * page_size)
            first += cells


async def test_a_cache_that_becomes_unreadable_mid_run_is_gone_without(
    tmp_path: Path, server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = cache_at(tmp_path)
    prompts = openai_prompts(300)
    environ = {**OPENAI_ENV, "OPENAI_BASE_URL": server.url}
    await run_experiment(make_config(tmp_path / "1", server.url, prompts, cache=cache), environ)
    path = cache.dir / FILE_NAME
    damage_replies_from(path, 200)
    server.requests.clear()

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        result = await run_experiment(make_config(tmp_path / "2", server.url, prompts, cache=cache), environ)

    records = read_records(result.run_dir)  # fails on any duplicate
    cached = sum(bool(record.get("cached")) for record in records.values())
    assert 200 <= cached < 300  # read at first, then unreadable
    assert len(server.requests) == 300 - cached
    assert all(record["error"] is None for record in records.values())
    assert (result.summary["status"], result.summary["ok"]) == ("complete", 300)
    (warning,) = _warnings_naming(caplog, path)
    assert "cannot be read" in warning
    assert "malformed" in warning


async def test_a_stored_row_it_cannot_read_turns_the_cache_off(
    tmp_path: Path, server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = cache_at(tmp_path)
    prompts = openai_prompts(10)
    environ = {**OPENAI_ENV, "OPENAI_BASE_URL": server.url}
    await run_experiment(make_config(tmp_path / "1", server.url, prompts, cache=cache), environ)
    path = cache.dir / FILE_NAME
    with closing(sqlite3.connect(path)) as connection:
        connection.execute('UPDATE replies SET reply = \'{"not": "a reply"}\'')
        connection.commit()
    server.requests.clear()

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        result = await run_experiment(make_config(tmp_path / "2", server.url, prompts, cache=cache), environ)

    assert len(server.requests) == 10
    assert (result.summary["status"], result.summary["ok"]) == ("complete", 10)
    (warning,) = _warnings_naming(caplog, path)
    assert "not a stored reply" in warning
