"""Run ``prompto-run`` against fake servers in other processes and measure it against its ideal schedule.

A scenario is a list of :class:`Queue` (api, model, prompts, rate, reply latency). :func:`run_queues`

1. starts one fake server process per api (:mod:`tests.benchmarks.fake_server`), never in this process;
2. writes the prompt file and ``conf/experiment/bench.yaml`` into a temporary folder, with live progress
   and (unless ``report=True``) the HTML report off, so what is measured is the runner's core: read,
   validate, pace, send, parse, write;
3. runs ``python -m runner +experiment=bench`` there (``prompto-run`` on this checkout's sources) and
   reaps it with ``os.wait4``, which gives the runner's own CPU time and peak RSS (the servers are
   other children, not counted; Linux also counts this process's peak at the time of the spawn, so
   nothing here may hold much memory);
4. reads ``completed.jsonl``: the run proper lasts from the first request sent to the last reply
   (``timestamp_sent + latency_s``); start-up is launch to first request; each queue is compared with
   its ideal schedule, sends every ``60 / rate`` seconds and the last reply one latency later.

:func:`sync_baseline` times the paper's synchronous approach: one ``httpx.Client``, one request after
the other, against the same servers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVER_ENV = {
    "openai": {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": "{url}/v1"},
    "gemini": {"GEMINI_API_KEY": "bench", "GEMINI_BASE_URL": "{url}"},
    "ollama": {"OLLAMA_API_ENDPOINT": "{url}"},
}
"""How the runner finds each api's fake server."""
BENCH_PRICE = {"input_per_mtok": 0.15, "output_per_mtok": 0.6, "cached_input_per_mtok": 0.075}
"""gpt-4o-mini's price, declared for every benchmark model."""


@dataclass(frozen=True)
class Queue:
    """One model's prompts, sent at ``rate`` queries per minute, answered after ``latency`` seconds."""

    api: str
    model_name: str
    prompts: int
    rate: float
    latency: float
    serial: bool = False
    """The server answers one request at a time (Ollama), so replies cannot overlap."""

    def ideal_s(self) -> float:
        """The earliest the last reply can arrive, counted from the first send."""
        interval = 60 / self.rate
        if not self.serial:
            return (self.prompts - 1) * interval + self.latency
        done = 0.0
        for number in range(self.prompts):
            done = max(done, number * interval) + self.latency
        return done


@dataclass
class RunResult:
    """What one ``prompto-run`` did, as measured from outside it."""

    prompts: int
    records: int
    ok: int
    run_s: float
    """First request sent to last reply, from the records."""
    ideal_s: float
    startup_s: float
    """Launch to the first request sent."""
    process_s: float
    cpu_s: float
    """The runner process's user + system CPU time, start-up included."""
    peak_rss_mb: float
    max_in_flight: int | None
    """The most requests any fake server held at once (``None`` without servers)."""
    queue_ratios: dict[str, float] = field(default_factory=dict)
    """Per model: its own span (first send to last reply) over its own ideal."""
    interrupted: bool = False
    """Stopped with Ctrl-C at the time limit: the numbers cover the records written by then."""

    @property
    def ratio(self) -> float:
        return self.run_s / self.ideal_s


class ServerProcess:
    """``python -m tests.benchmarks.fake_server`` in a child process; its port read from its first line."""

    def __init__(self, latency: float, model_latency: dict[str, float], serial: bool) -> None:
        args = [sys.executable, "-m", "tests.benchmarks.fake_server", "--latency", str(latency)]
        args += [f"--model-latency={name}={seconds}" for name, seconds in model_latency.items()]
        args += ["--serial"] if serial else []
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the fake server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.url}/stats").json()
        return stats

    def reset(self) -> None:
        httpx.post(f"{self.url}/stats/reset").raise_for_status()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def servers_for(queues: Sequence[Queue]) -> Iterator[dict[str, ServerProcess]]:
    """One fake server per api (other than ``simulated``), with each model's latency; closed after."""
    with ExitStack() as stack:
        servers: dict[str, ServerProcess] = {}
        for api in dict.fromkeys(q.api for q in queues if q.api != "simulated"):
            mine = [q for q in queues if q.api == api]
            latencies = {q.model_name: q.latency for q in mine}
            server = ServerProcess(mine[0].latency, latencies, any(q.serial for q in mine))
            stack.callback(server.close)
            servers[api] = server
        yield servers


