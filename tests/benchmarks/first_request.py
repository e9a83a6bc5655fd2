"""Issue 20's start-up target: launch to first request on a 1,000,000-line prompt file, under 5 s.

The installed ``prompto-run`` (the venv's console script, as a user starts it) runs a prompt file of
``--lines`` OpenAI prompts against the fake server (:mod:`tests.benchmarks.fake_server`); the time is
from launch to the server's first request (its ``first_at``), after which the run is interrupted.
``json.loads`` over the same file, in the same run, is printed beside it for scale.

    .venv/bin/python -m tests.benchmarks.first_request                 # 1,000,000 lines
    .venv/bin/python -m tests.benchmarks.first_request --lines 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.benchmarks.scenario import Queue, ServerProcess, experiment_config, runner_env, write_prompts
from tests.benchmarks.validation_speed import json_loads_time


def prompto_run() -> str:
    """The installed console script beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("prompto-run")
    found = str(beside) if beside.is_file() else shutil.which("prompto-run")
    if found is None:
        raise SystemExit("prompto-run is not installed (pip install -e .)")
    return found


def time_to_first_request(lines: int, timeout_s: float = 300) -> tuple[float, float]:
    """Seconds from launch to the first request, and json.loads' seconds over the same file."""
    queue = Queue("openai", "gpt-bench", lines, 60_000, 0.01)
    with tempfile.TemporaryDirectory(prefix="prompto-first-") as tmp:
        work = Path(tmp)
        (work / "data" / "input").mkdir(parents=True)
        prompts = work / "data" / "input" / "bench.jsonl"
        write_prompts(prompts, [queue])
        baseline = json_loads_time(prompts)
        config = experiment_config([queue], "bench.jsonl", work / "data")
        (work / "conf" / "experiment").mkdir(parents=True)
        (work / "conf" / "experiment" / "bench.yaml").write_text("# @package _global_\n" + json.dumps(config))
        server = ServerProcess(queue.latency, {}, serial=False)
        try:
            with (work / "runner.log").open("w") as log:
                launched = time.time()
                process = subprocess.Popen(
                    [prompto_run(), "+experiment=bench"],
                    cwd=work,
                    env=runner_env({"openai": server}),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    first = _first_request(server, process, launched + timeout_s)
                finally:
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            if first is None:
                tail = (work / "runner.log").read_text()[-3000:]
                raise RuntimeError(f"no request within {timeout_s:.0f} s:\n{tail}")
        finally:
            server.close()
    return first - launched, baseline


def _first_request(server: ServerProcess, process: subprocess.Popen[bytes], deadline: float) -> float | None:
    """The server's own time of its first request. Asked four times a second, with one client: the
    asking costs CPU the runner would otherwise have, and how soon it is asked changes nothing measured."""
    with httpx.Client() as client:
        while time.time() < deadline:
            running = process.poll() is None  # read before asking: a small file's run may end meanwhile
            first_at = client.get(f"{server.url}/stats").json()["first_at"]
            if first_at is not None:
                return float(first_at)
            if not running:
                return None
            time.sleep(0.25)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.pop("PYTHONSTARTUP", None)
    took, baseline = time_to_first_request(args.lines)
    print("| lines | json.loads | launch to first request | target |\n|---:|---:|---:|---|")
    print(f"| {args.lines:,} | {baseline:.2f} s | {took:.2f} s | < 5 s: {'met' if took < 5 else 'not met'} |")


if __name__ == "__main__":
    main()
