"""OpenAI's and Azure OpenAI's batch API against the fake, through real provider instances.

Every test runs on both flavours (``fake`` is parametrised): the protocol is one, the paths, the key
header, the line ``url`` and the upload's wait for ``processed`` differ.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trio

from providers import (
    AuthError,
    BadRequest,
    ChatRequest,
    EndpointSettings,
    Message,
    ProviderContext,
    ProviderError,
    RateLimited,
    ServerError,
)
from providers._json_api import JsonApiProvider
from providers.azure_openai import AzureOpenAIProvider
from providers.batch import (
    BatchCancelled,
    BatchExpired,
    BatchResult,
    BatchStatus,
    BatchTag,
    batch_api_for,
)
from providers.batch.azure_openai import AzureOpenAIBatch
from providers.batch.openai import OpenAIBatch
from providers.openai import OpenAIProvider
from tests.fakes.batch_base import Outcome, answer_text
from tests.fakes.openai_batch import OpenAIBatchFake, error_body
from tests.providers.prompts import SECRET, history

MODEL = "gpt-4o-mini"
TAG = BatchTag("run7f3a", 2)


@pytest.fixture(params=["openai", "azure"])
def fake(request: pytest.FixtureRequest) -> Iterator[OpenAIBatchFake]:
    with OpenAIBatchFake(azure=request.param == "azure") as server:
        yield server


def provider_for(fake: OpenAIBatchFake, transport: httpx.AsyncBaseTransport | None = None) -> JsonApiProvider:
    settings = EndpointSettings(base_url=fake.base_url)
    if fake.azure:
        environ = {"AZURE_OPENAI_API_KEY": SECRET}
        return AzureOpenAIProvider(ProviderContext(MODEL, settings, environ, transport=transport))
    return OpenAIProvider(ProviderContext(MODEL, settings, {"OPENAI_API_KEY": SECRET}, transport=transport))


@pytest.fixture
async def api(fake: OpenAIBatchFake) -> AsyncIterator[OpenAIBatch]:
    provider = provider_for(fake)
    batch_api = batch_api_for(provider)
    assert isinstance(batch_api, OpenAIBatch)
    if isinstance(batch_api, AzureOpenAIBatch):
        batch_api.file_poll_seconds = 0
    yield batch_api
    await provider.aclose()


def request_for(text: str) -> ChatRequest:
    """A request whose last user message is ``text`` (what the fake's behaviour is asked about)."""
    return ChatRequest(MODEL, (Message("system", "Be terse."), Message("user", text)), {"max_tokens": 50})


async def write_lines(api: OpenAIBatch, path: Path, texts: Sequence[str], tag: BatchTag = TAG) -> Path:
    """The chunk's request file as the engine writes it: line ``i`` is request ``tag.custom_id(i)``."""
    lines = [await api.request_line(tag.custom_id(i), request_for(text)) for i, text in enumerate(texts)]
    await trio.Path(path).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def submitted(api: OpenAIBatch, tmp_path: Path, texts: Sequence[str], tag: BatchTag = TAG) -> str:
    lines = await write_lines(api, tmp_path / f"chunk-{tag.chunk}.jsonl", texts, tag)
    return await api.submit(tag, lines, len(texts))


async def finished(api: OpenAIBatch, batch_id: str) -> BatchStatus:
    for _ in range(20):
        status = await api.status(batch_id)
        if status.done:
            return status
    raise AssertionError("the batch never finished")


async def collected(api: OpenAIBatch, batch_id: str, status: BatchStatus) -> dict[str, BatchResult]:
    results = [result async for result in api.results(batch_id, status, TAG)]
    by_id = {result.custom_id: result for result in results}
    assert len(by_id) == len(results), "a request was reported twice"
    return by_id


def behaving(fake: OpenAIBatchFake, outcomes: dict[str, Outcome]) -> None:
    fake.behaviour = lambda text, seen: outcomes.get(text, "ok")


# -- lines ---------------------------------------------------------------------------------------


async def test_a_line_carries_the_live_request_body(api: OpenAIBatch, fake: OpenAIBatchFake) -> None:
    request = history(MODEL, max_tokens=50, temperature=0.0)
    line = await api.request_line("run7f3a-2-0", request)
    await api.provider.complete(request)
    live = fake.requests[-1]
    assert line == {
        "custom_id": "run7f3a-2-0",
        "method": "POST",
        "url": "/chat/completions" if fake.azure else "/v1/chat/completions",
        "body": json.loads(live.body),
    }
    assert line["body"]["model"] == MODEL  # Azure: the (global batch) deployment's name, as live


# -- submit --------------------------------------------------------------------------------------


async def test_submit_uploads_the_file_and_tags_the_batch(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = await write_lines(api, tmp_path / "chunk.jsonl", ["a", "b", "c"])
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the lines file was read whole"))
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: pytest.fail("the lines file was read whole"))
    batch_id = await api.submit(TAG, lines, 3)
    monkeypatch.undo()
    batch = fake.batches[batch_id]
    upload = next(request for request in fake.requests if request.path.endswith("/files"))
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert int(upload.headers["content-length"]) == len(upload.body)  # the file's size, not chunked
    assert fake.contents[batch.input_file_id] == lines.read_bytes().splitlines(keepends=True)
    assert batch.metadata == {"prompto_run": "run7f3a", "prompto_chunk": "2"}
    assert batch.endpoint == api.endpoint
    assert fake.batches_created == 1


async def test_azure_waits_for_the_upload_to_be_processed(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    await submitted(api, tmp_path, ["a"])
    calls = [(request.method, request.path) for request in fake.requests]
    if fake.azure:
        assert calls[1][0] == "GET"
        assert calls[1][1].startswith("/openai/files/file-")
        assert all(request.query["api-version"] == "2024-10-21" for request in fake.requests)
        assert all(request.headers["api-key"] == SECRET for request in fake.requests)
    else:
        assert calls == [("POST", "/v1/files"), ("POST", "/v1/batches")]
        assert all(request.headers["authorization"] == f"Bearer {SECRET}" for request in fake.requests)


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (429, error_body("Rate limit reached for requests", code="rate_limit_exceeded"), RateLimited),
        (401, error_body(f"Incorrect API key provided: {SECRET}.", code="invalid_api_key"), AuthError),
        (500, error_body("The server had an error.", "server_error"), ServerError),
        (400, error_body("Invalid value for 'metadata'."), BadRequest),
    ],
)
async def test_an_error_on_create_is_its_provider_error_without_the_key(
    api: OpenAIBatch,
    fake: OpenAIBatchFake,
    tmp_path: Path,
    status: int,
    body: dict[str, Any],
    error_type: type[ProviderError],
) -> None:
    fake.create_errors.append((status, body))
    with pytest.raises(error_type) as raised:
        await submitted(api, tmp_path, ["a"])
    assert raised.value.status == status
    assert SECRET not in str(raised.value)
    assert SECRET[:12] not in str(raised.value)
    assert fake.batches_created == 0


