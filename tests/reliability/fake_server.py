"""An OpenAI-shaped chat server on 127.0.0.1 that injects faults, for the reliability tests.

Each request is answered by the next scripted :class:`Reply` queued for its prompt text (the last user
turn); when none is queued it succeeds with ``"echo: <prompt>"``. Every request is logged, so tests
count what reached the server. A ``failure_rate`` fails that share of unscripted requests with a 503.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status, headers and a body (``bytes`` as is, anything else as JSON)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0
    """Sleep this long before answering (a hung server)."""
    drop: bool = False
    """Close the connection without answering (a crashed upstream)."""


def error_reply(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    """An OpenAI-style error body."""
    return Reply(status, {"error": {"message": message, "type": "error", "code": code}}, headers)


@dataclass
class Logged:
    """A request as the server saw it."""

    prompt: str
    authorization: str
    at: float = field(default_factory=time.monotonic)


class FakeChatServer:
    """Start with :func:`serving`; script with :meth:`script`; read :attr:`requests`."""

    def __init__(
        self,
        *,
        failure_rate: float = 0.0,
        seed: int = 0,
        valid_keys: tuple[str, ...] = (),
        delay_s: float = 0.0,
    ) -> None:
        self.failure_rate = failure_rate
        self.delay_s = delay_s
        self.valid_keys = set(valid_keys)
        self.requests: list[Logged] = []
        self.rate_limit_headers: dict[str, str] = {}
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.url = ""

    def script(self, prompt: str, *replies: Reply) -> None:
        """Queue replies for requests whose last user turn is ``prompt``."""
        with self._lock:
            self._scripts[prompt].extend(replies)

    def count(self, prompt: str) -> int:
        """Requests received for ``prompt``."""
        with self._lock:
            return sum(1 for logged in self.requests if logged.prompt == prompt)

    def next_reply(self, prompt: str, authorization: str) -> Reply:
        with self._lock:
            self.requests.append(Logged(prompt, authorization))
            if self.valid_keys and authorization.removeprefix("Bearer ") not in self.valid_keys:
                # Like some proxies, echo what was sent: the engine must scrub it.
                return error_reply(401, f"Incorrect API key provided: {authorization}", "invalid_api_key")
            if self._scripts[prompt]:
                return self._scripts[prompt].popleft()
            if self.failure_rate and self._rng.random() < self.failure_rate:
                return error_reply(503, "temporarily unavailable")
        body = {
            "choices": [
                {"message": {"role": "assistant", "content": f"echo: {prompt}"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 2},
        }
        return Reply(200, body, dict(self.rate_limit_headers), hang_s=self.delay_s)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        request = json.loads(self.rfile.read(length))
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        reply = self.server.fake.next_reply(users[-1] if users else "", self.headers.get("authorization", ""))
        if reply.hang_s:
            time.sleep(reply.hang_s)
        if reply.drop:
            self.close_connection = True
            return
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            content_type = "text/html" if isinstance(reply.body, bytes) else "application/json"
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def do_GET(self) -> None:
        """``/stats``: how many requests arrived (for a server in another process)."""
        body = json.dumps({"requests": len(self.server.fake.requests)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    fake: FakeChatServer


@contextmanager
def serving_in_subprocess(failure_rate: float, seed: int = 0) -> Iterator[str]:
    """A server in its own process (no GIL shared with the engine under test); yields its base URL."""
    command = [sys.executable, "-m", "tests.reliability.fake_server", str(failure_rate), str(seed)]
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            yield process.stdout.readline().strip()
        finally:
            process.terminate()
            process.wait(timeout=10)
            process.stdout.close() if process.stdout else None


def _main() -> None:
    failure_rate, seed = float(sys.argv[1]), int(sys.argv[2])
    with serving(FakeChatServer(failure_rate=failure_rate, seed=seed)) as fake:
        print(fake.url, flush=True)
        threading.Event().wait()


@contextmanager
def serving(fake: FakeChatServer) -> Iterator[FakeChatServer]:
    """Serve ``fake`` on a free port of 127.0.0.1 for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":
    _main()
