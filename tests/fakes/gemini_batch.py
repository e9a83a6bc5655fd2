"""A fake Gemini Developer API with Batch Mode: ``batchGenerateContent``, ``batches``, ``generateContent``.

What it checks, as the real API does: an ``x-goog-api-key`` header (403 ``PERMISSION_DENIED``
without one; 400 ``API_KEY_INVALID`` for another key than :attr:`GeminiBatchFake.api_key`, when
set), a create body of ``batch.displayName`` and ``batch.inputConfig.requests.requests[]`` with no
unknown field (proto JSON: camelCase or snake_case names), each request with ``contents``, and the
20 MiB request size limit. Errors are Google's ``{"error": {"code", "message", "status"}}``.

A batch is an Operation ``batches/<id>`` whose ``metadata`` is the batch: ``BATCH_STATE_PENDING``
when created, ``BATCH_STATE_RUNNING`` from the first poll, ended on poll ``polls_to_finish``:
``BATCH_STATE_SUCCEEDED``, or ``BATCH_STATE_EXPIRED`` when any request's outcome is ``expired`` (those
get no response). Inline responses come in shuffled order (the real API keeps the request order; the
client must join on ``metadata.key``). ``bad_request`` and ``invalid`` answer ``INVALID_ARGUMENT``,
``server_error`` ``INTERNAL``, each as a ``google.rpc.Status`` (numeric code) in the response.

``stall_results_after``: the inline output is one JSON object, sent in pieces of one response each;
a GET of a batch already reported ended once (the client's collect) stalls after that many.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.fakes.batch_base import BatchFake, FakeReply, FakeRequest, Outcome, answer_text

MAX_REQUEST_BYTES = 20 * 2**20
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
REQUEST_FIELDS = frozenset(
    {"model", "contents", "tools", "toolConfig", "safetySettings", "systemInstruction"}
    | {"generationConfig", "cachedContent", "labels"}
)
RPC_ERRORS: dict[Outcome, tuple[int, str]] = {
    "bad_request": (3, "Request contains an invalid argument."),
    "invalid": (3, "* GenerateContentRequest.contents: contents is not specified"),
    "server_error": (
        13,
        "An internal error has occurred. Please retry or report in the troubleshooting guide.",
    ),
}


@dataclass
class FakeBatch:
    name: str
    model: str
    display_name: str
    keys: list[str]
    texts: list[str]
    outcomes: list[Outcome]
    created: datetime
    polls: int = 0
    state: str = "BATCH_STATE_PENDING"
    reported_done: bool = False
    order: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")


class GeminiBatchFake(BatchFake):
    """The fake; ``base_url`` is the host (the provider adds ``v1beta/...``)."""

    def __init__(self) -> None:
        super().__init__()
        self.api_key: str | None = None
        """When set, any other key is refused with 400 ``API_KEY_INVALID``."""
        self.create_error: tuple[int, str, str] | None = None
        """``(http status, rpc status, message)``: answer the next create with this error."""
        self.batches: dict[str, FakeBatch] = {}
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    # -- routing ---------------------------------------------------------------------------------

    def route(self, request: FakeRequest) -> FakeReply:
        if (refusal := self._auth_refusal(request)) is not None:
            return refusal
        path, method = request.path, request.method
        if method == "POST" and path.startswith("/v1beta/models/"):
            model, _, verb = unquote(path.removeprefix("/v1beta/models/")).rpartition(":")
            if verb == "batchGenerateContent":
                return self._create(model, request)
            if verb == "generateContent":
                return self._live(model, request)
        if method == "GET" and path == "/v1beta/batches":
            return self._list(request)
        if path.startswith("/v1beta/batches/"):
            name, _, verb = path.removeprefix("/v1beta/").partition(":")
            if name not in self.batches:
                return error(404, "NOT_FOUND", f"Requested entity was not found: {name}")
            if method == "GET" and not verb:
                return self._poll(self.batches[name])
            if method == "POST" and verb == "cancel":
                return self._cancel(self.batches[name])
        return error(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")

    def _auth_refusal(self, request: FakeRequest) -> FakeReply | None:
        key = request.headers.get("x-goog-api-key")
        if not key:
            return error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if self.api_key is not None and key != self.api_key:
            return error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            )
        return None

    # -- live ------------------------------------------------------------------------------------

    def _live(self, model: str, request: FakeRequest) -> FakeReply:
        body = _json_or_none(request.body)
        if not isinstance(body, dict) or not body.get("contents"):
            return error(
                400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"
            )
        outcome = self.outcome(last_user_text(body), live=True)
        if outcome == "ok":
            return FakeReply.json(generate_content_response(last_user_text(body), model))
        code, message = RPC_ERRORS.get(outcome, (13, "An internal error has occurred."))
        status, name = {3: (400, "INVALID_ARGUMENT"), 13: (500, "INTERNAL")}[code]
        if outcome == "expired":  # a live request cannot expire: the closest is a deadline
            status, name, message = (
                504,
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
            )
        return error(status, name, message)

    # -- batches ---------------------------------------------------------------------------------

    def _create(self, model: str, request: FakeRequest) -> FakeReply:
        if len(request.body) > MAX_REQUEST_BYTES:
            return error(
                400, "INVALID_ARGUMENT", f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
            )
        if self.create_error is not None:
            status, name, message = self.create_error
            self.create_error = None
            return error(status, name, message)
        body = _json_or_none(request.body)
        problem, display_name, requests = parse_create(body)
        if problem is not None:
            return error(400, "INVALID_ARGUMENT", problem)
        self.batches_created += 1
        self._clock += timedelta(seconds=1)
        name = f"batches/fake{self.batches_created:04d}{random.randrange(16**6):06x}"
        texts = [last_user_text(item["request"]) for item in requests]
        outcomes: list[Outcome] = []
        for text in texts:  # arrival: ``seen`` counts now, ``answered`` when the batch ends
            self.seen[text] += 1
            outcomes.append(self.behaviour(text, self.seen[text]))
        batch = FakeBatch(
            name,
            f"models/{model}",
            display_name,
            [str((item.get("metadata") or {}).get("key", "")) for item in requests],
            texts,
            outcomes,
            self._clock,
        )
        self.batches[name] = batch
        reply = FakeReply.json(self._operation(batch))
        if self.hang_after_create:
            self.hang_after_create = False
            return FakeReply(hang=True)
        return reply

    def _poll(self, batch: FakeBatch) -> FakeReply:
        if not batch.done:
            batch.polls += 1
            if batch.polls >= self.polls_to_finish:
                self._finish(batch)
            else:
                batch.state = "BATCH_STATE_RUNNING"
        collecting, batch.reported_done = batch.reported_done, batch.done
        operation = self._operation(batch)
        if not (collecting and self.stall_results_after is not None and batch.order):
            return FakeReply.json(operation)
        return FakeReply(200, self.result_pieces(_pieces(operation)), {"content-type": "application/json"})

    def _finish(self, batch: FakeBatch) -> None:
        expired = "expired" in batch.outcomes
        batch.state = "BATCH_STATE_EXPIRED" if expired else "BATCH_STATE_SUCCEEDED"
        batch.order = [i for i, outcome in enumerate(batch.outcomes) if outcome != "expired"]
        random.shuffle(batch.order)
        for i in batch.order:
            if batch.outcomes[i] == "ok":
                self.answered[batch.texts[i]] += 1

    def _cancel(self, batch: FakeBatch) -> FakeReply:
        if not batch.done:
            batch.state = "BATCH_STATE_CANCELLED"
            self.cancelled.add(batch.name)
        return FakeReply.json({})

    def _list(self, request: FakeRequest) -> FakeReply:
        size = min(max(int(request.query.get("pageSize") or 50), 1), 1000)
        start = int(request.query.get("pageToken") or 0)
        newest_first = sorted(self.batches.values(), key=lambda batch: batch.created, reverse=True)
        page = newest_first[start : start + size]
        reply: dict[str, Any] = {"operations": [self._operation(batch) for batch in page]}
        if start + size < len(newest_first):
            reply["nextPageToken"] = str(start + size)
        return FakeReply.json(reply)

    # -- shapes ----------------------------------------------------------------------------------

    def _operation(self, batch: FakeBatch) -> dict[str, Any]:
        total = len(batch.keys)
        finished = [i for i in batch.order if batch.outcomes[i] == "ok"]
        stats: dict[str, str] = {"requestCount": str(total)}
        if batch.done:
            stats["successfulRequestCount"] = str(len(finished))
            stats["failedRequestCount"] = str(len(batch.order) - len(finished))
            if batch.state == "BATCH_STATE_EXPIRED":
                stats["pendingRequestCount"] = str(total - len(batch.order))
        else:
            stats["pendingRequestCount"] = str(total)
        created = batch.created.isoformat().replace("+00:00", ".123456789Z")
        metadata: dict[str, Any] = {
            "@type": BATCH_TYPE,
            "model": batch.model,
            "displayName": batch.display_name,
            "createTime": created,
            "updateTime": created,
            "batchStats": stats,
            "state": batch.state,
            "name": batch.name,
        }
        operation: dict[str, Any] = {"name": batch.name, "metadata": metadata}
        if not batch.done:
            return operation
        operation["done"] = True
        metadata["endTime"] = created
        if batch.state == "BATCH_STATE_CANCELLED":
            operation["error"] = {"code": 1, "message": "Batch was cancelled."}
            return operation
        responses = [self._inlined_response(batch, i) for i in batch.order]
        output = {"@type": OUTPUT_TYPE, "inlinedResponses": {"inlinedResponses": responses}}
        metadata["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        operation["response"] = output
        return operation

    def _inlined_response(self, batch: FakeBatch, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"metadata": {"key": batch.keys[index]}}
        outcome = batch.outcomes[index]
        if outcome == "ok":
            item["response"] = generate_content_response(
                batch.texts[index], batch.model.removeprefix("models/")
            )
        else:
            code, message = RPC_ERRORS[outcome]
            item["error"] = {"code": code, "message": message}
        return item


def parse_create(body: Any) -> tuple[str | None, str, list[dict[str, Any]]]:
    """``(problem, displayName, requests)`` of a ``batchGenerateContent`` body, as the API validates it."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received.", "", []
    if unknown := set(body) - {"batch"}:
        return _unknown(unknown, ""), "", []
    batch = body.get("batch")
    if not isinstance(batch, dict):
        return "* BatchGenerateContentRequest.batch: batch is required", "", []
    batch = {_camel(key): value for key, value in batch.items()}
    if unknown := set(batch) - {"model", "displayName", "inputConfig", "priority"}:
        return _unknown(unknown, "batch"), "", []
    display_name = batch.get("displayName")
    if not isinstance(display_name, str) or not display_name:
        return "* GenerateContentBatch.display_name: display_name is required", "", []
    input_config = {_camel(key): value for key, value in (batch.get("inputConfig") or {}).items()}
    requests = (input_config.get("requests") or {}).get("requests")
    if not isinstance(requests, list) or not requests:
        return "* GenerateContentBatch.input_config: requests must not be empty", display_name, []
    for number, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
            return f"* InlinedRequest[{number}].request: request is required", display_name, []
        if unknown := set(item) - {"request", "metadata"}:
            return _unknown(unknown, f"batch.input_config.requests.requests[{number}]"), display_name, []
        fields = {_camel(key) for key in item["request"]}
        if unknown := fields - REQUEST_FIELDS:
            return _unknown(unknown, f"requests[{number}].request"), display_name, []
        if not item["request"].get("contents"):
            return f"* requests[{number}].request.contents: contents is not specified", display_name, []
    return None, display_name, requests


