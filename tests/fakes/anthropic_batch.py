"""A fake Anthropic Message Batches API (wire-protocols §9.2, §12.3), and the live Messages endpoint.

It speaks the real paths and shapes: ``POST /v1/messages/batches`` with ``{"requests": [{"custom_id",
"params"}]}``; the batch object with ``processing_status`` ``in_progress`` → ``ended`` (or
``canceling`` → ``ended``) and ``request_counts`` frozen at ``processing`` until the batch ends; the
list newest first with ``has_more`` / ``first_id`` / ``last_id`` and ``after_id`` / ``before_id``
cursors; ``results_url`` serving shuffled JSONL of ``succeeded`` / ``errored`` / ``canceled`` /
``expired`` lines; delete only once ended. It checks what the API checks (``x-api-key`` and
``anthropic-version`` present, the create body's shape, unique custom ids of ``[A-Za-z0-9_-]{1,64}``,
the 100,000-request and 256 MB limits) and answers errors in Anthropic's envelope.

As the API does, it validates each request's ``params`` only when it runs: a bad one (or one the
behaviour calls ``invalid``) comes back ``errored`` with an ``invalid_request_error``. Requests run
when their batch ends, so :attr:`~BatchFake.seen` and :attr:`~BatchFake.answered` count them then;
a cancelled batch runs none of them (all ``canceled``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.batch_base import BatchFake, FakeReply, FakeRequest, Outcome, answer_text

BATCHES = "/v1/messages/batches"
_BATCH_PATH = re.compile(r"^/v1/messages/batches/([^/]+)(/results|/cancel)?$")
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class FakeBatch:
    """One batch as the fake holds it."""

    id: str
    created_at: datetime
    requests: list[tuple[str, Any]]
    """``(custom_id, params)`` in the order sent."""
    status: str = "in_progress"
    polls: int = 0
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    """One result object per request, once the batch has ended."""


class AnthropicBatchFake(BatchFake):
    """Anthropic's batch API and live Messages endpoint on 127.0.0.1 (``base_url`` has no path)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: dict[str, FakeBatch] = {}
        """Every batch not deleted, oldest first."""
        self.max_requests = 100_000
        self.max_bytes = 256 * 10**6
        """The API's limits per create body; a test may lower them to hit them cheaply."""
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The fake's clock (``created_at`` of new batches)."""
        self.shuffle = random.Random(0)

    # -- what a test may do directly ---------------------------------------------------------------

    def add_batch(self, requests: list[tuple[str, Any]], created_at: datetime | None = None) -> FakeBatch:
        """A batch as if created by a client (another run, another tool in the workspace)."""
        with self.lock:
            batch = FakeBatch(
                f"msgbatch_{self.batches_created + 1:06d}{self.shuffle.getrandbits(32):08x}",
                created_at or self.now(),
                requests,
            )
            self.batches[batch.id] = batch
            self.batches_created += 1
            return batch

    # -- routing ---------------------------------------------------------------------------------

    def route(self, request: FakeRequest) -> FakeReply:
        if not request.headers.get("x-api-key"):
            return _error(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if (request.method, request.path) == ("POST", "/v1/messages"):
            return self._live(request)
        if request.path == BATCHES:
            if request.method == "POST":
                return self._create(request)
            if request.method == "GET":
                return self._list(request)
        if match := _BATCH_PATH.match(request.path):
            batch_id, action = match.groups()
            batch = self.batches.get(batch_id)
            if batch is None:
                return _error(404, "not_found_error", f"message_batch_id {batch_id!r} not found")
            if (request.method, action) == ("GET", None):
                self._poll(batch)
                return FakeReply.json(self.batch_object(batch))
            if (request.method, action) == ("GET", "/results"):
                return self._results(batch)
            if (request.method, action) == ("POST", "/cancel"):
                return self._cancel(batch)
            if (request.method, action) == ("DELETE", None):
                return self._delete(batch)
        return _error(404, "not_found_error", f"Not Found: {request.method} {request.path}")

    # -- the live endpoint ---------------------------------------------------------------------------

    def _live(self, request: FakeRequest) -> FakeReply:
        params = _json(request.body)
        if (problem := _params_problem(params)) is not None:
            return _error(400, "invalid_request_error", problem)
        outcome = self.outcome(_last_user_text(params), live=True)
        if outcome == "ok":
            return FakeReply(200, json.dumps(_message(params)).encode(), _JSON_HEADERS)
        if outcome == "server_error":
            return _error(500, "api_error", "Internal server error")
        if outcome == "expired":  # no window to miss live: the nearest thing is a transient failure
            return _error(529, "overloaded_error", "Overloaded")
        return _error(400, "invalid_request_error", "messages: the fake was told to refuse this request")

    # -- the batch endpoints -------------------------------------------------------------------------

    def _create(self, request: FakeRequest) -> FakeReply:
        if len(request.body) > self.max_bytes:
            return _error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
        body = _json(request.body)
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return _error(400, "invalid_request_error", "requests: Field required (a non-empty list)")
        if len(requests) > self.max_requests:
            return _error(413, "request_too_large", f"A batch may hold at most {self.max_requests} requests.")
        parsed: list[tuple[str, Any]] = []
        for index, item in enumerate(requests):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                return _error(
                    400,
                    "invalid_request_error",
                    f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'",
                )
            if not isinstance(item.get("params"), dict):
                return _error(400, "invalid_request_error", f"requests.{index}.params: Field required")
            parsed.append((custom_id, item["params"]))
        ids = [custom_id for custom_id, _ in parsed]
        if len(set(ids)) != len(ids):
            return _error(400, "invalid_request_error", "requests: custom_id values must be unique")
        batch = self.add_batch(parsed)
        if self.hang_after_create:
            self.hang_after_create = False
            return FakeReply(hang=True)
        return FakeReply.json(self.batch_object(batch))

    def _list(self, request: FakeRequest) -> FakeReply:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return _error(400, "invalid_request_error", "limit: Input should be between 1 and 1000")
        newest_first = list(reversed(self.batches.values()))
        ids = [batch.id for batch in newest_first]
        start, stop = 0, len(newest_first)
        if after := request.query.get("after_id"):
            if after not in ids:
                return _error(400, "invalid_request_error", f"after_id: unknown batch {after!r}")
            start = ids.index(after) + 1
            stop = min(stop, start + limit)
        elif before := request.query.get("before_id"):
            if before not in ids:
                return _error(400, "invalid_request_error", f"before_id: unknown batch {before!r}")
            stop = ids.index(before)
            start = max(0, stop - limit)
        else:
            stop = min(stop, limit)
        page = newest_first[start:stop]
        has_more = stop < len(newest_first) if not request.query.get("before_id") else start > 0
        return FakeReply.json(
            {
                "data": [self.batch_object(batch) for batch in page],
                "has_more": has_more,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            }
        )

    def _poll(self, batch: FakeBatch) -> None:
        """One poll moves the batch on: ``ended`` after :attr:`polls_to_finish` polls, or one poll
        after a cancel."""
        if batch.status == "ended":
            return
        batch.polls += 1
        if batch.status == "canceling" or batch.polls >= self.polls_to_finish:
            self._end(batch)

    def _end(self, batch: FakeBatch) -> None:
        cancelled = batch.status == "canceling"
        batch.results = [
            {"custom_id": custom_id, "result": self._run(params, cancelled)}
            for custom_id, params in batch.requests
        ]
        batch.status, batch.ended_at = "ended", self.now()

    def _run(self, params: Any, cancelled: bool) -> dict[str, Any]:
        """One request's result: the behaviour's outcome, as the API reports it."""
        if cancelled:
            return {"type": "canceled"}
        if (problem := _params_problem(params)) is not None:
            self.seen[_last_user_text(params)] += 1
            return _errored("invalid_request_error", problem)
        outcome: Outcome = self.outcome(_last_user_text(params))
        if outcome == "ok":
            return {"type": "succeeded", "message": _message(params)}
        if outcome == "expired":
            return {"type": "expired"}
        if outcome == "server_error":
            return _errored("api_error", "Internal server error")
        return _errored("invalid_request_error", "messages: the fake was told to refuse this request")

    def _results(self, batch: FakeBatch) -> FakeReply:
        if batch.status != "ended":
            return _error(400, "invalid_request_error", f"Message Batch {batch.id} has not ended yet")
        lines = [(json.dumps(result) + "\n").encode() for result in batch.results]
        self.shuffle.shuffle(lines)
        return FakeReply(200, self.result_pieces(lines), {"content-type": "application/binary"})

    def _cancel(self, batch: FakeBatch) -> FakeReply:
        if batch.status == "in_progress":
            batch.status, batch.cancel_initiated_at = "canceling", self.now()
            self.cancelled.add(batch.id)
        return FakeReply.json(self.batch_object(batch))

    def _delete(self, batch: FakeBatch) -> FakeReply:
        if batch.status != "ended":
            return _error(
                400, "invalid_request_error", f"Message Batch {batch.id} cannot be deleted while in progress"
            )
        del self.batches[batch.id]
        return FakeReply.json({"id": batch.id, "type": "message_batch_deleted"})

    # -- shapes ----------------------------------------------------------------------------------

    def batch_object(self, batch: FakeBatch) -> dict[str, Any]:
        """The batch as the API shows it: counts frozen at ``processing`` until it has ended."""
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if batch.status == "ended":
            for result in batch.results:
                counts[result["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch.requests)
        ended = batch.status == "ended"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "ended_at": _timestamp(batch.ended_at),
            "created_at": _timestamp(batch.created_at),
            "expires_at": _timestamp(batch.created_at + timedelta(hours=24)),
            "archived_at": None,
            "cancel_initiated_at": _timestamp(batch.cancel_initiated_at),
            "results_url": f"{self.base_url}{BATCHES}/{batch.id}/results" if ended else None,
        }


_JSON_HEADERS = {"content-type": "application/json", "request-id": "req_fake"}


def _error(status: int, error_type: str, message: str) -> FakeReply:
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fake"}
    return FakeReply(status, json.dumps(body).encode(), _JSON_HEADERS)


def _errored(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "errored", "error": {"type": "error", "error": {"type": error_type, "message": message}}}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _params_problem(params: Any) -> str | None:
    """What the Messages API would refuse in a body (the fields it requires)."""
    if not isinstance(params, dict):
        return "body: Input should be a valid dictionary"
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(params.get(name), kind):
            return f"{name}: Field required"
    if params["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    if params.get("stream"):
        return "stream: streaming is not supported in a batch"
    return None


def _last_user_text(params: Any) -> str:
    """The text of the last user turn: what the behaviour is asked about."""
    messages = params.get("messages") if isinstance(params, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    block.get("text", "")
                    for block in content
                    if isinstance(block, dict) and block.get("type") == "text"
                )
    return ""


def _message(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": answer_text(_last_user_text(params))}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
