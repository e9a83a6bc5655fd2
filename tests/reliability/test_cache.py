"""The response cache: a re-run reuses deterministic answers, says so, and sends nothing for them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import CacheConfig, run_experiment
from runner.engine._cache import FILE_NAME, is_deterministic
from tests.reliability.conftest import ENVIRON, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, error_reply

ROOT = Path(__file__).resolve().parents[2]


def prompts(parameters: dict[str, Any] | None = None, count: int = 5) -> list[dict[str, Any]]:
    return [
        {"id": i, "prompt": f"q{i}", **({"parameters": parameters} if parameters is not None else {})}
        for i in range(count)
    ]


async def run_twice(
    tmp_path: Path, server: FakeChatServer, items: list[dict[str, Any]], **cache: Any
) -> tuple:
    cache_config = CacheConfig(enabled=True, dir=tmp_path / "cache", **cache)
    first = await run_experiment(make_config(tmp_path / "a", server.url, items, cache=cache_config), ENVIRON)
    sent_first = len(server.requests)
    second = await run_experiment(make_config(tmp_path / "b", server.url, items, cache=cache_config), ENVIRON)
    return first, second, sent_first, len(server.requests) - sent_first


async def test_rerun_reuses_deterministic_answers(tmp_path: Path, server: FakeChatServer) -> None:
    first, second, sent_first, sent_second = await run_twice(tmp_path, server, prompts({"temperature": 0}))

    assert (sent_first, sent_second) == (5, 0)
    records = read_records(second.run_dir)
    assert all(record["cached"] is True and record["attempts"] == 0 for record in records.values())
    assert {k: r["response"] for k, r in records.items()} == {
        k: r["response"] for k, r in read_records(first.run_dir).items()
    }
    assert records[0]["usage"] == {"input_tokens": 1, "output_tokens": 2}
    assert "cached" not in read_records(first.run_dir)[0]
    assert second.summary["queues"]["default"]["cached"] == 5
    assert second.summary["ok"] == 5


@pytest.mark.parametrize("parameters", [None, {"temperature": 0.7}, {"options": {"temperature": 1}}])
async def test_sampled_requests_are_not_reused_by_default(
    tmp_path: Path, server: FakeChatServer, parameters: dict[str, Any] | None
) -> None:
    _, second, _, sent_second = await run_twice(tmp_path, server, prompts(parameters))

    assert sent_second == 5
    assert not any(record.get("cached") for record in read_records(second.run_dir).values())


async def test_sampled_requests_are_reused_when_asked(tmp_path: Path, server: FakeChatServer) -> None:
    _, _, _, sent_second = await run_twice(tmp_path, server, prompts({"temperature": 0.7}), sampled=True)
    assert sent_second == 0


async def test_a_different_request_or_a_failure_is_a_miss(tmp_path: Path, server: FakeChatServer) -> None:
    cache = CacheConfig(enabled=True, dir=tmp_path / "cache")
    server.script("q0", error_reply(400, "nope"))
    await run_experiment(
        make_config(tmp_path / "a", server.url, prompts({"temperature": 0}), cache=cache), ENVIRON
    )
    server.requests.clear()

    changed = prompts({"temperature": 0})
    changed[1]["parameters"] = {"temperature": 0, "max_tokens": 5}
    changed[2] |= {"api": "fakechat", "model_name": "other-model"}
    await run_experiment(make_config(tmp_path / "b", server.url, changed, cache=cache), ENVIRON)

    assert sorted(logged.prompt for logged in server.requests) == ["q0", "q1", "q2"]


def test_what_counts_as_deterministic() -> None:
    assert is_deterministic({"temperature": 0})
    assert is_deterministic({"generation_config": {"temperature": 0.0}})
    assert not is_deterministic({})
    assert not is_deterministic({"temperature": 0.2})


def test_several_processes_share_one_cache(tmp_path: Path) -> None:
    script = """
import sys, trio
from pathlib import Path
from providers import Usage
from runner.engine._cache import CachedReply, open_cache
from runner import CacheConfig

async def main(tag):
    async with open_cache(CacheConfig(enabled=True, dir=Path(sys.argv[1]))) as cache:
        for i in range(300):
            await cache.put(f"{tag}-{i}", CachedReply(f"reply {i}", "stop", Usage(1, 2)))
            assert (await cache.get(f"{tag}-{i}")).response == f"reply {i}"

trio.run(main, sys.argv[2])
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag], env=env) for tag in ("a", "b")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    with sqlite3.connect(tmp_path / FILE_NAME) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT count(*) FROM replies").fetchone() == (600,)
    connection.close()
