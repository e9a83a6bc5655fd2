"""A fake OpenAI Batch API (``/v1/files``, ``/v1/batches``) and its Azure flavour (``/openai/...``).

It speaks the wire protocol of wire-protocols §9.1: a multipart upload, a batch object whose
``status`` moves validating -> in_progress -> finalizing -> completed (or failed, expired, cancelling
-> cancelled) one step per poll, ``request_counts`` growing as it goes, results in an output file and
an error file in shuffled order, and a listing newest first with ``after`` cursors. It validates the
input file as OpenAI does (bad JSON, a duplicate ``custom_id``, mixed models, a ``url`` other than the
batch's ``endpoint``, too many lines) by failing the batch with ``errors.data[{code, line, message}]``.
The ``invalid`` outcome of :attr:`~BatchFake.behaviour` is one more such line.

It also answers the live endpoint (``POST /v1/chat/completions``; Azure:
``/openai/deployments/{deployment}/chat/completions``) with the same behaviour.

Azure (``OpenAIBatchFake(azure=True)``): the base URL is the resource endpoint (no ``/v1``), the key
is the ``api-key`` header, every path needs ``?api-version=``, the endpoint and line ``url`` are
``/chat/completions``, and an upload is ``pending`` until it is looked at once (a batch naming a
pending file is refused).
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Self

from tests.fakes.batch_base import BatchFake, FakeReply, FakeRequest, Outcome, answer_text

ACTIVE_STATES = ("validating", "in_progress", "finalizing")
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512
"""OpenAI's metadata limits: 16 pairs, keys of 64 characters, values of 512."""


def user_text(body: Any) -> str:
    """The last user message's text (its text parts joined): what :attr:`behaviour` is asked about."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            parts = content if isinstance(content, list) else []
            return "".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))
    return ""


def chat_completion(text: str, model: str) -> dict[str, Any]:
    """A Chat Completions reply answering ``text``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer_text(text), "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def error_body(message: str, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


ERROR_REPLIES: dict[Outcome, tuple[int, dict[str, Any]]] = {
    "bad_request": (400, error_body("Invalid value for 'messages'.")),
    "invalid": (400, error_body("Invalid value for 'messages'.")),
    "server_error": (
        500,
        error_body(
            "The server had an error while processing your request. Sorry about that!", "server_error"
        ),
    ),
    "expired": (
        503,
        error_body("The engine is currently overloaded, please try again later.", "server_error"),
    ),
}
"""The in-result (and live) answer of each outcome that is not ``ok``; live, ``expired`` is a 503."""


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str]
    created_at: int
    lines: list[tuple[str, str, Outcome]] = field(default_factory=list)
    """(custom_id, text, outcome) of every line, once the file is valid."""
    model: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0
    status: str = "validating"
    finished: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    timestamps: dict[str, int] = field(default_factory=dict)


