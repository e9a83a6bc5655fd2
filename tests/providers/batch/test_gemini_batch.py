"""Gemini Batch Mode (:mod:`providers.batch.gemini`) against its fake, through a real ``GeminiProvider``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from providers import (
    AuthError,
    BadRequest,
    ChatRequest,
    EndpointSettings,
    Message,
    NotFound,
    ProviderContext,
    ProviderError,
    RateLimited,
    ServerError,
)
from providers.batch import (
    BatchCancelled,
    BatchExpired,
    BatchResult,
    BatchStatus,
    BatchTag,
    batch_api_for,
    has_batch_api,
)
from providers.batch.gemini import GeminiBatch
from providers.gemini import GeminiProvider
from providers.vertexai import VertexAIProvider
from tests.fakes.batch_base import Outcome
from tests.fakes.gemini_batch import GeminiBatchFake
from tests.providers.prompts import SECRET, history, single

MODEL = "gemini-2.5-flash"
TAG = BatchTag("run0abc", 3)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[GeminiBatchFake]:
    with GeminiBatchFake() as server:
        assert isinstance(server, GeminiBatchFake)
        server.api_key = SECRET
        yield server


@pytest.fixture
async def provider(fake: GeminiBatchFake) -> AsyncIterator[GeminiProvider]:
    context = ProviderContext(
        model_name=MODEL,
        settings=EndpointSettings(base_url=fake.base_url),
        environ={"GEMINI_API_KEY": SECRET},
    )
    built = GeminiProvider(context)
    yield built
    await built.aclose()


@pytest.fixture
def api(provider: GeminiProvider) -> GeminiBatch:
    found = batch_api_for(provider)
    assert isinstance(found, GeminiBatch)
    return found


async def write_lines(api: GeminiBatch, path: Path, texts: list[str], tag: BatchTag = TAG) -> Path:
    """The request file the engine writes: one ``request_line`` a line."""
    with path.open("w") as file:
        for index, text in enumerate(texts):
            request = ChatRequest(MODEL, (Message("user", text),), prompt_text=text)
            file.write(json.dumps(await api.request_line(tag.custom_id(index), request)) + "\n")
    return path


async def run_batch(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path, texts: list[str]
) -> tuple[str, BatchStatus, dict[str, BatchResult]]:
    """Submit, poll until done, collect: the results by custom id."""
    lines = await write_lines(api, tmp_path / "lines.jsonl", texts)
    batch_id = await api.submit(TAG, lines, len(texts))
    status = await api.status(batch_id)
    while not status.done:
        status = await api.status(batch_id)
    results = {result.custom_id: result async for result in api.results(batch_id, status, TAG)}
    return batch_id, status, results


def test_only_the_gemini_api_batches() -> None:
    assert has_batch_api(GeminiProvider)
    assert not has_batch_api(VertexAIProvider)  # its batch prediction needs a Cloud Storage bucket


async def test_a_line_holds_the_live_request_body_under_its_key(
    api: GeminiBatch, provider: GeminiProvider
) -> None:
    request = history(MODEL, temperature=0.3, max_output_tokens=50, safety_filter="few")
    line = await api.request_line("run0abc-3-7", request)
    assert line == {"request": await provider.request_body(request), "metadata": {"key": "run0abc-3-7"}}
    assert json.dumps(line["request"]) == json.dumps(await provider.request_body(request))


async def test_submit_streams_the_lines_inline_tagged_with_the_label(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(api, tmp_path / "lines.jsonl", ["a", "b", "c"])
    lines.write_text(lines.read_text() + "\n")  # a trailing blank line is no request
    batch_id = await api.submit(TAG, lines, 3)
    create = next(r for r in fake.requests if r.path.endswith(":batchGenerateContent"))
    assert create.path == f"/v1beta/models/{MODEL}:batchGenerateContent"
    assert create.headers["x-goog-api-key"] == SECRET
    assert create.headers.get("transfer-encoding") == "chunked"  # streamed, not read whole
    batch = create.json["batch"]
    assert batch["displayName"] == TAG.label == "prompto-run:run0abc:3"
    sent = batch["inputConfig"]["requests"]["requests"]
    assert sent == [json.loads(line) for line in lines.read_text().splitlines() if line]
    assert batch_id == fake.batches[batch_id].name
    assert batch_id.startswith("batches/")
    assert fake.batches_created == 1


async def test_status_moves_through_the_states(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 3
    batch_id = await api.submit(TAG, await write_lines(api, tmp_path / "l.jsonl", ["a", "b"]), 2)
    states = [await api.status(batch_id) for _ in range(4)]
    assert [s.state for s in states] == [
        "BATCH_STATE_RUNNING",
        "BATCH_STATE_RUNNING",
        "BATCH_STATE_SUCCEEDED",
        "BATCH_STATE_SUCCEEDED",
    ]
    assert [s.done for s in states] == [False, False, True, True]
    assert (states[0].total, states[0].succeeded) == (2, None)
    assert (states[2].total, states[2].succeeded, states[2].failed) == (2, 2, 0)
    assert states[2].raw is not None
    assert "output" not in states[2].raw["metadata"]
    assert "response" not in states[2].raw


async def test_results_success_and_in_result_errors(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    outcomes: dict[str, Outcome] = {"bad": "bad_request", "down": "server_error", "odd": "invalid"}
    fake.behaviour = lambda text, seen: outcomes.get(text, "ok")
    _, status, results = await run_batch(api, fake, tmp_path, ["fine", "bad", "down", "odd"])
    assert (status.state, status.succeeded, status.failed) == ("BATCH_STATE_SUCCEEDED", 1, 3)
    fine, bad, down, odd = (results[TAG.custom_id(i)] for i in range(4))
    assert fine.completion is not None
    assert fine.completion.text == "answer: fine"
    assert fine.completion.usage.input_tokens == 5
    assert fine.completion.model == MODEL
    assert isinstance(bad.error, BadRequest)
    assert bad.error.status == 400
    assert isinstance(down.error, ServerError)
    assert down.error.status == 500
    assert down.error.retryable
    assert isinstance(odd.error, BadRequest)
    assert "contents" in odd.error.message
    assert fake.answered["fine"] == 1
    assert fake.answered["bad"] == 0


async def test_results_join_on_the_key_whatever_the_order(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    texts = [f"prompt {i}" for i in range(40)]
    _, _, results = await run_batch(api, fake, tmp_path, texts)
    for index, text in enumerate(texts):
        completion = results[TAG.custom_id(index)].completion
        assert completion is not None
        assert completion.text == f"answer: {text}"


async def test_an_expired_batch_reports_the_unfinished_as_expired(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    fake.behaviour = lambda text, seen: "expired" if text.startswith("late") else "ok"
    _, status, results = await run_batch(api, fake, tmp_path, ["early", "late 1", "late 2"])
    assert status.state == "BATCH_STATE_EXPIRED"
    assert status.done
    assert results[TAG.custom_id(0)].completion is not None
    for index in (1, 2):
        assert isinstance(results[TAG.custom_id(index)].error, BatchExpired)
        assert results[TAG.custom_id(index)].error.retryable  # type: ignore[union-attr]


async def test_cancel_ends_the_batch_and_its_requests_are_cancelled(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 10
    batch_id = await api.submit(TAG, await write_lines(api, tmp_path / "l.jsonl", ["a", "b"]), 2)
    await api.cancel(batch_id)
    cancel = fake.requests[-1]
    assert (cancel.method, cancel.path) == ("POST", f"/v1beta/{batch_id}:cancel")
    assert fake.cancelled == {batch_id}
    status = await api.status(batch_id)
    assert (status.state, status.done, status.message) == (
        "BATCH_STATE_CANCELLED",
        True,
        "Batch was cancelled.",
    )
    results = [result async for result in api.results(batch_id, status, TAG)]
    assert sorted(r.custom_id for r in results) == [TAG.custom_id(0), TAG.custom_id(1)]
    assert all(isinstance(r.error, BatchCancelled) for r in results)
    assert not fake.answered


async def test_results_of_5000_requests(api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path) -> None:
    fake.polls_to_finish = 1
    texts = [f"question number {i}" for i in range(5000)]
    _, status, results = await run_batch(api, fake, tmp_path, texts)
    assert status.total == 5000
    assert len(results) == 5000
    assert all(result.completion is not None for result in results.values())
    assert results[TAG.custom_id(4999)].completion.text == "answer: question number 4999"  # type: ignore[union-attr]


async def test_find_returns_the_tagged_batch_across_pages(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    mine = await api.submit(TAG, await write_lines(api, tmp_path / "mine.jsonl", ["a"]), 1)
    for chunk in range(12):  # newer batches of other chunks: the tagged one is pages away
        other = BatchTag("run0abc", 100 + chunk)
        await api.submit(other, await write_lines(api, tmp_path / f"{chunk}.jsonl", ["b"], other), 1)
    assert await api.find(TAG, 1, LONG_AGO) == mine
    assert len([r for r in fake.requests if r.path == "/v1beta/batches"]) > 1
    assert {r.query.get("pageToken") for r in fake.requests if r.path == "/v1beta/batches"} >= {None, "5"}


async def test_find_ignores_other_batches_and_stops_at_old_ones(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    for chunk in range(12):
        other = BatchTag("otherrun", chunk)
        await api.submit(other, await write_lines(api, tmp_path / f"{chunk}.jsonl", ["b"], other), 1)
    assert await api.find(TAG, 1, LONG_AGO) is None
    lists_before = len([r for r in fake.requests if r.path == "/v1beta/batches"])
    assert lists_before == 3  # every page
    assert await api.find(TAG, 1, datetime(2026, 1, 2)) is None  # naive: taken as UTC
    lists = len([r for r in fake.requests if r.path == "/v1beta/batches"]) - lists_before
    assert lists == 1  # the first page is older than submitted_after: no more


async def test_find_after_a_create_that_never_answered(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    fake.hang_after_create = True
    lines = await write_lines(api, tmp_path / "l.jsonl", ["a"])
    with trio.move_on_after(0.5):
        await api.submit(TAG, lines, 1)
    assert fake.batches_created == 1
    assert await api.find(TAG, 1, LONG_AGO) == next(iter(fake.batches))


@pytest.mark.parametrize(
    ("status", "rpc", "expected"),
    [
        (400, "INVALID_ARGUMENT", BadRequest),
        (429, "RESOURCE_EXHAUSTED", RateLimited),
        (500, "INTERNAL", ServerError),
    ],
)
async def test_an_error_status_on_create_is_its_provider_error(
    api: GeminiBatch,
    fake: GeminiBatchFake,
    tmp_path: Path,
    status: int,
    rpc: str,
    expected: type[ProviderError],
) -> None:
    fake.create_error = (status, rpc, f"refused (key {SECRET})")
    with pytest.raises(expected) as caught:
        await api.submit(TAG, await write_lines(api, tmp_path / "l.jsonl", ["a"]), 1)
    assert caught.value.status == status
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.message


async def test_a_wrong_key_is_an_auth_error_without_the_key(fake: GeminiBatchFake, tmp_path: Path) -> None:
    wrong = "sk-wrong-key-0123456789"
    context = ProviderContext(
        model_name=MODEL, settings=EndpointSettings(base_url=fake.base_url), environ={"GEMINI_API_KEY": wrong}
    )
    provider = GeminiProvider(context)
    try:
        api = GeminiBatch(provider)
        with pytest.raises(AuthError) as caught:
            await api.submit(TAG, await write_lines(api, tmp_path / "l.jsonl", ["a"]), 1)
        assert wrong not in str(caught.value)
    finally:
        await provider.aclose()


async def test_an_oversized_batch_is_refused_as_the_api_refuses_it(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    lines = await write_lines(api, tmp_path / "l.jsonl", ["x" * (21 * 2**20)])
    with pytest.raises(BadRequest, match="payload size exceeds the limit"):
        await api.submit(TAG, lines, 1)
    assert fake.batches_created == 0
    assert GeminiBatch.limits.max_bytes < 20 * 10**6  # the docs' 20 MB, with room for the wrapping


async def test_the_live_endpoint_answers_with_the_same_behaviour(
    provider: GeminiProvider, fake: GeminiBatchFake
) -> None:
    fake.behaviour = lambda text, seen: "server_error" if seen == 1 else "ok"
    request = single(MODEL)
    with pytest.raises(ServerError):
        await provider.complete(request)
    completion = await provider.complete(request)
    assert completion.text == "answer: Hello"
    assert (fake.live_requests, fake.seen["Hello"], fake.answered["Hello"]) == (2, 2, 1)


async def test_an_unknown_batch_is_not_found(api: GeminiBatch) -> None:
    with pytest.raises(NotFound):
        await api.status("batches/nosuchbatch")


async def test_collecting_stalls_where_the_fake_is_told_to(
    api: GeminiBatch, fake: GeminiBatchFake, tmp_path: Path
) -> None:
    fake.stall_results_after = 2
    batch_id = await api.submit(TAG, await write_lines(api, tmp_path / "l.jsonl", ["a", "b", "c"]), 3)
    status = await api.status(batch_id)
    while not status.done:
        status = await api.status(batch_id)  # the poll that reports the end is whole
    collected: list[BatchResult] = []
    with trio.move_on_after(1) as waited:
        collected.extend([result async for result in api.results(batch_id, status, TAG)])
    assert waited.cancelled_caught
    assert not collected  # one JSON object: nothing can be parsed before all of it arrives
