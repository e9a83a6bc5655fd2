"""Anthropic's Message Batches API (``/v1/messages/batches``), for :mod:`providers.anthropic`.

There is no file upload: one create call carries every request, ``{"requests": [{"custom_id",
"params"}, ...]}``, where ``params`` is the Messages body the live request sends.
:meth:`AnthropicBatch.submit` streams that body from the chunk's lines file (one ``{"custom_id",
"params"}`` object per line), so this module never holds a 256 MB batch in memory. A batch is
``in_progress``, then ``ended`` (or ``canceling``, then ``ended``); its ``request_counts`` stay
``processing`` until it ends, and its results are a JSONL file at ``results_url``, in no order.

A batch object carries no metadata, display name or any other field a client may set (its fields
are ``id``, ``type``, ``processing_status``, ``request_counts``, ``created_at``, ``expires_at``,
``ended_at``, ``cancel_initiated_at``, ``archived_at``, ``results_url``): the tag lives only in the
custom ids, which the API never shows before the results. See :meth:`AnthropicBatch.find`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from providers._errors import ProviderError
from providers._json_api import JsonObject, malformed
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._types import ChatRequest
from providers.batch._anthropic_envelope import ENVELOPE_HEAD, ENVELOPE_TAIL, envelope, file_shape
from providers.batch._api import (
    BatchApi,
    BatchCancelled,
    BatchExpired,
    BatchLimits,
    BatchNotRun,
    BatchResult,
    BatchStatus,
    BatchTag,
)

BATCHES = "v1/messages/batches"
LIST_PAGE = 100
"""Batches asked for per page of the list (the API allows 1 to 1000)."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far the provider's clock may be behind ours: :meth:`AnthropicBatch.find` looks this far back."""
COUNT_NAMES = ("processing", "succeeded", "errored", "canceled", "expired")
"""``request_counts``' tallies, which always sum to the batch's size."""
UNKNOWN_ERROR_STATUS = 500
"""The status an ``errored`` result's error type stands for when the provider does not know the type
(``timeout_error`` and anything new): a server-side failure, worth another batch."""


