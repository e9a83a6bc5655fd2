"""What every fake batch server shares: a stateful HTTP server on 127.0.0.1, and the test's knobs.

Each vendor's fake (``openai_batch.py``, ``anthropic_batch.py``, ``gemini_batch.py``) subclasses
:class:`BatchFake` and implements :meth:`BatchFake.route`. The knobs are the same on every fake, so
an engine test can run against any of them:

* :attr:`~BatchFake.behaviour` ``(text, seen) -> Outcome``: how the request whose last user message
  is ``text`` is answered the ``seen``-th time it arrives in a batch (1 for the first); the default
  answers every request ``answer: <text>``;
* :attr:`~BatchFake.polls_to_finish`: each poll of a batch moves it one state on; it is done after
  this many polls (time compressed to the client's own poll interval);
* :attr:`~BatchFake.hang_after_create`: accept the next batch, then never answer the create call
  (a ``kill -9`` of the client "after the provider accepted but before the folder recorded it");
* :attr:`~BatchFake.stall_results_after`: send this many result lines, then stall (a crash while
  collecting);
* counters: :attr:`~BatchFake.batches_created`, :attr:`~BatchFake.seen` (times each text arrived in a
  batch), :attr:`~BatchFake.answered` (times it was answered with success, batch or live),
  :attr:`~BatchFake.live_requests`, :attr:`~BatchFake.cancelled`.

Every fake also answers its API's ordinary live endpoint with the same :attr:`behaviour` (``seen``
counts live arrivals too), so that ``batch.retry=live`` and mixed runs can be tested on one server.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Outcome = Literal["ok", "bad_request", "server_error", "expired", "invalid"]
"""``ok``: answered; ``bad_request``: a 400 in the result; ``server_error``: a 500 in the result;
``expired``: not run before the window ended; ``invalid``: rejected when the batch is validated (a bad
line: OpenAI fails the batch naming the line; APIs without validation answer it as ``bad_request``)."""


def answer_text(text: str) -> str:
    """What the fakes answer a request with."""
    return f"answer: {text}"


@dataclass
class FakeRequest:
    method: str
    path: str
    """Without the query."""
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeReply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    """Bytes, or pieces sent one after the other (a results file; see ``stall_results_after``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False
    """Hold the connection without answering until the server stops."""

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> FakeReply:
        return cls(status, json.dumps(payload).encode(), {"content-type": "application/json"})


class BatchFake:
    """A fake batch API: start it with ``with``; :attr:`base_url` is what a provider points at."""

    root_path = ""
    """What :attr:`base_url` adds after the host (``/v1`` for OpenAI)."""

    def __init__(self) -> None:
        self.behaviour: Callable[[str, int], Outcome] = lambda text, seen: "ok"
        self.polls_to_finish = 2
        self.hang_after_create = False
        self.stall_results_after: int | None = None
        self.batches_created = 0
        self.seen: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.live_requests = 0
        self.cancelled: set[str] = set()
        self.requests: list[FakeRequest] = []
        self.lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what a vendor's fake implements ---------------------------------------------------------

    def route(self, request: FakeRequest) -> FakeReply:
        """The reply to one request (called with :attr:`lock` held)."""
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------------------------

    def outcome(self, text: str, *, live: bool = False) -> Outcome:
        """Count an arrival of ``text`` and decide its outcome (``answered`` counts the ``ok``)."""
        self.seen[text] += 1
        if live:
            self.live_requests += 1
        outcome = self.behaviour(text, self.seen[text])
        if outcome == "ok":
            self.answered[text] += 1
        return outcome

    def result_pieces(self, lines: list[bytes]) -> Iterable[bytes]:
        """A results file as pieces, stalled after :attr:`stall_results_after` lines when set."""
        stall = self.stall_results_after
        for number, line in enumerate(lines):
            if stall is not None and number >= stall:
                self._stopping.wait()
                return
            yield line

    # -- the server ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{self.root_path}"

    def __enter__(self) -> BatchFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    body = _read_chunked(self.rfile)
                else:
                    body = self.rfile.read(length) if length else b""
                request = FakeRequest(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with fake.lock:
                    fake.requests.append(request)
                    reply = fake.route(request)
                if reply.hang:
                    fake._stopping.wait()
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, bytes):
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for piece in reply.body:
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                if fake._stopping.is_set():
                    self.close_connection = True
                    return
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        time.sleep(0)  # let stalled handlers see the stop


def _read_chunked(stream: Any) -> bytes:
    pieces: list[bytes] = []
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return b"".join(pieces)
        pieces.append(stream.read(size))
        stream.readline()
