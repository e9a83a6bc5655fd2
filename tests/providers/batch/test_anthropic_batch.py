"""Anthropic's Message Batches through a real :class:`AnthropicProvider`, against the fake batch server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio

from providers import (
    AuthError,
    BadRequest,
    ChatRequest,
    EndpointSettings,
    MalformedReply,
    Message,
    NotFound,
    ProviderContext,
    RateLimited,
    ServerError,
)
from providers.anthropic import AnthropicProvider
from providers.batch import (
    BatchApi,
    BatchCancelled,
    BatchExpired,
    BatchResult,
    BatchTag,
    batch_api_for,
)
from providers.batch import _anthropic_envelope as anthropic_envelope
from providers.batch.anthropic import AnthropicBatch
from tests.fakes.anthropic_batch import AnthropicBatchFake
from tests.fakes.batch_base import FakeReply, Outcome
from tests.providers.prompts import SECRET

MODEL = "claude-sonnet-4-5"
TAG = BatchTag("run7", 0)


@pytest.fixture
def fake() -> Iterator[AnthropicBatchFake]:
    server = AnthropicBatchFake()
    with server:
        server.polls_to_finish = 1
        yield server


def make_provider(
    fake: AnthropicBatchFake, transport: httpx.AsyncBaseTransport | None = None
) -> AnthropicProvider:
    context = ProviderContext(
        model_name=MODEL,
        settings=EndpointSettings(base_url=fake.base_url),
        environ={"ANTHROPIC_API_KEY": SECRET},
        transport=transport,
    )
    return AnthropicProvider(context)


@pytest.fixture
async def provider(fake: AnthropicBatchFake) -> AsyncIterator[AnthropicProvider]:
    built = make_provider(fake)
    yield built
    await built.aclose()


@pytest.fixture
def batch(provider: AnthropicProvider) -> BatchApi:
    api = batch_api_for(provider)
    assert isinstance(api, AnthropicBatch)
    return api


def request(text: str, **parameters: object) -> ChatRequest:
    return ChatRequest(MODEL, (Message("system", "Be terse."), Message("user", text)), parameters)


async def write_lines(batch: BatchApi, path: Path, texts: list[str], tag: BatchTag = TAG) -> Path:
    with path.open("w") as file:
        for index, text in enumerate(texts):
            line = await batch.request_line(tag.custom_id(index), request(text, max_tokens=64))
            file.write(json.dumps(line) + "\n")
    return path


async def run_batch(batch: BatchApi, path: Path, texts: list[str], tag: BatchTag = TAG) -> list[BatchResult]:
    """Submit, poll until done, collect."""
    batch_id = await batch.submit(tag, await write_lines(batch, path, texts, tag), len(texts))
    status = await batch.status(batch_id)
    while not status.done:
        status = await batch.status(batch_id)
    return [result async for result in batch.results(batch_id, status, tag)]


def by_text(outcomes: dict[str, Outcome]) -> Callable[[str, int], Outcome]:
    return lambda text, seen: outcomes.get(text, "ok")


# -- lines --------------------------------------------------------------------------------------


async def test_a_line_is_the_live_request_body(
    batch: BatchApi, provider: AnthropicProvider, fake: AnthropicBatchFake
) -> None:
    live = request("Hello", max_tokens=100, temperature=0.2)
    await provider.complete(live)
    assert await batch.request_line("run7-0-0", live) == {
        "custom_id": "run7-0-0",
        "params": fake.requests[-1].json,
    }
    assert fake.live_requests == 1
    assert fake.answered["Hello"] == 1


def test_limits_are_the_apis() -> None:
    assert AnthropicBatch.limits.max_requests == 100_000
    assert 255 * 10**6 < AnthropicBatch.limits.max_bytes < 256 * 10**6


# -- submit -------------------------------------------------------------------------------------


async def test_submit_sends_every_line_under_the_tags_custom_ids(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b", "c"])
    batch_id = await batch.submit(TAG, lines, 3)
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/messages/batches")
    assert sent.headers["x-api-key"] == SECRET
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-length"] == str(len(sent.body))
    assert "transfer-encoding" not in sent.headers
    expected = [json.loads(line) for line in lines.read_text().splitlines()]
    assert sent.json == {"requests": expected}
    assert [TAG.index_of(item["custom_id"]) for item in sent.json["requests"]] == [0, 1, 2]
    assert list(fake.batches) == [batch_id]
    assert fake.batches_created == 1


class PieceCounter(httpx.AsyncBaseTransport):
    """Forwards each request to httpx's own transport, noting the pieces its body arrived in."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.pieces: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        pieces = [piece async for piece in request.stream]
        self.pieces = [len(piece) for piece in pieces]
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=b"".join(pieces)
        )
        return await self.inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_submit_streams_the_file_in_chunks(
    fake: AnthropicBatchFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anthropic_envelope, "READ_CHUNK", 4096)
    counter = PieceCounter()
    provider = make_provider(fake, transport=counter)
    try:
        batch = AnthropicBatch(provider)
        texts = [f"prompt {index} " + "x" * 200 for index in range(200)]
        lines = await write_lines(batch, tmp_path / "lines.jsonl", texts)
        await batch.submit(TAG, lines, len(texts))
    finally:
        await provider.aclose()
    assert len(counter.pieces) > 10
    assert max(counter.pieces) <= 4096
    assert len(fake.requests[-1].json["requests"]) == 200
    assert "transfer-encoding" not in fake.requests[-1].headers