def write_prompts(path: Path, queues: Sequence[Queue]) -> None:
    """A prompto JSONL file, the queues' prompts interleaved as in a mixed experiment file."""
    with path.open("w") as file:
        for number in range(max(q.prompts for q in queues)):
            for q in queues:
                if number < q.prompts:
                    prompt = f"Question {number} for {q.model_name}: what is {number} plus {number}?"
                    line = {"id": f"{q.model_name}-{number}", "api": q.api, "model_name": q.model_name}
                    file.write(json.dumps({**line, "prompt": prompt}) + "\n")


def experiment_config(
    queues: Sequence[Queue], prompt_file: str, data_folder: Path, *, report: bool = False
) -> dict[str, Any]:
    """The run's settings: one queue (``max_queries``) or one per model (``parallel`` + ``rate_limits``);
    ``report``: write report.html at the end, as a run does by default."""
    config: dict[str, Any] = {
        "experiment": {"name": "bench", "file": prompt_file},
        "data_folder": str(data_folder),
        "max_queries": queues[0].rate,
        "parallel": len(queues) > 1,
        "progress": {"mode": "off"},
        "report": {"auto": report},
        # Priced as a user's models are, so each record's cost_usd is worked out as in a real run.
        "prices": {f"{q.api}/{q.model_name}": BENCH_PRICE for q in queues if q.api != "simulated"},
    }
    if len(queues) > 1:
        apis: dict[str, Any] = {}
        for q in queues:
            apis.setdefault(q.api, {"models": {}})["models"][q.model_name] = q.rate
        config["rate_limits"] = {"apis": apis}
    simulated = {q.latency for q in queues if q.api == "simulated"}
    if simulated:
        assert len(simulated) == 1, "simulated queues share one latency (endpoints.simulated.options)"
        config["endpoints"] = {"simulated": {"options": {"latency_s": simulated.pop()}}}
    return config


