"""Gemini Batch Mode (the Gemini Developer API's ``batches``): half-price ``generateContent`` requests.

One batch is one ``POST v1beta/models/{model}:batchGenerateContent`` whose body holds the requests
inline (``batch.inputConfig.requests.requests[]``, each ``{"request": <the live body>, "metadata":
{"key": <custom id>}}``); the answer is a long-running Operation named ``batches/{id}`` whose
``metadata`` is the batch (``state``, ``batchStats``, ``displayName``, ``createTime``). Poll with
``GET v1beta/batches/{id}``, list with ``GET v1beta/batches`` (``pageToken``), cancel with
``POST v1beta/batches/{id}:cancel``. Once done, the batch's ``output.inlinedResponses.inlinedResponses[]``
holds one ``{"metadata": {"key"}, "response" | "error"}`` per request.

Inline requests only: the docs cap them at 20 MB per batch, so :attr:`GeminiBatch.limits` keeps a
batch's lines under that (with headroom for the JSON around them) and a big queue goes as many
batches. A JSONL input file (Files API upload, ``inputConfig.fileName``) would allow 2 GB per batch;
it is not used yet.

The inline output comes back as one JSON object (the Operation), which cannot be parsed as it
arrives: :meth:`GeminiBatch.results` reads it whole through :meth:`JsonApiProvider.call`, under the
run's reply cap (``max_reply_mb``, 64 MB by default). Replies are usually of the order of their
requests, so a 20 MB batch fits; :attr:`GeminiBatch.limits` also caps a batch at 10,000 requests so
that long answers to many short prompts stay under the cap (raise ``max_reply_mb`` or lower
``batch.max_requests`` for very long answers).

Vertex AI's batch prediction needs a Cloud Storage bucket and is not covered here.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import trio

from providers._errors import MalformedReply, ProviderError
from providers._json_api import JsonObject
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._types import ChatRequest
from providers.batch._api import (
    MB,
    BatchApi,
    BatchLimits,
    BatchNotRun,
    BatchResult,
    BatchStatus,
    BatchTag,
)
from providers.batch._gemini_errors import live_error, not_run
from providers.http._pool import json_body

TERMINAL_STATES = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)
CLOCK_SKEW = timedelta(minutes=5)
"""How much older than ``submitted_after`` a batch's ``createTime`` may be and still be ours."""
LIST_PAGE_SIZE = 5
"""Batches per list page: small, as a listed batch may carry its whole inline output."""
READ_CHUNK = 1024 * 1024

_BATCH_NAME = re.compile(r"^batches/[A-Za-z0-9_-]+$")
_EXTRA_FRACTION = re.compile(r"(\.\d{6})\d+")