class AnthropicBatch(BatchApi):
    """Message Batches for one Anthropic provider: requests in one create body, results by URL."""

    tags_reliable: ClassVar[bool] = False  # no batch field a client sets: found by size and time
    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=100_000, max_bytes=256 * 10**6 - 2**16)
    """100,000 requests or 256 MB per batch (the Batch processing guide's "Batch limitations"; 413
    ``request_too_large`` above it). The bytes are of the whole create body, so the limit on lines
    leaves 64 KiB for the envelope, and counts MB as 10^6 bytes, the smaller reading."""

    async def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        """``{"custom_id", "params"}``: ``params`` is the live request's body, byte for byte."""
        return {"custom_id": custom_id, "params": await self.provider.request_body(request)}

    async def submit(self, tag: BatchTag, lines: Path, count: int) -> str:
        """Create the batch, its body streamed from ``lines`` with a ``content-length`` (no chunked
        encoding); the tag is already in every line's custom id (the API takes nothing else)."""
        if count < 1:
            raise ValueError("a batch needs at least one request")
        size, ends_with_newline = await file_shape(lines)
        body_bytes = size - ends_with_newline
        headers = {
            "content-type": "application/json",
            "content-length": str(len(ENVELOPE_HEAD) + body_bytes + len(ENVELOPE_TAIL)),
        }
        response = await self.client.call(
            "POST", BATCHES, headers=headers, content=envelope(lines, body_bytes)
        )
        batch_id = str_at(_batch_object(response.content), "id")
        if batch_id is None:
            raise malformed("the created batch has no id", response.content.decode(errors="replace"))
        self.claimed.add(batch_id)
        return batch_id

    async def find(self, tag: BatchTag, count: int, submitted_after: datetime) -> str | None:
        """The one batch created since ``submitted_after`` (less :data:`CLOCK_SKEW`) whose request counts
        sum to ``count`` and that no chunk has claimed; ``None`` when there is none, or more than one.

        Anthropic batches carry no tag, so this is a guess by size and time: two chunks of the same size
        submitted within minutes of each other cannot be told apart, and then nothing is returned (the
        engine submits the chunk again, at worst paying twice). A false match (a batch of the same size
        from another run or client of the workspace) shows when its results arrive: their custom ids are
        not the tag's (:meth:`BatchTag.index_of` is ``None``), so none of them counts for this chunk, whose
        prompts are then submitted again."""
        if submitted_after.tzinfo is None:  # the contract's times are UTC
            submitted_after = submitted_after.replace(tzinfo=UTC)
        since = submitted_after - CLOCK_SKEW
        candidates: list[str] = []
        after_id: str | None = None
        while True:
            cursor = f"&after_id={quote(after_id, safe='')}" if after_id else ""
            page = _batch_object(
                (await self.client.call("GET", f"{BATCHES}?limit={LIST_PAGE}{cursor}")).content
            )
            batches = [batch for batch in list_at(page, "data") if isinstance(batch, dict)]
            for batch in batches:
                created = _created_at(batch)
                if created is not None and created < since:
                    return _the_only(candidates, self.claimed)
                batch_id = str_at(batch, "id")
                if batch_id and created is not None and _size(batch) == count:
                    candidates.append(batch_id)
            after_id = str_at(page, "last_id")
            if page.get("has_more") is not True or not after_id or not batches:
                return _the_only(candidates, self.claimed)

    async def status(self, batch_id: str) -> BatchStatus:
        """``processing_status`` as the state, done once ``ended``; counts are 0 until then."""
        self.claimed.add(batch_id)
        batch = _batch_object((await self.client.call("GET", _batch_path(batch_id))).content)
        state = str_at(batch, "processing_status") or "unknown"
        counts = object_at(batch, "request_counts")
        tallies = {name: token_count(counts.get(name)) or 0 for name in COUNT_NAMES}
        return BatchStatus(
            state=state,
            done=state == "ended",
            total=sum(tallies.values()),
            succeeded=tallies["succeeded"],
            failed=tallies["errored"] + tallies["canceled"] + tallies["expired"],
            message=f"results archived at {batch['archived_at']}" if batch.get("archived_at") else None,
            raw=batch,
        )

    async def results(self, batch_id: str, status: BatchStatus, tag: BatchTag) -> AsyncIterator[BatchResult]:
        """Each line of the results file, streamed from ``results_url`` (the documented path when the
        status carries none). A line that is not a result (torn, not JSON, no custom id) is skipped:
        its request then has no result, which the engine treats as not run."""
        self.claimed.add(batch_id)
        url = str_at(status.raw or {}, "results_url") or f"{_batch_path(batch_id)}/results"
        async with self.client.stream_lines(url) as lines:
            async for line in lines:
                if (result := self._result(line)) is not None:
                    yield result

    async def cancel(self, batch_id: str) -> None:
        """``POST .../cancel``: the batch is ``canceling`` until the requests in flight finish."""
        self.claimed.add(batch_id)
        await self.client.call("POST", f"{_batch_path(batch_id)}/cancel")

    def _result(self, line: str) -> BatchResult | None:
        try:
            entry = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):
            return None
        custom_id = str_at(entry, "custom_id") if isinstance(entry, dict) else None
        if entry is None or custom_id is None:
            return None
        result = object_at(entry, "result")
        kind = str_at(result, "type")
        if kind == "succeeded":
            return self._outcome(custom_id, 200, result.get("message"))
        if kind == "errored":
            error = object_at(result, "error")
            error_type = str_at(object_at(error, "error"), "type") or str_at(error, "type")
            status = self.provider.error_statuses.get(error_type or "", UNKNOWN_ERROR_STATUS)
            return self._outcome(custom_id, status, error)
        if kind == "canceled":
            return BatchResult(
                custom_id, error=BatchCancelled("the batch was cancelled before this request ran")
            )
        if kind == "expired":
            return BatchResult(
                custom_id, error=BatchExpired("the batch expired (24 h) before this request ran")
            )
        return BatchResult(
            custom_id, error=BatchNotRun(f"the batch reported no outcome (result type {kind!r})")
        )

    def _outcome(self, custom_id: str, status: int, body: Any) -> BatchResult:
        """The completion or the error a live reply of ``status`` and ``body`` would have been."""
        try:
            return BatchResult(custom_id, completion=self.provider.outcome(status, body))
        except ProviderError as error:
            return BatchResult(custom_id, error=error)


def _batch_path(batch_id: str) -> str:
    """``v1/messages/batches/<id>``, the id quoted: it comes from a reply or the ledger."""
    return f"{BATCHES}/{quote(batch_id, safe='')}"


def _batch_object(content: bytes) -> JsonObject:
    """A reply's JSON object (a batch, or a page of them), else :class:`MalformedReply`."""
    try:
        payload = json.loads(content)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise malformed("a Message Batches reply is not a JSON object", content.decode(errors="replace"))
    return payload


def _created_at(batch: JsonObject) -> datetime | None:
    """``created_at`` (RFC 3339, ``Z`` or an offset), or ``None`` when missing or unreadable."""
    text = str_at(batch, "created_at")
    try:
        created = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return created if created is None or created.tzinfo is not None else None


def _size(batch: JsonObject) -> int:
    """How many requests the batch holds: its ``request_counts`` always sum to that."""
    counts = object_at(batch, "request_counts")
    return sum(token_count(counts.get(name)) or 0 for name in COUNT_NAMES)


def _the_only(candidates: list[str], claimed: set[str]) -> str | None:
    unclaimed = [batch_id for batch_id in candidates if batch_id not in claimed]
    if len(unclaimed) != 1:
        return None
    claimed.add(unclaimed[0])
    return unclaimed[0]