def runner_env(servers: dict[str, ServerProcess]) -> dict[str, str]:
    """This environment without any real API settings, plus the fake servers' URLs and dummy keys."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OPENAI_", "GEMINI_", "OLLAMA_", "ANTHROPIC_", "AZURE_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    for api, server in servers.items():
        env |= {name: value.format(url=server.url) for name, value in SERVER_ENV[api].items()}
    return env


def run_queues(
    queues: Sequence[Queue], *, time_limit_s: float = 600, report: bool = False, shards: int = 1
) -> RunResult:
    """Run the queues through ``prompto-run`` once; past ``time_limit_s`` it gets Ctrl-C (``interrupted``).

    ``shards`` > 1: ``-m hydra/launcher=local_processes shard=0/n,...``, each shard a process at 1/n of
    every rate; the records of every shard are read together (CPU and RSS are the launcher's, its
    worker processes included)."""
    with tempfile.TemporaryDirectory(prefix="prompto-bench-") as tmp, servers_for(queues) as servers:
        work = Path(tmp)
        (work / "data" / "input").mkdir(parents=True)
        write_prompts(work / "data" / "input" / "bench.jsonl", queues)
        config = experiment_config(queues, "bench.jsonl", work / "data", report=report)
        (work / "conf" / "experiment").mkdir(parents=True)
        (work / "conf" / "experiment" / "bench.yaml").write_text("# @package _global_\n" + json.dumps(config))
        with (work / "runner.log").open("w") as log:
            launched, started = time.time(), time.monotonic()
            command = [sys.executable, "-m", "runner", "+experiment=bench"]
            if shards > 1:
                parts = ",".join(f"{i}/{shards}" for i in range(shards))
                command[3:3] = ["-m", "hydra/launcher=local_processes", f"hydra.launcher.n_jobs={shards}"]
                command.append(f"shard={parts}")
            process = subprocess.Popen(
                command,
                cwd=work,
                env=runner_env(servers),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            status, usage, interrupted = reap(process, started + time_limit_s)
            process_s = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0 and not interrupted:
            tail = (work / "runner.log").read_text()[-3000:]
            raise RuntimeError(f"prompto-run failed ({os.waitstatus_to_exitcode(status)}):\n{tail}")
        spans: dict[str, list[float]] = {}
        for path in sorted(work.glob("outputs/bench/**/completed.jsonl")):
            for model, span in read_spans(path).items():
                merged = spans.setdefault(model, span)
                if merged is not span:
                    merged[:] = [
                        min(merged[0], span[0]),
                        max(merged[1], span[1]),
                        merged[2] + span[2],
                        merged[3] + span[3],
                    ]
        in_flight = [server.stats()["max_in_flight"] for server in servers.values()]
    first = min(span[0] for span in spans.values())
    last = max(span[1] for span in spans.values())
    by_model = {q.model_name: q for q in queues}
    return RunResult(
        prompts=sum(q.prompts for q in queues),
        records=sum(int(span[2]) for span in spans.values()),
        ok=sum(int(span[3]) for span in spans.values()),
        run_s=last - first,
        ideal_s=max(q.ideal_s() for q in queues),
        startup_s=first - launched,
        process_s=process_s,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        max_in_flight=max(in_flight) if in_flight else None,
        queue_ratios={
            model: (span[1] - span[0]) / by_model[model].ideal_s() for model, span in spans.items()
        },
        interrupted=interrupted,
    )


def reap(process: subprocess.Popen[bytes], deadline: float) -> tuple[int, Any, bool]:
    """Wait for the runner with ``os.wait4`` (its own rusage); Ctrl-C it at the deadline, kill a minute on."""
    interrupted = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            return status, usage, interrupted
        if time.monotonic() > deadline:
            if interrupted:
                process.kill()
            else:
                process.send_signal(signal.SIGINT)
                interrupted, deadline = True, deadline + 60
        time.sleep(0.05)


def read_spans(path: Path) -> dict[str, list[float]]:
    """Per model: ``[first send, last reply, records, ok]`` (epoch seconds), streamed from the records."""
    spans: dict[str, list[float]] = {}
    with path.open() as file:
        for line in file:
            record = json.loads(line)
            if record.get("timestamp_sent") is None:
                continue
            sent = datetime.fromisoformat(record["timestamp_sent"]).timestamp()
            done = sent + (record.get("latency_s") or 0.0)
            span = spans.setdefault(record["model_name"], [sent, done, 0, 0])
            span[0], span[1] = min(span[0], sent), max(span[1], done)
            span[2] += 1
            span[3] += record.get("error") is None
    return spans


def sync_request(queue: Queue, url: str, number: int) -> tuple[str, dict[str, Any]]:
    """The URL and body of one prompt, in the api's own dialect (what the runner sends, minus extras)."""
    text = f"Question {number} for {queue.model_name}: what is {number} plus {number}?"
    messages = [{"role": "user", "content": text}]
    if queue.api == "gemini":
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        return f"{url}/v1beta/models/{queue.model_name}:generateContent", body
    if queue.api == "ollama":
        return f"{url}/api/chat", {"model": queue.model_name, "messages": messages, "stream": False}
    return f"{url}/v1/chat/completions", {"model": queue.model_name, "messages": messages}


def sync_baseline(queues: Sequence[Queue]) -> dict[str, float]:
    """Seconds per model for the synchronous approach, measured: one client, each request after the last."""
    seconds: dict[str, float] = {}
    with servers_for(queues) as servers, httpx.Client(timeout=60) as client:
        for queue in queues:
            started = time.perf_counter()
            for number in range(queue.prompts):
                url, body = sync_request(queue, servers[queue.api].url, number)
                client.post(url, json=body).raise_for_status()
            seconds[queue.model_name] = time.perf_counter() - started
    return seconds
