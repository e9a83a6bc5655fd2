"""A real, scriptable HTTP server on 127.0.0.1 for provider, engine and fault-injection tests.

It listens on an ephemeral port in a background thread (stdlib ``ThreadingHTTPServer``), answers
each request with the next scripted :class:`Reply`, and journals every request it receives. Nothing
in the code under test is patched: point a provider at :attr:`FakeServer.base_url` through
``EndpointSettings(base_url=...)`` or an env var, exactly as a user would.

Use it through the ``fake_server`` fixture (``tests/fakes/__init__.py``; import it into a
conftest), or directly::

    with FakeServer() as server:
        server.enqueue(
            Reply.json({"choices": [...]}, headers={"x-ratelimit-remaining-requests": "9"}),
            Reply.json({"error": {...}}, status=429, headers={"retry-after": "2"}),
            Reply.text("<html>502 Bad Gateway</html>", status=502),
            Reply.hang(),                      # accept, never answer (until the server stops)
            Reply.drop(),                      # close the connection without a response
            Reply.json({...}, delay_s=0.5),    # answer late
        )
        ...                                    # send requests
        server.requests[0].json                # the parsed body the client sent
        server.requests[0].headers["authorization"]

Replies are served first-in first-out, whatever the path. When the queue is empty the server
calls :attr:`FakeServer.responder` (a ``Callable[[RecordedRequest], Reply]``) if one is set (for
dynamic answers, e.g. an echo for load tests), else answers 599 with a message naming the
unscripted request, so a test that sends more than it scripted fails loudly.

The journal (:attr:`FakeServer.requests`) holds a :class:`RecordedRequest` per request in arrival
order: method, path with query, lower-cased headers, raw body, the parsed JSON body and the
``time.monotonic()`` of arrival (for asserting backoff between attempts).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Action = Literal["reply", "hang", "drop"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status, headers and body bytes, optionally late, hung or dropped."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Seconds to wait before answering (cut short when the server stops)."""
    action: Action = "reply"
    """``reply`` answers; ``hang`` never answers; ``drop`` closes the connection without a response."""

    @classmethod
    def json(
        cls,
        payload: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> Reply:
        """A JSON body with ``content-type: application/json``."""
        return cls(
            status=status,
            body=json.dumps(payload).encode(),
            headers={"content-type": "application/json", **(headers or {})},
            delay_s=delay_s,
        )

    @classmethod
    def text(
        cls,
        text: str | bytes,
        *,
        status: int = 200,
        content_type: str = "text/html",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A raw body (an HTML error page, truncated JSON, nothing at all) with the given content type."""
        body = text.encode() if isinstance(text, str) else text
        return cls(status=status, body=body, headers={"content-type": content_type, **(headers or {})})

    @classmethod
    def hang(cls) -> Reply:
        """Read the request and never answer: the client's deadline must end the wait."""
        return cls(action="hang")

    @classmethod
    def drop(cls) -> Reply:
        """Read the request and close the connection without sending anything."""
        return cls(action="drop")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    """Path and query, e.g. ``/openai/deployments/d/chat/completions?api-version=2024-10-21``."""
    headers: Mapping[str, str]
    """Header names lower-cased."""
    body: bytes
    received_at: float
    """``time.monotonic()`` when the request's body had been read."""

    @property
    def url_path(self) -> str:
        """The path without the query."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (last value wins)."""
        return dict(parse_qsl(urlsplit(self.path).query))

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class FakeServer:
    """The server: :meth:`start` / :meth:`stop` (or ``with``), :meth:`enqueue`, :attr:`requests`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.responder: Callable[[RecordedRequest], Reply] | None = None
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str = "") -> str:
        """``base_url`` joined with ``path`` (``server.url("/v1")``)."""
        return self.base_url + path

    def enqueue(self, *replies: Reply) -> None:
        """Append replies to the queue, served in order to the next requests."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self._lock:
            return len(self._replies)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (fails the test if there was none)."""
        with self._lock:
            if not self.requests:
                raise AssertionError("the fake server received no request")
            return self.requests[-1]

    def start(self) -> FakeServer:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},  # shutdown() waits for a poll: keep teardown instant
            name="fake-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung and delayed handlers, stop serving and close the socket."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        if self.responder is not None:
            return self.responder(request)
        message = f"fake server: no reply scripted for {request.method} {request.path}"
        return Reply.json({"error": {"message": message}}, status=599)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        reply = self.fake._next_reply(request)
        if reply.action == "hang":
            self.fake._stopping.wait()
            self.close_connection = True
            return
        if reply.action == "drop":
            self.close_connection = True
            return
        if reply.delay_s and self.fake._stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines on stderr."""
