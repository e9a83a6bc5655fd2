"""Each fault a server can inject, over real HTTP: what is retried, what is recorded at once, what stops."""

from __future__ import annotations

from pathlib import Path

from providers import EndpointSettings
from runner import RateLimits, run_experiment
from runner.config._config import ApiLimit
from tests.reliability.conftest import ENVIRON, KEY, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, Reply, error_reply, serving

HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"

# prompt -> (replies the server gives before succeeding, expected attempts, expected error type or None)
FAULTS: dict[str, tuple[list[Reply], int, str | None]] = {
    "rate limit with retry-after": (
        [error_reply(429, "slow down", None, **{"retry-after-ms": "50"})],
        2,
        None,
    ),
    "rate limit in seconds": ([error_reply(429, "slow down", None, **{"retry-after": "0.1"})], 2, None),
    "quota": (
        [error_reply(429, "You exceeded your current quota", "insufficient_quota")],
        1,
        "quota_exhausted",
    ),
    "server error": ([error_reply(500, "oops"), error_reply(502, "bad gateway")], 3, None),
    "overloaded": ([error_reply(529, "Overloaded")], 2, None),
    "request timeout": ([error_reply(408, "timeout")], 2, None),
    "conflict": ([error_reply(409, "conflict")], 2, None),
    "bad request": ([error_reply(400, "max_tokens is too large")], 1, "bad_request"),
    "not found": ([error_reply(404, "model not found")], 1, "not_found"),
    "unprocessable": ([error_reply(422, "invalid schema")], 1, "bad_request"),
    "hang": ([Reply(hang_s=1.5)], 2, None),
    "dropped connection": ([Reply(drop=True)], 2, None),
    "html proxy page": ([Reply(200, HTML_PAGE)], 1, "malformed_reply"),
    "html 502 page": ([Reply(502, HTML_PAGE)], 2, None),
    "truncated json": ([Reply(200, b'{"choices": [{"message": {"content": "hal')], 1, "malformed_reply"),
    "missing field": ([Reply(200, {"choices": []})], 1, "malformed_reply"),
    "always failing": ([error_reply(503, "down")] * 5, 3, "server_error"),
}


async def test_each_fault_is_retried_or_recorded_as_it_should(tmp_path: Path, server: FakeChatServer) -> None:
    for prompt, (replies, _, _) in FAULTS.items():
        server.script(prompt, *replies)
    prompts = [{"id": prompt, "prompt": prompt} for prompt in FAULTS]
    config = make_config(tmp_path, server.url, prompts, max_attempts=3, request_timeout_s=0.5)

    result = await run_experiment(config, ENVIRON)

    records = read_records(result.run_dir)
    assert set(records) == set(FAULTS)
    for prompt, (_, attempts, error_type) in FAULTS.items():
        record = records[prompt]
        assert server.count(prompt) == attempts, prompt
        assert record["attempts"] == attempts, prompt
        if error_type is None:
            assert record["error"] is None, (prompt, record["error"])
            assert record["response"] == f"echo: {prompt}"
        else:
            assert record["error"]["type"] == error_type, (prompt, record["error"])
            assert record["response"] is None
    assert "nginx" in records["html proxy page"]["error"]["message"]  # the excerpt tells what came back
    assert records["always failing"]["error"]["status"] == 503
    assert result.summary["ok"] == len(FAULTS) - 8


async def test_rate_limit_without_retry_after_backs_off_then_succeeds(
    tmp_path: Path, server: FakeChatServer
) -> None:
    server.script("busy", error_reply(429, "Rate limit reached"))
    config = make_config(tmp_path, server.url, [{"id": 1, "prompt": "busy"}])

    result = await run_experiment(config, ENVIRON)

    [record] = read_records(result.run_dir).values()
    assert (record["error"], record["attempts"], server.count("busy")) == (None, 2, 2)


async def test_auth_failure_stops_only_its_queue(tmp_path: Path) -> None:
    with serving(FakeChatServer(valid_keys=("good-key",))) as server:
        prompts = [
            {"id": f"a{i}", "api": "fakechat", "model_name": "m", "prompt": f"a{i}"} for i in range(20)
        ]
        prompts += [
            {"id": f"b{i}", "api": "otherchat", "model_name": "m", "prompt": f"b{i}"} for i in range(20)
        ]
        limits = RateLimits(apis={"fakechat": ApiLimit(max_queries=60)})  # one request a second
        endpoints = {
            "fakechat": EndpointSettings(base_url=server.url, api_key_env="WRONG_KEY"),
            "otherchat": EndpointSettings(base_url=server.url, api_key_env="GOOD_KEY"),
        }
        config = make_config(
            tmp_path, server.url, prompts, parallel=True, rate_limits=limits, endpoints=endpoints
        )

        result = await run_experiment(config, {"WRONG_KEY": KEY, "GOOD_KEY": "good-key"})

        records = read_records(result.run_dir)
        bad_key_requests = [r for r in server.requests if r.authorization != "Bearer good-key"]
    assert len(bad_key_requests) == 1  # nothing more was sent after the 401
    assert records["a0"]["error"]["type"] == "auth"
    not_sent = [records[f"a{i}"] for i in range(1, 20)]
    assert all(r["error"]["type"] == "not_sent" and r["attempts"] == 0 for r in not_sent)
    assert all("auth failure" in r["error"]["message"] for r in not_sent)
    assert all(records[f"b{i}"]["response"] == f"echo: b{i}" for i in range(20))
    assert result.summary["queues"]["fakechat"]["not_sent"] == 19
    assert result.summary["queues"]["otherchat"]["ok"] == 20
    assert KEY not in (result.run_dir / "completed.jsonl").read_text()


async def test_server_rate_limit_headers_pause_the_queue_until_reset(
    tmp_path: Path, server: FakeChatServer
) -> None:
    server.rate_limit_headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "0.2s"}
    limits = RateLimits(apis={"fakechat": ApiLimit(max_queries=60_000, max_in_flight=1)})
    prompts = [{"id": i, "prompt": f"p{i}"} for i in range(4)]
    config = make_config(tmp_path, server.url, prompts, parallel=True, rate_limits=limits)

    result = await run_experiment(config, ENVIRON)

    assert result.summary["ok"] == 4
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
    # each reply said "none left until the window resets in 0.2 s": the next request waited for it
    assert min(gaps) >= 0.19


async def test_connection_refused_is_retried_then_recorded(tmp_path: Path) -> None:
    with serving(FakeChatServer()) as server:
        url = server.url  # the port is closed once the block ends
    config = make_config(tmp_path, url, [{"id": 1, "prompt": "anyone there?"}], max_attempts=3)

    result = await run_experiment(config, ENVIRON)

    [record] = read_records(result.run_dir).values()
    assert (record["error"]["type"], record["attempts"]) == ("connection_error", 3)
    assert "ConnectError" in record["error"]["message"]
