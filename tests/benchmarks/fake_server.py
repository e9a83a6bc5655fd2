"""A fast fake LLM server for the benchmark, run in its own process: trio + h11, keep-alive, no TLS.

It answers after a fixed latency, so the runner's schedule, not the server, decides the wall time; it
is cheap per request (one ``json.loads``, one ``json.dumps``) so two cores are left to the runner.
Reply bodies come from :mod:`tests.fakes.replies`, as in the provider tests.

    python -m tests.benchmarks.fake_server --latency 2.0 [--serial] [--model-latency gpt-4=3.9 ...]

prints ``PORT <n>`` (an ephemeral port on 127.0.0.1) as its first line, then serves until killed.

Routes (the request's model is echoed back in the reply):

* ``POST .../chat/completions``: an OpenAI ``chat.completion``;
* ``POST /api/chat``, ``POST /api/generate``: Ollama's native non-streaming replies (a plain prompt
  goes to ``/api/generate``, as in prompto);
* ``POST .../models/<model>:generateContent``: a Gemini ``GenerateContentResponse``;
* ``GET /stats``: ``{served, in_flight, max_in_flight, connections, max_connections, first_at, last_at}``
  (``first_at``: ``time.time()`` of the first request's arrival, ``last_at``: of the last reply);
* ``POST /stats/reset``: zero the counters.

``--serial`` serves one request at a time in arrival order, as Ollama does (``OLLAMA_NUM_PARALLEL=1``):
the others wait, counted in flight. Each reply is due one latency after the previous one's due time
(absolute deadlines), so the event loop's timer overshoot (about 0.5% of a sleep here) does not add
up over a long line.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import h11
import trio

from tests.fakes.replies import gemini_response, ollama_chat, ollama_generate, openai_chat, openai_error
from tests.fakes.server import Reply

REPLY = "This is a simulated reply from the benchmark server."


@dataclass
class Stats:
    """What the benchmark reads back: load and timing as the server saw them."""

    served: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    max_connections: int = 0
    first_at: float | None = None
    last_at: float | None = None


def openai_reply(model: str) -> Reply:
    return openai_chat(REPLY, model=model)


def ollama_reply(model: str) -> Reply:
    return ollama_chat(REPLY, model=model)


def ollama_generate_reply(model: str) -> Reply:
    return ollama_generate(REPLY, model=model)


def gemini_reply(model: str) -> Reply:
    return gemini_response(REPLY, model_version=model)


def route(method: str, path: str, body: bytes) -> tuple[Callable[[str], Reply], str] | None:
    """The reply builder and model for a generation request, or ``None`` for any other request."""
    if method != "POST":
        return None
    path = path.split("?", 1)[0]
    if ":generateContent" in path:
        return gemini_reply, path.rsplit("/", 1)[-1].split(":", 1)[0]
    if path.endswith("chat/completions"):
        builder: Callable[[str], Reply] = openai_reply
    elif path.endswith("/api/chat"):
        builder = ollama_reply
    elif path.endswith("/api/generate"):
        builder = ollama_generate_reply
    else:
        return None
    try:
        model = str(json.loads(body).get("model", "unknown"))
    except (ValueError, AttributeError):
        model = "unknown"
    return builder, model


class FakeLLMServer:
    """Answers every generation request after its model's latency; keeps :class:`Stats`."""

    def __init__(self, latency: float, model_latency: dict[str, float], serial: bool) -> None:
        self.latency = latency
        self.model_latency = model_latency
        self.serial = serial
        self.free_at = 0.0
        """Serial mode: when the request last in line is answered (``trio.current_time()``)."""
        self.stats = Stats()

    async def generate(self, builder: Callable[[str], Reply], model: str) -> Reply:
        """Wait the latency (one at a time in serial mode), then build the reply."""
        stats = self.stats
        if stats.first_at is None:
            stats.first_at = time.time()
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            delay = self.model_latency.get(model, self.latency)
            if self.serial:  # in line behind the others: due one latency after the previous reply
                self.free_at = max(self.free_at, trio.current_time()) + delay
                await trio.sleep_until(self.free_at)
            else:
                await trio.sleep(delay)
        finally:
            self.stats.in_flight -= 1  # self.stats: a reset may have replaced it meanwhile
        self.stats.served += 1
        self.stats.last_at = time.time()
        return builder(model)

    async def respond(self, method: str, path: str, body: bytes) -> Reply:
        """The reply to one request."""
        if method == "GET" and path == "/stats":
            return Reply.json(asdict(self.stats))
        if method == "POST" and path == "/stats/reset":
            old = self.stats
            self.stats = Stats(connections=old.connections, in_flight=old.in_flight)
            return Reply.json(asdict(self.stats))
        generation = route(method, path, body)
        if generation is None:
            return openai_error(404, f"no route for {method} {path}", type="not_found")
        return await self.generate(*generation)

    async def serve_connection(self, stream: trio.SocketStream) -> None:
        """One keep-alive connection: requests are answered in turn until the client closes it."""
        conn = h11.Connection(h11.SERVER)
        self.stats.connections += 1
        self.stats.max_connections = max(self.stats.max_connections, self.stats.connections)
        try:
            while True:
                event = await next_event(conn, stream)
                if not isinstance(event, h11.Request):
                    return
                body = bytearray()
                while not isinstance(chunk := await next_event(conn, stream), h11.EndOfMessage):
                    if not isinstance(chunk, h11.Data):
                        return
                    body += chunk.data
                reply = await self.respond(event.method.decode(), event.target.decode(), bytes(body))
                headers = [*reply.headers.items(), ("content-length", str(len(reply.body)))]
                await stream.send_all(
                    conn.send(h11.Response(status_code=reply.status, headers=headers))
                    + conn.send(h11.Data(data=reply.body))
                    + conn.send(h11.EndOfMessage())
                )
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            self.stats.connections -= 1
            with trio.move_on_after(1):
                await stream.aclose()


async def next_event(conn: h11.Connection, stream: trio.SocketStream) -> Any:
    """The next h11 event, reading from the socket as needed (end of stream: ``ConnectionClosed``)."""
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await stream.receive_some(65536))
    return event


async def serve(server: FakeLLMServer, port: int) -> None:
    """Listen on 127.0.0.1, print the port, serve forever."""
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=4096)
    print(f"PORT {listeners[0].socket.getsockname()[1]}", flush=True)
    await trio.serve_listeners(server.serve_connection, listeners)


def main(argv: list[str] | None = None) -> None:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds before each reply")
    parser.add_argument(
        "--model-latency", action="append", default=[], metavar="MODEL=SECONDS", help="per-model latency"
    )
    parser.add_argument("--serial", action="store_true", help="serve one request at a time (as Ollama)")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    args = parser.parse_args(argv)
    model_latency = {
        name: float(seconds) for name, seconds in (item.split("=", 1) for item in args.model_latency)
    }
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a thousand connections and more
    trio.run(serve, FakeLLMServer(args.latency, model_latency, args.serial), args.port)


if __name__ == "__main__":
    main()