async def test_a_lines_file_without_a_final_newline_is_sent_whole(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b"])
    lines.write_text(lines.read_text().rstrip("\n"))
    await batch.submit(TAG, lines, 2)
    assert [item["custom_id"] for item in fake.requests[-1].json["requests"]] == ["run7-0-0", "run7-0-1"]


async def test_a_batch_over_the_size_limit_is_a_bad_request(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    fake.max_bytes = 1000
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["x" * 600, "y" * 600])
    with pytest.raises(BadRequest) as caught:
        await batch.submit(TAG, lines, 2)
    assert caught.value.status == 413
    assert "request_too_large" in caught.value.message
    assert fake.batches_created == 0


async def test_a_batch_over_the_request_limit_is_a_bad_request(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    fake.max_requests = 2
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b", "c"])
    with pytest.raises(BadRequest) as caught:
        await batch.submit(TAG, lines, 3)
    assert caught.value.status == 413


async def test_duplicate_custom_ids_are_refused_at_create(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a"])
    lines.write_text(lines.read_text() * 2)
    with pytest.raises(BadRequest, match="unique"):
        await batch.submit(TAG, lines, 2)


async def test_an_error_status_on_create_is_its_provider_error(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a"])
    fake.route = lambda request: fake_error(529, "overloaded_error", "Overloaded")  # type: ignore[method-assign]
    with pytest.raises(ServerError) as caught:
        await batch.submit(TAG, lines, 1)
    assert caught.value.status == 529
    assert caught.value.retryable


def fake_error(status: int, error_type: str, message: str) -> FakeReply:
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_1"}
    return FakeReply.json(body, status=status)


async def test_a_missing_key_fails_before_sending(fake: AnthropicBatchFake, tmp_path: Path) -> None:
    context = ProviderContext(model_name=MODEL, settings=EndpointSettings(base_url=fake.base_url))
    provider = AnthropicProvider(context)
    try:
        batch = AnthropicBatch(provider)
        lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a"])
        with pytest.raises(AuthError, match="ANTHROPIC_API_KEY"):
            await batch.submit(TAG, lines, 1)
    finally:
        await provider.aclose()
    assert fake.requests == []


# -- find ---------------------------------------------------------------------------------------


def foreign(count: int) -> list[tuple[str, object]]:
    return [(f"other-{index}", {"model": MODEL, "max_tokens": 5, "messages": []}) for index in range(count)]


async def test_find_recognises_the_batch_by_size_and_time(
    batch: BatchApi, provider: AnthropicProvider, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    fake.add_batch(foreign(3), created_at=started - timedelta(hours=2))  # same size, long before
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b", "c"])
    batch_id = await batch.submit(TAG, lines, 3)
    fake.add_batch(foreign(4))  # newer, another size
    after_crash = AnthropicBatch(provider)
    assert await after_crash.find(TAG, 3, started) == batch_id
    listed = [r for r in fake.requests if (r.method, r.path) == ("GET", "/v1/messages/batches")]
    assert listed
    assert all(r.headers["x-api-key"] == SECRET for r in listed)


async def test_find_pages_through_newer_batches(
    provider: AnthropicProvider, fake: AnthropicBatchFake
) -> None:
    started = datetime.now(UTC)
    target = fake.add_batch(foreign(7))
    for _ in range(250):
        fake.add_batch(foreign(2))
    assert await AnthropicBatch(provider).find(TAG, 7, started) == target.id
    cursors = [r.query.get("after_id") for r in fake.requests if r.path == "/v1/messages/batches"]
    assert len(cursors) == 3
    assert cursors[0] is None
    assert all(cursors[1:])


async def test_find_stops_listing_at_older_batches(
    provider: AnthropicProvider, fake: AnthropicBatchFake
) -> None:
    started = datetime.now(UTC)
    for _ in range(300):
        fake.add_batch(foreign(7), created_at=started - timedelta(days=1))
    fake.add_batch(foreign(1))
    assert await AnthropicBatch(provider).find(TAG, 7, started) is None
    assert len([r for r in fake.requests if r.path == "/v1/messages/batches"]) == 1


async def test_find_allows_for_clock_skew(provider: AnthropicProvider, fake: AnthropicBatchFake) -> None:
    started = datetime.now(UTC)
    target = fake.add_batch(foreign(5), created_at=started - timedelta(minutes=2))
    assert await AnthropicBatch(provider).find(TAG, 5, started) == target.id


async def test_find_returns_nothing_when_two_batches_could_be_it(
    provider: AnthropicProvider, fake: AnthropicBatchFake
) -> None:
    started = datetime.now(UTC)
    fake.add_batch(foreign(5))
    fake.add_batch(foreign(5))
    assert await AnthropicBatch(provider).find(TAG, 5, started) is None


async def test_find_skips_batches_already_claimed(
    provider: AnthropicProvider, fake: AnthropicBatchFake
) -> None:
    started = datetime.now(UTC)
    recorded, lost = fake.add_batch(foreign(5)), fake.add_batch(foreign(5))
    batch = AnthropicBatch(provider)
    await batch.status(recorded.id)  # the ledger's batch, polled after the restart
    assert await batch.find(TAG, 5, started) == lost.id
    assert await batch.find(BatchTag("run7", 1), 5, started) is None  # never handed out twice


async def test_find_returns_nothing_when_no_batch_matches(
    provider: AnthropicProvider, fake: AnthropicBatchFake
) -> None:
    assert await AnthropicBatch(provider).find(TAG, 5, datetime.now(UTC)) is None


# -- status -------------------------------------------------------------------------------------


async def test_status_moves_to_ended_with_counts_frozen_until_then(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 3
    fake.behaviour = by_text({"b": "bad_request"})
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b", "c"])
    batch_id = await batch.submit(TAG, lines, 3)
    seen = [await batch.status(batch_id) for _ in range(3)]
    assert [(s.state, s.done) for s in seen] == [
        ("in_progress", False),
        ("in_progress", False),
        ("ended", True),
    ]
    assert [(s.total, s.succeeded, s.failed) for s in seen] == [(3, 0, 0), (3, 0, 0), (3, 2, 1)]
    assert seen[-1].raw is not None
    assert seen[-1].raw["results_url"].endswith(f"/{batch_id}/results")


async def test_status_of_an_unknown_batch_is_not_found(batch: BatchApi) -> None:
    with pytest.raises(NotFound):
        await batch.status("msgbatch_nope")


# -- results ------------------------------------------------------------------------------------


async def test_results_carry_completions_and_the_errors_live_requests_would_have_had(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    outcomes: dict[str, Outcome] = {
        "bad": "bad_request",
        "boom": "server_error",
        "late": "expired",
        "broken": "invalid",
    }
    fake.behaviour = by_text(outcomes)
    texts = ["fine", "bad", "boom", "late", "broken"]
    results = {r.custom_id: r for r in await run_batch(batch, tmp_path / "lines.jsonl", texts)}
    assert set(results) == {TAG.custom_id(index) for index in range(5)}
    fine, bad, boom, late, broken = (results[TAG.custom_id(index)] for index in range(5))
    assert fine.completion is not None
    assert fine.error is None
    assert fine.completion.text == "answer: fine"
    assert fine.completion.finish_reason == "end_turn"
    assert fine.completion.usage.input_tokens == 10
    assert isinstance(bad.error, BadRequest)
    assert bad.error.status == 400
    assert "invalid_request_error" in bad.error.message
    assert isinstance(boom.error, ServerError)
    assert boom.error.status == 500
    assert boom.error.retryable
    assert isinstance(late.error, BatchExpired)
    assert late.error.retryable
    assert isinstance(broken.error, BadRequest)
    assert not broken.error.retryable
    assert fake.answered["fine"] == 1
    assert fake.seen["late"] == 1


async def test_a_line_the_api_rejects_at_validation_is_a_bad_request(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    line = {"custom_id": TAG.custom_id(0), "params": {"model": MODEL, "max_tokens": 0, "messages": []}}
    lines = tmp_path / "lines.jsonl"
    lines.write_text(json.dumps(line) + "\n")
    batch_id = await batch.submit(TAG, lines, 1)
    status = await batch.status(batch_id)
    [result] = [r async for r in batch.results(batch_id, status, TAG)]
    assert isinstance(result.error, BadRequest)
    assert "max_tokens" in result.error.message


async def test_results_of_a_cancelled_batch_are_cancelled(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 5
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b"])
    batch_id = await batch.submit(TAG, lines, 2)
    await batch.cancel(batch_id)
    assert fake.cancelled == {batch_id}
    assert fake.requests[-1].path == f"/v1/messages/batches/{batch_id}/cancel"
    status = await batch.status(batch_id)
    assert (status.state, status.done, status.failed) == ("ended", True, 2)
    results = [r async for r in batch.results(batch_id, status, TAG)]
    assert len(results) == 2
    assert all(isinstance(r.error, BatchCancelled) for r in results)
    assert fake.answered == {}


async def test_cancel_shows_canceling_until_the_next_poll(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 5
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a"])
    batch_id = await batch.submit(TAG, lines, 1)
    await batch.cancel(batch_id)
    assert fake.batch_object(fake.batches[batch_id])["processing_status"] == "canceling"


async def test_results_stream_five_thousand_lines(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    texts = [f"question {index}" for index in range(5000)]
    results = await run_batch(batch, tmp_path / "lines.jsonl", texts)
    assert len(results) == 5000
    order = [TAG.index_of(r.custom_id) for r in results]
    assert sorted(index or 0 for index in order) == list(range(5000))
    assert order != sorted(index or 0 for index in order)  # shuffled, as the API promises no order
    assert all(r.completion is not None for r in results)
    assert {r.completion.text for r in results if r.completion} == {f"answer: {text}" for text in texts}


async def test_results_of_another_run_are_told_apart_by_their_custom_ids(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    """A false match of find(): the results' custom ids are not the tag's."""
    results = await run_batch(batch, tmp_path / "lines.jsonl", ["a"], tag=BatchTag("other", 3))
    assert [TAG.index_of(r.custom_id) for r in results] == [None]


async def test_results_url_on_another_host_is_refused(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a"])
    batch_id = await batch.submit(TAG, lines, 1)
    status = await batch.status(batch_id)
    assert status.raw is not None
    raw = {**status.raw, "results_url": "https://evil.example/v1/messages/batches/x/results"}
    moved = dataclasses.replace(status, raw=raw)
    with pytest.raises(MalformedReply, match="another server"):
        [r async for r in batch.results(batch_id, moved, TAG)]


# -- secrets ------------------------------------------------------------------------------------


async def test_keys_never_appear_in_error_messages(batch: BatchApi, fake: AnthropicBatchFake) -> None:
    with pytest.raises(NotFound) as caught:
        await batch.status(SECRET)  # the fake's 404 names the id it was asked for
    assert SECRET not in caught.value.message
    assert SECRET not in str(caught.value)
    assert SECRET in fake.requests[-1].path


# -- the crash the tag is for -------------------------------------------------------------------


async def test_a_batch_accepted_but_never_acknowledged_is_found(
    batch: BatchApi, provider: AnthropicProvider, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    fake.hang_after_create = True
    lines = await write_lines(batch, tmp_path / "lines.jsonl", ["a", "b"])
    with trio.move_on_after(0.5) as waited:
        await batch.submit(TAG, lines, 2)
    assert waited.cancelled_caught
    [accepted] = fake.batches
    assert await AnthropicBatch(provider).find(TAG, 2, started) == accepted


async def test_the_fake_deletes_a_batch_only_once_it_has_ended(
    batch: BatchApi, provider: AnthropicProvider, fake: AnthropicBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 2
    batch_id = await batch.submit(TAG, await write_lines(batch, tmp_path / "lines.jsonl", ["a"]), 1)
    with pytest.raises(BadRequest, match="in progress"):
        await batch.client.call("DELETE", f"v1/messages/batches/{batch_id}")
    while not (await batch.status(batch_id)).done:
        pass
    deleted = await batch.client.call("DELETE", f"v1/messages/batches/{batch_id}")
    assert deleted.json() == {"id": batch_id, "type": "message_batch_deleted"}
    with pytest.raises(NotFound):
        await batch.status(batch_id)


async def test_errored_results_are_classified_as_the_live_errors_would_be(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds = iter(["rate_limit_error", "overloaded_error", "timeout_error", "permission_error"])

    def errored(params: object, cancelled: bool) -> dict[str, object]:
        body = {"type": "error", "error": {"type": next(kinds), "message": "no"}}
        return {"type": "errored", "error": body}

    monkeypatch.setattr(fake, "_run", errored)
    results = await run_batch(batch, tmp_path / "lines.jsonl", ["a", "b", "c", "d"])
    errors = {TAG.index_of(r.custom_id): r.error for r in results}
    assert isinstance(errors[0], RateLimited)
    assert isinstance(errors[1], ServerError)
    assert errors[1].status == 529
    assert isinstance(errors[2], ServerError)  # a type the provider does not name: a server's failure
    assert isinstance(errors[3], AuthError)


async def test_lines_that_are_not_results_are_skipped(
    batch: BatchApi, fake: AnthropicBatchFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = fake.result_pieces

    def torn(lines: list[bytes]) -> object:
        return pieces([b'{"custom_id": "run7-0-', b"\n", b"[1, 2]\n", *lines, b'{"result": {}}\n'])

    monkeypatch.setattr(fake, "result_pieces", torn)
    results = await run_batch(batch, tmp_path / "lines.jsonl", ["a", "b"])
    assert sorted(r.custom_id for r in results) == ["run7-0-0", "run7-0-1"]
