"""Reply size: a body past ``max_reply_mb`` (decoded) is refused while it arrives, on both transports.

Memory is measured with ``tracemalloc`` from after the fake server's reply was built: a client that
read the whole body before judging it would need at least its size.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from providers import EndpointSettings, MalformedReply
from providers.http._pool import ClientPool
from providers.http._reply_size import MB
from runner import ExperimentConfig, RunConfig, load_config, run_experiment
from tests.fakes import FakeServer, RecordedRequest, Reply
from tests.fakes.replies import openai_chat
from tests.reliability.conftest import read_records

TRANSPORTS = pytest.mark.parametrize("lean", [True, False], ids=["lean transport", "httpx transport"])
ABANDONS_A_BODY = pytest.mark.filterwarnings(
    "ignore:Async generator .* was garbage collected:ResourceWarning"
)
"""Stopping mid-body (past the cap, or at bytes that cannot be decoded) leaves httpx's and httpcore's
async generators unexhausted: trio closes each and warns (a ResourceWarning, silent outside tests).
Stopping there is the point."""


@asynccontextmanager
async def pool(server: FakeServer, *, lean: bool, max_reply_bytes: int) -> AsyncIterator[ClientPool]:
    clients = ClientPool(server.base_url, lean=lean, max_reply_bytes=max_reply_bytes)
    try:
        yield clients
    finally:
        await clients.aclose()


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block, in bytes (``peak[0]`` once it ends)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def gzip_of_zeros(size: int) -> bytes:
    """A gzip body that inflates to ``size`` zero bytes (made a megabyte at a time)."""
    compressor = zlib.compressobj(wbits=31)
    return b"".join(compressor.compress(bytes(MB)) for _ in range(size // MB)) + compressor.flush()


@TRANSPORTS
@ABANDONS_A_BODY
async def test_a_reply_past_the_cap_is_refused_while_it_arrives(fake_server: FakeServer, lean: bool) -> None:
    fake_server.enqueue(Reply.text(b"x" * (8 * MB), content_type="application/json"), openai_chat("small"))
    async with pool(fake_server, lean=lean, max_reply_bytes=MB) as clients:
        with peak_memory() as peak, pytest.raises(MalformedReply) as caught:
            await clients.post("/v1/chat/completions", json_body={})
        small = await clients.post("/v1/chat/completions", json_body={})  # the pool still works

    assert caught.value.status == 200
    assert "reply body over max_reply_mb (1 MB): not read further" in caught.value.message
    assert peak[0] < 4 * MB  # reading stopped near the cap, not after 8 MB
    assert small.json()["choices"][0]["message"]["content"] == "small"


@TRANSPORTS
@ABANDONS_A_BODY
async def test_a_compressed_reply_is_capped_at_its_decoded_size(fake_server: FakeServer, lean: bool) -> None:
    bomb = gzip_of_zeros(64 * MB)  # about 64 KB on the wire
    fake_server.enqueue(
        Reply.text(bomb, content_type="application/json", headers={"content-encoding": "gzip"}),
        Reply.text(
            gzip.compress(json.dumps({"ok": True}).encode()),
            content_type="application/json",
            headers={"content-encoding": "gzip"},
        ),
    )
    async with pool(fake_server, lean=lean, max_reply_bytes=MB) as clients:
        with peak_memory() as peak, pytest.raises(MalformedReply, match=r"over max_reply_mb \(1 MB\)"):
            await clients.post("/v1/chat/completions", json_body={})
        small = await clients.post("/v1/chat/completions", json_body={})

    assert len(bomb) < MB
    assert peak[0] < 16 * MB  # inflated a piece at a time, and not past the cap by much
    assert small.json() == {"ok": True}  # a compressed reply under the cap reads as usual
    assert "content-encoding" not in small.headers  # its body is the decoded one


@TRANSPORTS
@ABANDONS_A_BODY
async def test_a_body_its_content_encoding_cannot_decode_is_a_malformed_reply(
    fake_server: FakeServer, lean: bool
) -> None:
    fake_server.enqueue(
        Reply.text(b"this is not gzip", content_type="application/json", headers={"content-encoding": "gzip"})
    )
    async with pool(fake_server, lean=lean, max_reply_bytes=MB) as clients:
        with pytest.raises(MalformedReply, match="reply body is not valid gzip data") as caught:
            await clients.post("/v1/chat/completions", json_body={})
    assert caught.value.status == 200


async def test_a_run_records_an_oversized_reply_and_goes_on(tmp_path: Path, fake_server: FakeServer) -> None:
    def reply(request: RecordedRequest) -> Reply:
        prompt = request.json["messages"][-1]["content"]
        return openai_chat("x" * (3 * MB) if prompt == "big" else f"ok: {prompt}")

    fake_server.responder = reply
    file = tmp_path / "prompts.jsonl"
    file.write_text("".join(json.dumps({"id": p, "prompt": p}) + "\n" for p in ("big", "small")))
    config = RunConfig(
        experiment=ExperimentConfig(file=file, api="openai", model_name="m"),
        endpoints={"openai": EndpointSettings(base_url=fake_server.url("/v1"))},
        max_reply_mb=1,
        max_queries=6000,
        env_file=None,
        output_dir=tmp_path / "run",
    )

    result = await run_experiment(config, {"OPENAI_API_KEY": "sk-test-limits-0123"}, log_to_file=False)

    records = read_records(result.run_dir)
    error = records["big"]["error"]
    assert (error["type"], records["big"]["attempts"]) == ("malformed_reply", 1)
    assert "over max_reply_mb (1 MB)" in error["message"]
    assert records["small"]["response"] == "ok: small"


def test_max_reply_mb_is_a_setting_with_a_64_mb_default(tmp_path: Path) -> None:
    assert load_config("capitals", [], output_dir=tmp_path).max_reply_mb == 64
    assert load_config("capitals", ["max_reply_mb=8"], output_dir=tmp_path).max_reply_mb == 8
