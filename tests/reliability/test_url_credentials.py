"""Credentials written into a base URL (``https://user:pass@host/v1?api-key=...``) are used, and never logged.

httpx logs every request's full URL (``HTTP Request: POST http://user:pass@...?api-key=...``) on its
own logger; under ``prompto-run`` Hydra's handlers on the root logger write it to ``run.log`` and the
console. The URL also has to be built properly: the path goes onto the base's path, its query is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import run_async
from tests.conftest import run_cli
from tests.fakes import FakeServer, RecordedRequest, Reply
from tests.fakes.replies import openai_chat, openai_error
from tests.reliability.conftest import make_config, read_records

PASSWORD = "pa55-w0rd-in-url"
QUERY_KEY = "qk-9f8e7d6c5b4a"
KEY = "sk-test-4f9c2b7e1d0a"
OPENAI = {"api": "openai", "model_name": "gpt-4o-mini"}


def reply(request: RecordedRequest) -> Reply:
    """OpenAI's reply; a prompt ``echo`` gets a 400 that quotes the URL it was sent to, as some proxies do."""
    if request.json["messages"][-1]["content"] == "echo":
        return openai_error(400, f"unknown route {request.path} for user:{PASSWORD}")
    return openai_chat("ok")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.responder = reply
        yield fake


def base_url(server: FakeServer) -> str:
    host_and_port = server.base_url.removeprefix("http://")
    return f"http://user:{PASSWORD}@{host_and_port}/v1?api-key={QUERY_KEY}"


def leaks(run_dir: Path, *texts: str) -> list[str]:
    """Files of the run (and ``texts``) that hold a credential of the base URL."""
    files = [path for path in sorted(run_dir.rglob("*")) if path.is_file()]
    return [
        f"{where}: {secret}"
        for where, content in [*((p.name, p.read_text()) for p in files), *enumerate(texts)]
        for secret in (PASSWORD, QUERY_KEY)
        if secret in str(content)
    ]


async def test_the_path_goes_under_the_base_url_and_its_credentials_are_never_logged(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    prompts = [{"id": "ok", **OPENAI, "prompt": "hi"}, {"id": "echo", **OPENAI, "prompt": "echo"}]
    config = make_config(tmp_path, server.base_url, prompts, endpoints={})
    caplog.set_level(logging.INFO)

    result = await run_async(config, environ={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": base_url(server)})

    assert {request.path for request in server.requests} == {f"/v1/chat/completions?api-key={QUERY_KEY}"}
    records = read_records(result.run_dir)
    assert records["ok"]["response"] == "ok"
    assert (
        "unknown route /v1/chat/completions?api-key=*** for user:***" in records["echo"]["error"]["message"]
    )
    assert "HTTP Request: POST http://***@127.0.0.1:" in caplog.text  # httpx's line, masked
    assert "/v1/chat/completions?api-key=*** " in caplog.text
    assert leaks(result.run_dir, caplog.text) == []


def test_prompto_run_keeps_base_url_credentials_out_of_run_log_and_the_console(
    tmp_path: Path, server: FakeServer
) -> None:
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={KEY}\nOPENAI_BASE_URL={base_url(server)}\n")
    prompts = tmp_path / "data" / "input" / "p.jsonl"
    prompts.parent.mkdir(parents=True)
    prompts.write_text(json.dumps({"id": "1", **OPENAI, "prompt": "hi"}) + "\n")

    # httpx's request lines are off by default; a user who turns them on sees them masked
    httpx_lines = "hydra.job_logging.loggers.httpx.level=INFO"
    result = run_cli("experiment.file=p.jsonl", f"data_folder={tmp_path / 'data'}", httpx_lines, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert server.last_request.path == f"/v1/chat/completions?api-key={QUERY_KEY}"
    (run_log,) = (tmp_path / "outputs").rglob("run.log")
    assert "HTTP Request: POST http://***@127.0.0.1:" in run_log.read_text()
    assert leaks(tmp_path / "outputs", result.stdout, result.stderr) == []


def test_httpx_request_lines_are_off_by_default(tmp_path: Path, server: FakeServer) -> None:
    """One line a request would be a million lines in run.log and on the console for a large file."""
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={KEY}\nOPENAI_BASE_URL={base_url(server)}\n")
    prompts = tmp_path / "data" / "input" / "p.jsonl"
    prompts.parent.mkdir(parents=True)
    prompts.write_text(json.dumps({"id": "1", **OPENAI, "prompt": "hi"}) + "\n")

    result = run_cli("experiment.file=p.jsonl", f"data_folder={tmp_path / 'data'}", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    (run_log,) = (tmp_path / "outputs").rglob("run.log")
    assert "1 of 1 prompts finished" in run_log.read_text()
    assert "HTTP Request" not in run_log.read_text() + result.stdout + result.stderr