def generate_content_response(text: str, model: str) -> dict[str, Any]:
    """A ``GenerateContentResponse`` answering ``text``."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": answer_text(text)}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
        "modelVersion": model,
    }


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last ``user`` turn of a ``GenerateContentRequest``."""
    turns = [turn for turn in request.get("contents") or [] if turn.get("role", "user") == "user"]
    parts = turns[-1].get("parts") or [] if turns else []
    return "".join(part.get("text", "") for part in parts if isinstance(part, dict))


def error(status: int, name: str, message: str, details: list[dict[str, Any]] | None = None) -> FakeReply:
    """Google's error body."""
    body: dict[str, Any] = {"code": status, "message": message, "status": name}
    if details:
        body["details"] = details
    return FakeReply.json({"error": body}, status)


def _pieces(operation: dict[str, Any]) -> list[bytes]:
    """The Operation's JSON cut so that each piece after the first carries one inline response."""
    text = json.dumps(operation)
    responses = operation["response"]["inlinedResponses"]["inlinedResponses"]
    marks = [text.find(json.dumps(item)) for item in responses]
    cuts = [0, *[mark for mark in marks if mark > 0], len(text)]
    return [text[start:end].encode() for start, end in zip(cuts, cuts[1:], strict=False)]


def _unknown(names: set[str], where: str) -> str:
    name = sorted(names)[0]
    at = f" at '{where}'" if where else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
