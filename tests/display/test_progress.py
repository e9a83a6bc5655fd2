"""Live progress: what each line says (rate, state, ETA), and plain lines off a terminal (virtual time)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from rich.console import Console

from providers import EndpointSettings
from runner import ConfigError, load_config
from runner._run import run_experiment
from runner.config._config import ExperimentConfig, ModelConfig, ProgressConfig, RunConfig
from runner.display._progress import ProgressTracker, overall, plain_line
from runner.display._progress_view import render, resolve_mode, show_progress
from runner.engine._limiter import RateLimiter
from runner.engine._queue import QueueStatistics


@dataclass
class FakeQueue:
    """A queue whose counters the test sets; its limiter is a real one (not running: no permits)."""

    key: str
    total: int
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(60))
    done: int = 0
    ok: int = 0
    retrying: int = 0
    stopped_reason: str | None = None
    batches: str | None = None

    def statistics(self) -> QueueStatistics:
        return QueueStatistics(
            key=self.key,
            total=self.total,
            done=self.done,
            ok=self.ok,
            failed=self.done - self.ok,
            retrying=self.retrying,
            in_flight=0,
            stopped_reason=self.stopped_reason,
            batches=self.batches,
        )


async def test_tracker_reports_achieved_rate_and_pacing_eta(autojump_clock: trio.abc.Clock) -> None:
    queue = FakeQueue("openai", total=100)
    tracker = ProgressTracker([queue])
    tracker.sample()
    await trio.sleep(30)
    queue.limiter._permits_issued = 15  # what the ticker counts as it hands out permits
    queue.done = queue.ok = 10
    (line,) = tracker.sample()
    assert line.achieved_per_minute == pytest.approx(30.0)
    assert line.configured_per_minute == 60
    # 90 left: 90 s at the configured pace, but 10 finished in 30 s says 270 s: the slower one wins
    assert line.eta_s == pytest.approx(270.0)
    assert line.state == "running"
    assert plain_line(line) == (
        "10/100 done (10 ok, 0 failed, 0 retrying, 0 in flight), 30/60 per min, running, ETA 0:04:30"
    )


async def test_tracker_shows_pause_slowdown_and_auth_stop(autojump_clock: trio.abc.Clock) -> None:
    paused, slowed, stopped = FakeQueue("a", 10), FakeQueue("b", 10), FakeQueue("c", 10)
    paused.limiter.pause_until(trio.current_time() + 42)
    slowed.limiter.note_rate_limited()
    stopped.stopped_reason = "queue 'c' stopped after an auth failure: 401"
    tracker = ProgressTracker([paused, slowed, stopped])
    lines = tracker.sample()
    assert re.fullmatch(r"paused for retry-after until \d\d:\d\d:\d\d \(42 s\)", lines[0].state)
    assert lines[0].eta_s == pytest.approx(42 + 10 * 60 / 60)
    assert lines[1].state == "slowed to 30/min after 429s"
    assert lines[1].eta_s == pytest.approx(20.0)
    assert lines[2].state == "stopped: auth"
    assert lines[2].eta_s is None
    total = overall(lines)
    assert (total.total, total.state, total.eta_s) == (30, "running", None)


async def test_a_batch_queue_shows_each_batch_state_and_no_eta(autojump_clock: trio.abc.Clock) -> None:
    queue = FakeQueue("openai", total=5000, done=1000, ok=1000)
    queue.batches = "2 batch(es): in_progress 1,200/2,500; validating"
    (line,) = ProgressTracker([queue]).sample()
    assert line.state == "2 batch(es): in_progress 1,200/2,500; validating"
    assert line.eta_s is None  # a batch ends when the provider says, within its window
    assert "in_progress 1,200/2,500" in plain_line(line)


async def test_live_table_has_a_row_per_queue_and_an_overall_row(autojump_clock: trio.abc.Clock) -> None:
    first, second = FakeQueue("openai", 10, done=4, ok=3), FakeQueue("group:judges", 5, done=5, ok=5)
    lines = ProgressTracker([first, second]).sample()
    console = Console(file=io.StringIO(), width=200)
    with console.capture() as captured:
        console.print(render(lines))
    text = captured.get()
    assert re.search(r"openai .* 4/10 .* 3 .* 1 .* 0 .* -/60 per min .* running", text)
    assert re.search(r"group:judges .* 5/5 .* done", text)
    assert re.search(r"all .* 9/15 .* 8 .* 1 ", text)


def test_auto_mode_is_plain_off_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_mode(ProgressConfig(), io.StringIO()) == "plain"
    assert resolve_mode(ProgressConfig(), Terminal()) == "rich"
    assert resolve_mode(ProgressConfig(mode="off"), Terminal()) == "off"


def _config(tmp_path: Path, count: int, progress: ProgressConfig, latency_s: float = 1.4) -> RunConfig:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(f'{{"id": "p{i}", "prompt": "q{i}"}}\n' for i in range(count)))
    return RunConfig(
        experiment=ExperimentConfig(file=prompts),
        model=ModelConfig(
            api="simulated", model_name="sim", endpoint=EndpointSettings(options={"latency_s": latency_s})
        ),
        max_queries=60,
        env_file=None,
        output_dir=tmp_path / "run",
        progress=progress,
    )


async def test_plain_progress_prints_a_line_per_interval_without_control_codes(
    tmp_path: Path, autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, 30, ProgressConfig(mode="auto", interval_s=10.25))
    result = await run_experiment(config, environ={}, log_to_file=False)
    assert result.summary["ok"] == 30
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\r" not in err
    lines = err.splitlines()
    # 30 prompts at 60/min (permits at 0, 1, ... 29 s), 1.4 s replies: the last lands at 30.4 s.
    # A line every 10.25 s (no tie with a reply), then the final state when the queues end.
    assert [line.split("]")[0] for line in lines] == [
        "[progress 0:00:10",
        "[progress 0:00:20",
        "[progress 0:00:30",
    ]
    assert re.fullmatch(
        r"\[progress 0:00:10\] 9/30 done \(9 ok, 0 failed, 0 retrying, 2 in flight\), "
        r"[\d.]+/60 per min, running, ETA 0:00:23",  # 11 permits (0 s..10 s) in 10.25 s
        lines[0],
    )
    assert lines[1].startswith("[progress 0:00:20] 20/30 done (20 ok, 0 failed, 0 retrying, 1 in flight)")
    assert lines[-1].startswith("[progress 0:00:30] 30/30 done (30 ok, 0 failed, 0 retrying, 0 in flight)")
    assert lines[-1].endswith(", done, ETA 0:00:00")


async def test_progress_off_prints_nothing(
    tmp_path: Path, autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, 5, ProgressConfig(mode="off", interval_s=1))
    await run_experiment(config, environ={}, log_to_file=False)
    assert capsys.readouterr().err == ""


async def test_rich_progress_draws_the_table_and_ends_with_the_final_state(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    queue = FakeQueue("openai", 4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(show_progress, [queue], ProgressConfig(mode="rich"), stream)
        await trio.sleep(2)
        queue.done = queue.ok = 4
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    output = stream.getvalue()
    assert "\x1b[" in output
    assert "0/4" in output
    assert re.search(r"4/4 .* done", output.split("\n")[-2] if output.endswith("\n") else output)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("progress.mode=fancy", "`progress.mode`: Input should be 'auto', 'rich', 'plain' or 'off'"),
        ("progress.interval_s=0", "`progress.interval_s`: Input should be greater than 0"),
        ("+progress.intervall_s=5", "Did you mean `progress.interval_s`?"),
        ("report.auto=sometimes", "`report.auto`: Input should be a valid boolean"),
    ],
)
def test_bad_progress_and_report_settings_fail_before_anything_runs(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config("capitals", [override])
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1783.4, "1,783"), (1800.0, "1,800"), (60000.0, "60,000"), (0.5, "0.5"), (12.25, "12.25"), (30.0, "30")],
)
def test_rates_are_written_as_people_read_them(value: float, shown: str) -> None:
    from runner.display._progress import per_minute

    assert per_minute(value) == shown