class GeminiBatch(BatchApi):
    """``batchGenerateContent`` with inline requests, for :class:`providers.gemini.GeminiProvider`."""

    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=10_000, max_bytes=19 * MB)
    """20 MB of inline requests per batch (Batch API guide); 19 MiB of lines leaves room for the
    wrapping JSON. The docs set no request count; 10,000 keeps the inline output under the reply cap."""

    async def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        """An ``InlinedRequest``: the live ``generateContent`` body, and the custom id as ``metadata.key``."""
        return {"request": await self.provider.request_body(request), "metadata": {"key": custom_id}}

    async def submit(self, tag: BatchTag, lines: Path, count: int) -> str:
        """Send the lines as the ``requests`` array of one create call, streamed from the file."""
        path = f"v1beta/models/{quote(self.provider.model_name, safe='')}:batchGenerateContent"
        response = await self.client.call(
            "POST",
            path,
            headers={"content-type": "application/json"},
            content=_create_body(tag.label, lines),
        )
        return _batch_name(json_body(response))

    async def find(self, tag: BatchTag, count: int, submitted_after: datetime) -> str | None:
        """The newest listed batch whose ``displayName`` is the tag's label.

        Listing stops after a page whose batches were all created before ``submitted_after`` (less
        :data:`CLOCK_SKEW`): the order of the list is not documented, so one old batch does not end it.
        """
        cutoff = _aware(submitted_after) - CLOCK_SKEW
        page_token: str | None = None
        while True:
            params = {"pageSize": str(LIST_PAGE_SIZE)} | ({"pageToken": page_token} if page_token else {})
            page = json_body(await self.client.call("GET", "v1beta/batches", params=params))
            operations = [item for item in list_at(page, "operations") if isinstance(item, dict)]
            for operation in operations:
                if str_at(object_at(operation, "metadata"), "displayName") == tag.label:
                    return _batch_name(operation)
            created = [_created_at(operation) for operation in operations]
            page_token = str_at(page, "nextPageToken")
            if not page_token or all(time is not None and time < cutoff for time in created):
                return None

    async def status(self, batch_id: str) -> BatchStatus:
        """The Operation's ``metadata.state`` and ``batchStats``; ``raw`` is the Operation without the
        inline output (which :meth:`results` fetches again, so a ledger never holds 20 MB of replies)."""
        operation = await self._operation(batch_id)
        batch = object_at(operation, "metadata")
        state = str_at(batch, "state") or "BATCH_STATE_UNSPECIFIED"
        stats = object_at(batch, "batchStats")
        error = object_at(operation, "error")
        raw = {key: value for key, value in operation.items() if key != "response"}
        raw["metadata"] = {key: value for key, value in batch.items() if key != "output"}
        return BatchStatus(
            state=state,
            done=operation.get("done") is True or state in TERMINAL_STATES,
            total=_count(stats, "requestCount"),
            succeeded=_count(stats, "successfulRequestCount"),
            failed=_count(stats, "failedRequestCount"),
            message=str_at(error, "message"),
            raw=raw,
        )

    async def results(self, batch_id: str, status: BatchStatus, tag: BatchTag) -> AsyncIterator[BatchResult]:
        """Each inline response as its completion or error; then, for a batch that expired, was
        cancelled or failed, every request it reported nothing for (``requestCount`` of the tag's ids)."""
        operation = await self._operation(batch_id)
        batch = object_at(operation, "metadata")
        output = object_at(batch, "output") or object_at(operation, "response")
        reported: set[str] = set()
        for position, item in enumerate(list_at(object_at(output, "inlinedResponses"), "inlinedResponses")):
            if not isinstance(item, dict):
                continue
            # The responses come in the order of the requests: a response without its key is the position's.
            custom_id = str_at(object_at(item, "metadata"), "key") or tag.custom_id(position)
            reported.add(custom_id)
            yield self._result(custom_id, item)
        state = str_at(batch, "state") or status.state
        total = _count(object_at(batch, "batchStats"), "requestCount") or status.total or 0
        for index in range(total):
            custom_id = tag.custom_id(index)
            if custom_id not in reported:
                yield BatchResult(custom_id, error=not_run(state, status.message))

    async def cancel(self, batch_id: str) -> None:
        """``POST batches/{id}:cancel`` (empty body); the batch becomes ``BATCH_STATE_CANCELLED``."""
        await self.client.call("POST", f"v1beta/{_checked(batch_id)}:cancel", content=b"")

    async def _operation(self, batch_id: str) -> JsonObject:
        operation = json_body(await self.client.call("GET", f"v1beta/{_checked(batch_id)}"))
        if not isinstance(operation, dict):
            raise MalformedReply(f"batch {batch_id}: reply is not a JSON object")
        return operation

    def _result(self, custom_id: str, item: JsonObject) -> BatchResult:
        """One ``InlinedResponse`` as the outcome the live request would have had."""
        try:
            if isinstance(item.get("response"), dict):
                return BatchResult(custom_id, completion=self.provider.outcome(200, item["response"]))
            if isinstance(item.get("error"), dict):
                self.provider.outcome(*live_error(item["error"]))  # raises: the status is an error's
        except ProviderError as error:
            return BatchResult(custom_id, error=error)
        return BatchResult(custom_id, error=BatchNotRun("the batch reported neither a response nor an error"))


async def _create_body(label: str, lines: Path) -> AsyncIterator[bytes]:
    """``{"batch": {"displayName", "inputConfig": {"requests": {"requests": [<lines>]}}}}``, the lines
    read a chunk at a time and joined with commas."""
    head = {"batch": {"displayName": label, "inputConfig": {"requests": {"requests": []}}}}
    yield json.dumps(head).removesuffix("]}}}}").encode()
    first = True
    rest = b""
    async with await trio.open_file(lines, "rb") as file:
        while chunk := await file.read(READ_CHUNK):
            *complete, rest = (rest + chunk).split(b"\n")
            joined = b",".join(line for line in complete if line.strip())
            if joined:
                yield (b"" if first else b",") + joined
                first = False
    if rest.strip():
        yield (b"" if first else b",") + rest
    yield b"]}}}}"


def _batch_name(operation: Any) -> str:
    """The Operation's ``name`` (``batches/{id}``), the id every later call is made with."""
    name = str_at(operation, "name") if isinstance(operation, dict) else None
    if name is None or not _BATCH_NAME.match(name):
        raise MalformedReply(f"the batch reply has no batch name (got {name!r})")
    return name


def _checked(batch_id: str) -> str:
    if not _BATCH_NAME.match(batch_id):
        raise ValueError(f"not a Gemini batch name: {batch_id!r}")
    return batch_id


def _count(stats: JsonObject, name: str) -> int | None:
    """A ``batchStats`` count: an int64, which proto JSON sends as a string."""
    value = stats.get(name)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return token_count(value)


def _created_at(operation: JsonObject) -> datetime | None:
    """``metadata.createTime`` (RFC 3339, up to nanoseconds) as an aware datetime."""
    text = str_at(object_at(operation, "metadata"), "createTime")
    if text is None:
        return None
    try:
        return _aware(datetime.fromisoformat(_EXTRA_FRACTION.sub(r"\1", text).replace("Z", "+00:00")))
    except ValueError:
        return None


def _aware(time: datetime) -> datetime:
    """A time without an offset taken as UTC (the contract's times are UTC)."""
    return time if time.tzinfo is not None else time.replace(tzinfo=UTC)