async def test_a_batch_api_is_bound_to_its_own_provider() -> None:
    provider = OpenAIProvider(ProviderContext(MODEL, environ={"OPENAI_API_KEY": "k"}))
    with pytest.raises(TypeError, match="azure-openai"):
        AzureOpenAIBatch(provider)
    await provider.aclose()


# -- find ----------------------------------------------------------------------------------------


async def test_find_pages_to_the_tagged_batch_past_others(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    batch_id = await submitted(api, tmp_path, ["a", "b"])
    await submitted(api, tmp_path, ["a"], BatchTag("run7f3a", 3))  # the same run's next chunk
    for _ in range(150):  # someone else's batches, newer
        fake.planted({"owner": "someone else"})
    fake.planted({"prompto_run": "run7f3a", "prompto_chunk": "2"})  # the tag, but 5 requests: not ours
    fake.batches[next(reversed(fake.batches))].lines = [("x", "x", "ok")] * 5
    assert await api.find(TAG, 2, started) == batch_id
    pages = [
        request for request in fake.requests if request.method == "GET" and request.path.endswith("/batches")
    ]
    assert len(pages) == 2
    assert pages[1].query["after"]


async def test_find_stops_at_batches_older_than_the_submission(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    batch_id = await submitted(api, tmp_path, ["a"])
    fake.age(batch_id, 3600)
    for _ in range(250):
        fake.planted({"owner": "someone else"}, age=7200)
    assert await api.find(TAG, 1, datetime.now(UTC) - timedelta(minutes=1)) is None
    assert (
        sum(request.path.endswith("/batches") and request.method == "GET" for request in fake.requests) == 1
    )
    assert await api.find(TAG, 1, datetime.now(UTC) - timedelta(hours=2)) == batch_id


async def test_a_batch_accepted_but_never_answered_is_found(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    fake.hang_after_create = True
    with trio.move_on_after(1):
        await submitted(api, tmp_path, ["a", "b"])
        pytest.fail("the create call was answered")
    assert fake.batches_created == 1
    assert await api.find(TAG, 2, started) == next(iter(fake.batches))


# -- status --------------------------------------------------------------------------------------


async def test_status_moves_through_the_states_with_live_counts(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 4
    behaving(fake, {"bad": "bad_request"})
    batch_id = await submitted(api, tmp_path, ["a", "b", "c", "bad"])
    seen = [await api.status(batch_id) for _ in range(4)]
    assert [(s.state, s.done) for s in seen] == [
        ("in_progress", False),
        ("in_progress", False),
        ("finalizing", False),
        ("completed", True),
    ]
    assert [(s.total, s.succeeded, s.failed) for s in seen] == [(4, 1, 0), (4, 2, 0), (4, 3, 1), (4, 3, 1)]
    assert seen[-1].raw is not None
    assert seen[-1].raw["output_file_id"]


# -- results -------------------------------------------------------------------------------------


async def test_results_are_the_live_records_in_any_order(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    texts = [f"question {i}" for i in range(20)]
    batch_id = await submitted(api, tmp_path, texts)
    status = await finished(api, batch_id)
    order = [result.custom_id async for result in api.results(batch_id, status, TAG)]
    assert order != sorted(order, key=lambda custom_id: TAG.index_of(custom_id) or 0)  # shuffled
    results = await collected(api, batch_id, status)
    for index, text in enumerate(texts):
        completion = results[TAG.custom_id(index)].completion
        assert completion is not None
        assert completion.text == answer_text(text)
        assert completion.usage.input_tokens == 5
        assert completion.finish_reason == "stop"
    assert fake.answered == dict.fromkeys(texts, 1)


async def test_errors_in_results_are_the_errors_a_live_request_raises(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    behaving(fake, {"bad": "bad_request", "boom": "server_error"})
    batch_id = await submitted(api, tmp_path, ["fine", "bad", "boom"])
    results = await collected(api, batch_id, await finished(api, batch_id))
    bad, boom = results[TAG.custom_id(1)].error, results[TAG.custom_id(2)].error
    assert isinstance(bad, BadRequest)
    assert bad.status == 400
    assert not bad.retryable
    assert isinstance(boom, ServerError)
    assert boom.status == 500
    assert boom.retryable
    assert results[TAG.custom_id(0)].completion is not None


async def test_an_expired_batch_delivers_what_finished(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    behaving(fake, {"late": "expired"})
    batch_id = await submitted(api, tmp_path, ["early", "late"])
    status = await finished(api, batch_id)
    results = await collected(api, batch_id, status)
    assert status.state == "expired"
    assert results[TAG.custom_id(0)].completion is not None
    late = results[TAG.custom_id(1)].error
    assert isinstance(late, BatchExpired)
    assert late.retryable
    assert "batch_expired" in late.message


async def test_an_invalid_line_fails_the_batch_and_is_its_bad_request(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    behaving(fake, {"unsendable": "invalid"})
    batch_id = await submitted(api, tmp_path, ["a", "b", "unsendable", "c"])
    status = await finished(api, batch_id)
    results = await collected(api, batch_id, status)
    assert status.state == "failed"
    assert status.message
    assert "invalid_request" in status.message
    assert list(results) == [TAG.custom_id(2)]  # the others are not reported: the engine resends them
    error = results[TAG.custom_id(2)].error
    assert isinstance(error, BadRequest)
    assert "line 3" in error.message
    assert fake.answered == {}


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda line: "{not json", "invalid_json_line"),
        (lambda line: line | {"custom_id": TAG.custom_id(0)}, "duplicate_custom_id"),
        (lambda line: line | {"body": line["body"] | {"model": "gpt-4o"}}, "mismatched_model"),
        (lambda line: line | {"url": "/v1/embeddings"}, "mismatched_endpoint"),
    ],
)
async def test_the_fake_validates_the_file_as_openai_does(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path, edit: Any, code: str
) -> None:
    path = await write_lines(api, tmp_path / "chunk.jsonl", ["a", "b"])
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    edited = edit(second)
    path.write_text(
        json.dumps(first) + "\n" + (edited if isinstance(edited, str) else json.dumps(edited)) + "\n"
    )
    batch_id = await api.submit(TAG, path, 2)
    status = await finished(api, batch_id)
    assert status.state == "failed"
    assert status.message
    assert code in status.message
    results = await collected(api, batch_id, status)
    assert list(results) == [TAG.custom_id(1)]
    assert isinstance(results[TAG.custom_id(1)].error, BadRequest)


async def test_a_file_over_the_limit_fails_the_batch_naming_no_line(api: OpenAIBatch, tmp_path: Path) -> None:
    with OpenAIBatchFake(azure=isinstance(api, AzureOpenAIBatch), max_requests=2) as small:
        provider = provider_for(small)
        limited = cast(OpenAIBatch, batch_api_for(provider))
        if isinstance(limited, AzureOpenAIBatch):
            limited.file_poll_seconds = 0
        batch_id = await submitted(limited, tmp_path, ["a", "b", "c"])
        status = await finished(limited, batch_id)
        assert status.state == "failed"
        assert status.message
        assert "more than 2 requests" in status.message
        assert await collected(limited, batch_id, status) == {}
        await provider.aclose()


async def test_a_cancelled_batch_delivers_what_finished_and_cancels_the_rest(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    fake.polls_to_finish = 4
    texts = [f"q{i}" for i in range(8)]
    batch_id = await submitted(api, tmp_path, texts)
    assert (await api.status(batch_id)).succeeded == 2
    await api.cancel(batch_id)
    assert batch_id in fake.cancelled
    status = await finished(api, batch_id)
    results = await collected(api, batch_id, status)
    assert status.state == "cancelled"
    assert set(results) == {TAG.custom_id(i) for i in range(8)}
    answered = [r for r in results.values() if r.completion is not None]
    cancelled = [r for r in results.values() if isinstance(r.error, BatchCancelled)]
    assert (len(answered), len(cancelled)) == (2, 6)
    assert sum(fake.answered.values()) == 2


async def test_cancelling_a_finished_batch_is_refused(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    batch_id = await submitted(api, tmp_path, ["a"])
    await finished(api, batch_id)
    with pytest.raises(BadRequest, match="completed"):
        await api.cancel(batch_id)


async def test_results_stream_a_file_of_5000_lines(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    texts = [f"item {i}" for i in range(5000)]
    batch_id = await submitted(api, tmp_path, texts)
    results = await collected(api, batch_id, await finished(api, batch_id))
    assert len(results) == 5000
    assert all(results[TAG.custom_id(i)].completion is not None for i in range(5000))


# Leaving a results file half-read leaves httpx's nested line, text and byte iterators to the garbage
# collector (stream_lines hands over an iterator it never closes itself): a ResourceWarning, no leak.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_results_arrive_before_the_file_ends(fake: OpenAIBatchFake, tmp_path: Path) -> None:
    # httpx's own transport: the lean one reads a reply whole before handing it over.
    provider = provider_for(fake, transport=httpx.AsyncHTTPTransport())
    batch_api = cast(OpenAIBatch, batch_api_for(provider))
    if isinstance(batch_api, AzureOpenAIBatch):
        batch_api.file_poll_seconds = 0
    batch_id = await submitted(batch_api, tmp_path, [f"item {i}" for i in range(5000)])
    status = await finished(batch_api, batch_id)
    fake.stall_results_after = 100
    got = []
    with trio.move_on_after(5):
        async with aclosing(cast(Any, batch_api.results(batch_id, status, TAG))) as results:
            async for result in results:
                got.append(result)
                if len(got) == 100:
                    break
    assert len(got) == 100
    await provider.aclose()


async def test_keys_never_appear_in_result_errors(
    api: OpenAIBatch, fake: OpenAIBatchFake, tmp_path: Path
) -> None:
    batch_id = await submitted(api, tmp_path, ["a"])
    status = await finished(api, batch_id)
    output = fake.contents[status.raw["output_file_id"]]  # type: ignore[index]
    line = json.loads(output[0])
    line["response"] = {"status_code": 401, "body": error_body(f"Incorrect API key provided: {SECRET}")}
    fake.contents[status.raw["output_file_id"]] = [json.dumps(line).encode() + b"\n"]  # type: ignore[index]
    results = await collected(api, batch_id, status)
    error = results[TAG.custom_id(0)].error
    assert isinstance(error, AuthError)
    assert SECRET not in error.message
    assert "***" in error.message


# -- the live endpoint ---------------------------------------------------------------------------


async def test_the_fake_answers_live_requests_with_the_same_behaviour(
    api: OpenAIBatch, fake: OpenAIBatchFake
) -> None:
    behaving(fake, {"bad": "bad_request"})
    completion = await api.provider.complete(request_for("fine"))
    assert completion.text == answer_text("fine")
    with pytest.raises(BadRequest):
        await api.provider.complete(request_for("bad"))
    assert (fake.live_requests, fake.seen["bad"], fake.answered["fine"]) == (2, 1, 1)