class OpenAIBatchFake(BatchFake):
    """OpenAI's Batch API (or Azure's, with ``azure=True``) on 127.0.0.1."""

    def __init__(self, *, azure: bool = False, max_requests: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.azure = azure
        self.root_path = "" if azure else "/v1"
        self.endpoint = "/chat/completions" if azure else "/v1/chat/completions"
        self.max_requests = max_requests or (100_000 if azure else 50_000)
        self.random = random.Random(seed)
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, list[bytes]] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.create_errors: list[tuple[int, dict[str, Any]]] = []
        """Error replies the next batch creations get, one each, before any is accepted."""
        self._ids = 0
        self._clock = int(time.time())

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    # -- routing ---------------------------------------------------------------------------------

    def route(self, request: FakeRequest) -> FakeReply:
        if (refused := self._refused(request)) is not None:
            return refused
        path = request.path.removeprefix("/openai" if self.azure else "/v1")
        method = request.method
        if method == "POST" and (
            path == "/chat/completions" or re.fullmatch(r"/deployments/[^/]+/chat/completions", path)
        ):
            return self._live(request)
        if method == "POST" and path == "/files":
            return self._upload(request)
        if method == "GET" and (found := re.fullmatch(r"/files/([^/]+)", path)):
            return self._file(found[1])
        if method == "GET" and (found := re.fullmatch(r"/files/([^/]+)/content", path)):
            return self._content(found[1])
        if method == "POST" and path == "/batches":
            return self._create(request)
        if method == "GET" and path == "/batches":
            return self._list(request)
        if method == "GET" and (found := re.fullmatch(r"/batches/([^/]+)", path)):
            return self._poll(found[1])
        if method == "POST" and (found := re.fullmatch(r"/batches/([^/]+)/cancel", path)):
            return self._cancel(found[1])
        return self._error(404, f"Invalid URL ({method} {request.path})")

    def _refused(self, request: FakeRequest) -> FakeReply | None:
        """What the real servers check before anything else: the key, and Azure's ``api-version``."""
        if self.azure:
            if not request.headers.get("api-key"):
                return FakeReply.json(
                    {
                        "error": {
                            "code": "401",
                            "message": "Access denied due to invalid subscription key or "
                            "wrong API endpoint. Make sure to provide a valid key for an active subscription "
                            "and use a correct regional API endpoint for your resource.",
                        }
                    },
                    401,
                )
            if not request.query.get("api-version"):
                return FakeReply.json({"error": {"code": "404", "message": "Resource not found"}}, 404)
            return None
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self._error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        return None

    # -- live ------------------------------------------------------------------------------------

    def _live(self, request: FakeRequest) -> FakeReply:
        try:
            body = request.json
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return self._error(400, "you must provide a model parameter and messages")
        text = user_text(body)
        outcome = self.outcome(text, live=True)
        if outcome == "ok":
            return FakeReply.json(chat_completion(text, str(body["model"])))
        status, error = ERROR_REPLIES[outcome]
        return FakeReply.json(error, status)

    # -- files -----------------------------------------------------------------------------------

    def _upload(self, request: FakeRequest) -> FakeReply:
        fields = multipart_fields(request)
        if fields is None:
            return self._error(400, "Invalid multipart/form-data body.")
        if fields.get("purpose", (None, b""))[1] != b"batch":
            return self._error(400, "'purpose' must be one of 'assistants', 'batch', 'fine-tune', 'vision'.")
        if "file" not in fields or fields["file"][0] is None:
            return self._error(400, "'file' is a required property")
        name, content = fields["file"]
        file_id = self._file_object(name or "upload.jsonl", content.splitlines(keepends=True), "batch")
        self.files[file_id]["status"] = "pending" if self.azure else "processed"
        return FakeReply.json(self.files[file_id])

    def _file_object(self, name: str, lines: list[bytes], purpose: str) -> str:
        file_id = self._new_id("file-")
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "purpose": purpose,
            "filename": name,
            "bytes": sum(map(len, lines)),
            "created_at": self._now(),
            "status": "processed",
            "status_details": None,
        }
        self.contents[file_id] = lines
        return file_id

    def _file(self, file_id: str) -> FakeReply:
        if file_id not in self.files:
            return self._error(404, f"No such File object: {file_id}")
        reply = FakeReply.json(self.files[file_id])
        self.files[file_id]["status"] = "processed"  # Azure: processed by the time it is looked at again
        return reply

    def _content(self, file_id: str) -> FakeReply:
        if file_id not in self.contents:
            return self._error(404, f"No such File object: {file_id}")
        headers = {"content-type": "application/octet-stream"}
        return FakeReply(200, self.result_pieces(self.contents[file_id]), headers)

    # -- batches ---------------------------------------------------------------------------------

    def _create(self, request: FakeRequest) -> FakeReply:
        try:
            body = request.json
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.")
        if self.create_errors:
            status, error = self.create_errors.pop(0)
            return FakeReply.json(error, status)
        if not isinstance(body, dict):
            return self._error(400, "Invalid body: expected an object.")
        file_id = body.get("input_file_id")
        if body.get("endpoint") != self.endpoint:
            return self._error(400, f"Invalid value for 'endpoint': {body.get('endpoint')!r}.")
        if body.get("completion_window") != "24h":
            return self._error(400, "Invalid value for 'completion_window': only '24h' is supported.")
        if (problem := metadata_problem(body.get("metadata"))) is not None:
            return self._error(400, problem)
        if not isinstance(file_id, str) or file_id not in self.files:
            return self._error(400, f"Invalid 'input_file_id': {file_id!r}.")
        if self.files[file_id]["status"] != "processed":
            return self._error(400, f"The input file {file_id} has not been processed yet.")
        if self.files[file_id]["purpose"] != "batch":
            return self._error(400, f"The input file {file_id} must be uploaded with purpose 'batch'.")
        batch = FakeBatch(
            self._new_id("batch_"), file_id, self.endpoint, body.get("metadata") or {}, self._now()
        )
        self._validate(batch, self.contents[file_id])
        self.batches[batch.id] = batch
        self.batches_created += 1
        if self.hang_after_create:
            self.hang_after_create = False
            return FakeReply(hang=True)
        return FakeReply.json(self.batch_object(batch))

    def _validate(self, batch: FakeBatch, raw_lines: list[bytes]) -> None:
        """Decide every line's outcome now (``seen`` counts each arrival); bad lines fail the batch."""
        custom_ids: set[str] = set()
        if len(raw_lines) > self.max_requests:
            batch.errors.append(
                {
                    "code": "too_many_requests",
                    "line": None,
                    "param": None,
                    "message": f"The batch input file has more than {self.max_requests} requests.",
                }
            )
        for number, raw in enumerate(raw_lines, start=1):
            problem = self._line_problem(batch, raw, custom_ids)
            if problem is not None:
                code, message = problem
                batch.errors.append({"code": code, "line": number, "param": None, "message": message})
        if not batch.errors and not batch.lines:
            batch.errors.append(
                {"code": "empty_file", "line": None, "param": None, "message": "The file is empty."}
            )

    def _line_problem(self, batch: FakeBatch, raw: bytes, custom_ids: set[str]) -> tuple[str, str] | None:
        try:
            line = json.loads(raw)
        except ValueError:
            return "invalid_json_line", "This line is not parseable as valid JSON."
        if (
            not isinstance(line, dict)
            or not isinstance(line.get("custom_id"), str)
            or not isinstance(line.get("body"), dict)
        ):
            return "invalid_request", "A line needs a custom_id string and a body object."
        custom_id, body = line["custom_id"], line["body"]
        if custom_id in custom_ids:
            return "duplicate_custom_id", f"The custom_id {custom_id!r} is not unique."
        custom_ids.add(custom_id)
        if line.get("method") != "POST":
            return "invalid_method", "The method must be 'POST'."
        if line.get("url") != batch.endpoint:
            return "mismatched_endpoint", f"The url {line.get('url')!r} does not match the batch endpoint."
        model = str(body.get("model") or "")
        if batch.model and model != batch.model:
            return "mismatched_model", "All requests in a batch must use the same model."
        batch.model = batch.model or model
        text = user_text(body)
        self.seen[text] += 1
        outcome = self.behaviour(text, self.seen[text])
        if outcome == "invalid":
            return "invalid_request", "The request body is invalid."
        batch.lines.append((custom_id, text, outcome))
        return None

    def _poll(self, batch_id: str) -> FakeReply:
        if (batch := self.batches.get(batch_id)) is None:
            return self._error(404, f"No batch found with id '{batch_id}'.")
        self._advance(batch)
        return FakeReply.json(self.batch_object(batch))

    def _advance(self, batch: FakeBatch) -> None:
        """One poll: the batch moves one state on, and is done after :attr:`polls_to_finish` polls."""
        if batch.status not in (*ACTIVE_STATES, "cancelling"):
            return
        if batch.status == "cancelling":
            self._end(batch, "cancelled")
            return
        batch.polls += 1
        if batch.errors:
            self._end(batch, "failed")
        elif batch.polls >= self.polls_to_finish:
            batch.finished = len(batch.lines)
            self._end(batch, "expired" if any(o == "expired" for _, _, o in batch.lines) else "completed")
        else:
            last = batch.polls == self.polls_to_finish - 1 and self.polls_to_finish >= 3
            batch.status = "finalizing" if last else "in_progress"
            batch.finished = (
                len(batch.lines) * (self.polls_to_finish if last else batch.polls) // self.polls_to_finish
            )
            batch.timestamps.setdefault(f"{batch.status}_at", self._now())

    def _end(self, batch: FakeBatch, status: str) -> None:
        """Write the output and error files (shuffled) of the lines that finished, and stop."""
        batch.status = status
        batch.timestamps[f"{status}_at"] = self._now()
        if status == "failed":
            return
        output: list[bytes] = []
        errors: list[bytes] = []
        for custom_id, text, outcome in batch.lines[: batch.finished]:
            if outcome == "ok":
                self.answered[text] += 1
            line = self._result_line(custom_id, text, outcome, batch.model)
            (output if outcome == "ok" else errors).append(json.dumps(line).encode() + b"\n")
        self.random.shuffle(output)
        self.random.shuffle(errors)
        if output:
            batch.output_file_id = self._file_object(f"{batch.id}_output.jsonl", output, "batch_output")
        if errors:
            batch.error_file_id = self._file_object(f"{batch.id}_error.jsonl", errors, "batch_output")

    def _result_line(self, custom_id: str, text: str, outcome: Outcome, model: str) -> dict[str, Any]:
        line: dict[str, Any] = {"id": self._new_id("batch_req_"), "custom_id": custom_id}
        if outcome == "expired":
            message = "This request could not be executed before the completion window expired."
            return line | {"response": None, "error": {"code": "batch_expired", "message": message}}
        status, body = (200, chat_completion(text, model)) if outcome == "ok" else ERROR_REPLIES[outcome]
        return line | {
            "response": {"status_code": status, "request_id": self._new_id("req_"), "body": body},
            "error": None,
        }

    def _cancel(self, batch_id: str) -> FakeReply:
        if (batch := self.batches.get(batch_id)) is None:
            return self._error(404, f"No batch found with id '{batch_id}'.")
        if batch.status not in ACTIVE_STATES:
            return self._error(400, f"Cannot cancel a batch with status '{batch.status}'.")
        self.cancelled.add(batch_id)
        batch.status = "cancelling"
        batch.timestamps["cancelling_at"] = self._now()
        return FakeReply.json(self.batch_object(batch))

    def _list(self, request: FakeRequest) -> FakeReply:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return self._error(400, "Invalid value for 'limit'.")
        if not 1 <= limit <= 100:
            return self._error(400, "Invalid value for 'limit': it must be between 1 and 100.")
        newest_first = sorted(self.batches.values(), key=lambda b: (b.created_at, b.id), reverse=True)
        if after := request.query.get("after"):
            ids = [batch.id for batch in newest_first]
            if after not in ids:
                return self._error(400, f"Invalid value for 'after': {after!r}.")
            newest_first = newest_first[ids.index(after) + 1 :]
        page = newest_first[:limit]
        return FakeReply.json(
            {
                "object": "list",
                "data": [self.batch_object(batch) for batch in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(newest_first) > limit,
            }
        )

    def batch_object(self, batch: FakeBatch) -> dict[str, Any]:
        """The batch as the API shows it: counts known once validation is over."""
        validated = batch.status not in ("validating", "failed")
        done = batch.lines[: batch.finished] if validated else []
        failed = sum(1 for _, _, outcome in done if outcome != "ok")
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": batch.created_at,
            "expires_at": batch.created_at + 86_400,
            **{
                f"{name}_at": batch.timestamps.get(f"{name}_at")
                for name in (
                    "in_progress",
                    "finalizing",
                    "completed",
                    "failed",
                    "expired",
                    "cancelling",
                    "cancelled",
                )
            },
            "request_counts": {
                "total": len(batch.lines) if validated else 0,
                "completed": len(done) - failed,
                "failed": failed,
            },
            "metadata": batch.metadata,
        }

    # -- helpers ---------------------------------------------------------------------------------

    def planted(self, metadata: dict[str, str], *, age: int = 0) -> str:
        """A finished batch of nobody's run (someone else's work in the same project), ``age`` seconds
        old: what a listing wades through."""
        batch = FakeBatch(self._new_id("batch_"), "file-none", self.endpoint, metadata, self._now() - age)
        batch.status = "completed"
        self.batches[batch.id] = batch
        return batch.id

    def age(self, batch_id: str, seconds: int) -> None:
        """Make a batch look ``seconds`` older (for listings that stop at old batches)."""
        self.batches[batch_id].created_at -= seconds

    def _error(self, status: int, message: str) -> FakeReply:
        return FakeReply.json(error_body(message), status)

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:06d}"

    def _now(self) -> int:
        """Unix seconds, one more per call: creation order shows in ``created_at``."""
        self._clock += 1
        return self._clock


def metadata_problem(metadata: Any) -> str | None:
    """Why OpenAI would refuse ``metadata`` (16 string pairs, keys <= 64, values <= 512), if it would."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > METADATA_PAIRS:
        return f"Invalid 'metadata': expected an object of at most {METADATA_PAIRS} pairs."
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > METADATA_KEY or len(value) > METADATA_VALUE:
            return f"Invalid 'metadata.{key}': keys are at most 64 characters, values strings of at most 512."
    return None


def multipart_fields(request: FakeRequest) -> dict[str, tuple[str | None, bytes]] | None:
    """A ``multipart/form-data`` body as ``name -> (filename, content)``; ``None`` if it is not one."""
    found = re.search(r'boundary="?([^";]+)"?', request.headers.get("content-type", ""))
    if not request.headers.get("content-type", "").startswith("multipart/form-data") or not found:
        return None
    delimiter = b"--" + found[1].encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in request.body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name:
            fields[name[1]] = (filename[1] if filename else None, content.removesuffix(b"\r\n"))
    return fields
