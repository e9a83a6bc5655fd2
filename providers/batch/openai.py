"""OpenAI's Batch API (``/v1/batches``); Azure OpenAI's global batch speaks it too
(:mod:`providers.batch.azure_openai`).

A batch is a JSONL file uploaded to ``files`` (``purpose=batch``), then a ``batches`` object naming
it, the endpoint every line calls and the ``24h`` window; it is tagged with :attr:`BatchTag.metadata`.
Results come back as two JSONL files: the output file (lines answered with a 2xx) and the error file
(lines answered with an error status, and lines never run: ``batch_expired``). A batch that fails
validation names its bad lines in ``errors.data[].line`` (1-based lines of the input file) and runs
none of the others.

A results line becomes a record in :mod:`providers.batch._openai_lines`. ``body.model`` is the model
(on Azure the deployment) as in the live request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import trio

from providers._errors import BadRequest, MalformedReply, excerpt
from providers._json_api import JsonObject
from providers._json_fields import list_at, object_at, str_at, token_count
from providers._types import ChatRequest
from providers.batch._api import (
    MB,
    BatchApi,
    BatchCancelled,
    BatchLimits,
    BatchResult,
    BatchStatus,
    BatchTag,
)
from providers.batch._openai_lines import parsed_result
from providers.http._pool import json_body

DONE_STATES = frozenset({"completed", "failed", "expired", "cancelled"})
"""The batch states that change no more (``cancelling`` still does: requests may yet finish)."""
CLOCK_SKEW = timedelta(minutes=5)
"""How much older than ``submitted_after`` a batch may look (our clock against the provider's)."""
LIST_PAGE = 100
"""Batches per page of a listing (the API's largest page)."""


class OpenAIBatch(BatchApi):
    """OpenAI's Batch API: files and batches under the base URL (``https://api.openai.com/v1``)."""

    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=50_000, max_bytes=200 * MB)
    """OpenAI's API reference (``POST /v1/batches``, ``input_file_id``): up to 50,000 requests, up to
    200 MB per input file."""
    endpoint: ClassVar[str] = "/v1/chat/completions"
    """The batch ``endpoint``, and the ``url`` of every line (they must be equal)."""

    # -- where things are ------------------------------------------------------------------------

    def path(self, resource: str, **query: str | int) -> str:
        """``resource`` (``files``, ``batches/{id}``...) under the base URL, with ``query``."""
        return f"{resource}?{urlencode(query)}" if query else resource

    # -- the contract ----------------------------------------------------------------------------

    async def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        """The live request's body, as the provider builds it, under ``custom_id``."""
        body = await self.provider.request_body(request)
        return {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": body}

    async def submit(self, tag: BatchTag, lines: Path, count: int) -> str:
        """Upload the lines file as multipart (httpx reads the open file in pieces as it sends), then
        create the batch tagged with ``tag.metadata``."""
        name = f"prompto-run-{tag.run_id}-{tag.chunk}.jsonl"
        file = await trio.to_thread.run_sync(lines.open, "rb")
        try:
            uploaded = await self._json(
                "POST", self.path("files"), data={"purpose": "batch"}, files={"file": (name, file)}
            )
        finally:
            file.close()
        file_id = self._required_str(uploaded, "id", "the uploaded file")
        await self.wait_until_processed(uploaded)
        created = await self._json(
            "POST",
            self.path("batches"),
            json={
                "input_file_id": file_id,
                "endpoint": self.endpoint,
                "completion_window": "24h",
                "metadata": tag.metadata,
            },
        )
        return self._required_str(created, "id", "the created batch")

    async def wait_until_processed(self, uploaded: JsonObject) -> None:
        """OpenAI takes a batch naming a file as soon as the file is uploaded: nothing to wait for."""

    async def find(self, tag: BatchTag, count: int, submitted_after: datetime) -> str | None:
        """The newest batch whose ``metadata`` is ``tag.metadata`` (and whose request count, once known,
        is ``count``), listing newest first until batches older than ``submitted_after`` (less
        :data:`CLOCK_SKEW`)."""
        if submitted_after.tzinfo is None:
            submitted_after = submitted_after.replace(tzinfo=UTC)
        oldest = (submitted_after - CLOCK_SKEW).timestamp()
        after: str | None = None
        while True:
            query: dict[str, str | int] = {"limit": LIST_PAGE} | ({"after": after} if after else {})
            page = await self._json("GET", self.path("batches", **query))
            batches = [batch for batch in list_at(page, "data") if isinstance(batch, dict)]
            for batch in batches:
                created = created_at(batch)
                if created is not None and created < oldest:
                    return None
                if _carries(batch, tag, count) and (found := str_at(batch, "id")):
                    return found
            after = str_at(page, "last_id") or (str_at(batches[-1], "id") if batches else None)
            if page.get("has_more") is not True or not after:
                return None

    async def status(self, batch_id: str) -> BatchStatus:
        """``status`` as the state; ``request_counts`` (``total`` is 0 until validation ends)."""
        batch = await self._json("GET", self.path(f"batches/{quote(batch_id, safe='')}"))
        state = self._required_str(batch, "status", "the batch")
        counts = object_at(batch, "request_counts")
        errors = [error for error in list_at(object_at(batch, "errors"), "data") if isinstance(error, dict)]
        with self.provider.scrubbed():
            message = "; ".join(_error_text(error) for error in errors) or None
        return BatchStatus(
            state=state,
            done=state in DONE_STATES,
            total=token_count(counts.get("total")),
            succeeded=token_count(counts.get("completed")),
            failed=token_count(counts.get("failed")),
            message=message,
            raw=batch,
        )

    async def results(self, batch_id: str, status: BatchStatus, tag: BatchTag) -> AsyncIterator[BatchResult]:
        """The lines rejected at validation (a ``failed`` batch), then the output file's and the error
        file's lines as they arrive; for a cancelled batch, every request neither file reports comes
        out as :class:`BatchCancelled` (its count is the batch's ``request_counts.total``)."""
        batch = status.raw if status.raw is not None else (await self.status(batch_id)).raw or {}
        total = token_count(object_at(batch, "request_counts").get("total")) or 0
        reported = bytearray(total)
        for rejected in self._rejected_lines(batch, tag):
            yield rejected
        for file_field in ("output_file_id", "error_file_id"):
            if not (file_id := str_at(batch, file_field)):
                continue
            async with self.client.stream_lines(
                self.path(f"files/{quote(file_id, safe='')}/content")
            ) as lines:
                async for line in lines:
                    if (result := self.result_of(line)) is None:
                        continue
                    index = tag.index_of(result.custom_id)
                    if index is not None and index < total:
                        reported[index] = 1
                    yield result
        if str_at(batch, "status") == "cancelled":
            for index in range(total):
                if not reported[index]:
                    yield BatchResult(
                        tag.custom_id(index),
                        error=BatchCancelled("the batch was cancelled before this request ran"),
                    )

    def _rejected_lines(self, batch: JsonObject, tag: BatchTag) -> list[BatchResult]:
        """The lines a failed batch's ``errors.data`` names (1-based lines of the input file, which
        holds request ``i`` on line ``i + 1``), each a :class:`BadRequest`."""
        rejected = []
        with self.provider.scrubbed():
            for error in list_at(object_at(batch, "errors"), "data"):
                line = error.get("line") if isinstance(error, dict) else None
                if isinstance(line, int) and not isinstance(line, bool) and line >= 1:
                    message = (
                        f"line {line} of the batch file was rejected at validation: {_error_text(error)}"
                    )
                    rejected.append(BatchResult(tag.custom_id(line - 1), error=BadRequest(message)))
        return rejected

    async def cancel(self, batch_id: str) -> None:
        """``POST batches/{id}/cancel``: the batch goes ``cancelling``, then ``cancelled``."""
        await self._json("POST", self.path(f"batches/{quote(batch_id, safe='')}/cancel"))

    # -- one result line -------------------------------------------------------------------------

    def result_of(self, line: str) -> BatchResult | None:
        """One line of a results file as the record it would have been live; ``None`` for a blank
        line or one naming no ``custom_id`` (its request is then unreported: the engine resends it)."""
        if not line.strip():
            return None
        with self.provider.scrubbed():
            return parsed_result(self.provider, line)

    # -- sending ---------------------------------------------------------------------------------

    async def _json(self, method: str, path: str, **send: Any) -> JsonObject:
        """One call's JSON object (a reply that is not one is a :class:`MalformedReply`)."""
        response = await self.client.call(method, path, **send)
        with self.provider.scrubbed():
            payload = json_body(response)
            if not isinstance(payload, dict):
                raise MalformedReply(
                    f"HTTP {response.status_code}: reply is not a JSON object: {excerpt(response.content)!r}",
                    status=response.status_code,
                )
            return payload

    def _required_str(self, payload: JsonObject, name: str, what: str) -> str:
        if value := str_at(payload, name):
            return value
        with self.provider.scrubbed():
            raise MalformedReply(f"{what} has no {name!r}: {excerpt(json.dumps(payload))!r}")


def created_at(batch: JsonObject) -> float | None:
    """A batch's creation time as Unix seconds: an int on OpenAI and Azure's GA versions, an RFC 3339
    string on Azure's early previews; ``None`` if it is neither."""
    value = batch.get("created_at")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def _carries(batch: JsonObject, tag: BatchTag, count: int) -> bool:
    """Whether ``batch`` is tagged ``tag`` (other metadata keys may sit beside ours) and, once its
    requests are counted, holds ``count`` of them."""
    metadata = object_at(batch, "metadata")
    if any(metadata.get(key) != value for key, value in tag.metadata.items()):
        return False
    total = token_count(object_at(batch, "request_counts").get("total"))
    return not total or total == count


def _error_text(error: JsonObject) -> str:
    """``code: message`` (and ``param``) of one of a batch's ``errors.data``."""
    code, message, param = str_at(error, "code"), str_at(error, "message"), str_at(error, "param")
    text = ": ".join(part for part in (code, message and excerpt(message)) if part) or "no details"
    return f"{text} (param {param})" if param else text
