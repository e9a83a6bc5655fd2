"""``prompto-pipeline`` in virtual time: mtime order, files still being written, quarantine, stop."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from runner.config._compose import compose_config, to_pipeline_config
from runner.config._config import PipelineConfig, RunConfig
from runner.pipeline._pipeline import PipelineReport, run_pipeline
from runner.pipeline._watch import FileState, InputWatcher
from tests.conftest import Script, interrupt_once_written, read_jsonl, start_python, write_jsonl


def settings(workspace: Path, *overrides: str) -> tuple[PipelineConfig, RunConfig]:
    """Composed as ``prompto-pipeline`` composes: conf/ plus +pipeline=default plus overrides."""
    cfg = compose_config(
        [
            "+pipeline=default",
            f"data_folder={workspace / 'data'}",
            "env_file=null",
            "max_queries=60",
            "pipeline.poll_interval_s=0.5",
            "pipeline.once=true",
            *overrides,
        ]
    )
    return to_pipeline_config(cfg)


def prompts(name: str, count: int, **keys: Any) -> list[dict[str, Any]]:
    return [
        {"id": i, "prompt": f"{name} {i}", "api": "recording", "model_name": "m", **keys}
        for i in range(count)
    ]


def drop(workspace: Path, name: str, rows: list[dict[str, Any]], mtime: float | None = None) -> Path:
    path = write_jsonl(workspace / "data" / "input" / name, rows)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def names(report: PipelineReport) -> list[str]:
    return [result.summary["experiment"] for result in report.completed]


async def test_three_files_run_oldest_mtime_first_each_into_a_full_run_folder(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    drop(workspace, "newest.jsonl", prompts("newest", 2), mtime=3_000)
    drop(workspace, "oldest.jsonl", prompts("oldest", 2), mtime=1_000)
    csv = workspace / "data" / "input" / "middle.csv"
    csv.write_text("id,prompt,api,model_name\n0,middle 0,recording,m\n1,middle 1,recording,m\n")
    os.utime(csv, (2_000, 2_000))
    pipeline, run_settings = settings(workspace)

    report = await run_pipeline(run_settings, pipeline)

    assert names(report) == ["oldest", "middle", "newest"]
    assert [sent.prompt for sent in recording.sent] == [
        *("oldest 0", "oldest 1", "middle 0", "middle 1", "newest 0", "newest 1")
    ]
    assert not list((workspace / "data" / "input").iterdir())
    for result, file in zip(report.completed, ["oldest.jsonl", "middle.csv", "newest.jsonl"], strict=True):
        run_dir = result.run_dir
        assert run_dir.parent == workspace / "data" / "output" / Path(file).stem
        assert sorted(p.name for p in run_dir.iterdir()) == sorted(
            [".hydra", f"input-{file}", "input.sha256", "prompts.jsonl", "completed.jsonl"]
            + ["run.log", "summary.json", "report.html"]  # and no .lock: the run removed it
        )
        saved = (run_dir / ".hydra" / "config.yaml").read_text()
        assert f"file: {run_dir / ('input-' + file)}" in saved
        assert "max_queries: 60" in saved
        assert [r["response"] for r in read_jsonl(result.completed_file)] == [
            f"m says {Path(file).stem} 0",
            f"m says {Path(file).stem} 1",
        ]
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"
        assert f"experiment {Path(file).stem}: 2 prompts" in (run_dir / "run.log").read_text()


async def test_a_file_still_being_written_waits_until_it_settles(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    growing = drop(workspace, "growing.jsonl", prompts("growing", 1))
    pipeline, run_settings = settings(workspace, "pipeline.stable_for_s=2")
    taken_at: list[float] = []

    async def keep_writing() -> None:
        for i in range(1, 6):  # one more line a second, for five seconds
            await trio.sleep(1)
            with growing.open("a") as file:
                file.write(json.dumps(prompts("growing", i + 1)[i]) + "\n")
        while growing.exists():  # noqa: ASYNC110 (a file on disk has no event to wait on)
            await trio.sleep(0.1)
        taken_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_writing)
        report = await run_pipeline(run_settings, pipeline)

    [result] = report.completed
    assert len(read_jsonl(result.completed_file)) == 6  # every line, so not taken half-written
    assert 5 + 2 <= taken_at[0] <= 5 + 2 + 0.5 + 0.1  # last write, stable_for_s, one poll interval


async def test_a_settling_file_is_taken_when_it_settles_not_at_the_next_poll(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    drop(workspace, "quick.jsonl", prompts("quick", 1))
    pipeline, run_settings = settings(workspace, "pipeline.stable_for_s=2", "pipeline.poll_interval_s=60")

    report = await run_pipeline(run_settings, pipeline)

    assert names(report) == ["quick"]
    assert trio.current_time() == pytest.approx(2.0, abs=0.05)


async def test_a_bad_file_goes_to_failed_with_its_problems_and_the_rest_run(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    drop(workspace, "first.jsonl", prompts("first", 1), mtime=1_000)
    bad = drop(workspace, "bad.jsonl", prompts("bad", 1), mtime=2_000)
    bad.write_text(bad.read_text() + '{"id": 1, "api": "recording", "model_name": "m"}\n{oops\n')
    os.utime(bad, (2_000, 2_000))
    drop(workspace, "last.jsonl", prompts("last", 1), mtime=3_000)
    header = workspace / "data" / "input" / "header.csv"
    header.write_text("prompt,prompt\nhi,there\n")
    os.utime(header, (4_000, 4_000))
    pipeline, run_settings = settings(workspace)

    report = await run_pipeline(run_settings, pipeline)

    assert names(report) == ["first", "last"]
    failed = workspace / "data" / "input" / "failed"
    assert report.failed == [failed / "bad.jsonl", failed / "header.csv"]
    assert sorted(p.name for p in failed.iterdir()) == [
        *("bad.jsonl", "bad.jsonl.error.txt", "header.csv", "header.csv.error.txt")
    ]
    assert "empty or repeated column names" in (failed / "header.csv.error.txt").read_text()
    error = (failed / "bad.jsonl.error.txt").read_text()
    assert "2 problem(s)" in error
    assert "line 2: no 'prompt' key" in error
    assert "line 3: malformed JSON" in error
    assert (failed / "bad.jsonl").read_bytes().count(b"\n") == 3  # the file as it was
    assert not (workspace / "data" / "output" / "bad").exists()
    assert not any(sent.prompt.startswith("bad") for sent in recording.sent)


async def test_stop_interrupts_the_running_experiment_resumably_and_takes_no_more(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.latency_s = 0.5
    drop(workspace, "running.jsonl", prompts("running", 5), mtime=1_000)
    waiting = drop(workspace, "waiting.jsonl", prompts("waiting", 1), mtime=2_000)
    pipeline, run_settings = settings(workspace, "pipeline.stable_for_s=0", "pipeline.once=false")
    stop = trio.Event()

    async def press_ctrl_c() -> None:
        await trio.sleep(2.2)  # sent at 0, 1, 2; answered at 0.5, 1.5
        stop.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(press_ctrl_c)
        report = await run_pipeline(run_settings, pipeline, stop=stop)

    assert report.interrupted
    [result] = report.completed
    assert result.summary["status"] == "interrupted"
    assert [r["id"] for r in read_jsonl(result.completed_file)] == [0, 1]
    assert (result.run_dir / "input-running.jsonl").is_file()
    assert (result.run_dir / ".hydra" / "config.yaml").is_file()
    assert waiting.is_file()  # never taken


async def test_stop_while_waiting_for_files_ends_at_once(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    pipeline, run_settings = settings(workspace, "pipeline.once=false", "pipeline.poll_interval_s=30")
    stop = trio.Event()

    async def press_ctrl_c() -> None:
        await trio.sleep(3)
        stop.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(press_ctrl_c)
        report = await run_pipeline(run_settings, pipeline, stop=stop)

    assert report == PipelineReport(interrupted=True)
    assert trio.current_time() == pytest.approx(3)


async def test_experiments_run_side_by_side_with_separate_logs(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    drop(workspace, "left.jsonl", prompts("left", 3), mtime=1_000)
    drop(workspace, "right.jsonl", prompts("right", 3), mtime=2_000)
    pipeline, run_settings = settings(workspace, "pipeline.max_experiments=2", "pipeline.stable_for_s=0")
    started = trio.current_time()

    report = await run_pipeline(run_settings, pipeline)

    assert sorted(names(report)) == ["left", "right"]
    assert trio.current_time() - started < 2 * 2  # each takes 2 s at 60/min: together, not in turn
    for result in report.completed:
        log = (result.run_dir / "run.log").read_text()
        other = "right" if result.summary["experiment"] == "left" else "left"
        assert f"experiment {result.summary['experiment']}:" in log
        assert other not in log


def test_stability_needs_unchanged_size_and_mtime_for_the_whole_window(tmp_path: Path) -> None:
    now = [0.0]
    states = {"a.jsonl": FileState(10, 1), "b.csv": FileState(5, 0)}
    for name in [*states, "notes.txt", ".partial.jsonl"]:
        (tmp_path / name).touch()
    watcher = InputWatcher(
        tmp_path, stable_for_s=2, clock=lambda: now[0], stat=lambda path: states[path.name]
    )

    assert watcher.poll() == []
    now[0] = 1.5
    states["a.jsonl"] = FileState(20, 2)  # still growing
    assert watcher.poll() == []
    now[0] = 2.0
    assert watcher.poll() == [tmp_path / "b.csv"]
    now[0] = 3.5
    assert watcher.poll() == [tmp_path / "b.csv", tmp_path / "a.jsonl"]  # oldest mtime first
    assert watcher.pending == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "pipeline.max_experiments=0",
            "`pipeline.max_experiments`: Input should be greater than or equal to 1",
        ),
        (
            "+pipeline.poll_intervall_s=3",
            "Unknown key `pipeline.poll_intervall_s`. Did you mean `pipeline.poll_interval_s`?",
        ),
    ],
)
def test_bad_pipeline_settings_name_the_key(workspace: Path, override: str, message: str) -> None:
    from runner.config._compose import ConfigError

    with pytest.raises(ConfigError, match="Invalid configuration") as caught:
        settings(workspace, override)
    assert message in str(caught.value)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
def test_ctrl_c_stops_the_pipeline_command_with_the_run_folder_resumable(workspace: Path) -> None:
    rows = [{"id": i, "prompt": f"p{i}", "api": "simulated", "model_name": "m"} for i in range(200)]
    write_jsonl(workspace / "data" / "input" / "long.jsonl", rows)
    code = "from runner.cli._commands import pipeline; pipeline()"
    settings = ("max_queries=600", "pipeline.stable_for_s=0", "pipeline.poll_interval_s=0.1")
    process = start_python("-c", code, *settings, cwd=workspace)
    stdout, stderr = interrupt_once_written(
        process, workspace, "data/output/long/*/completed.jsonl", records=3
    )

    assert process.returncode == 0, stderr
    [run_dir] = [p.parent for p in workspace.glob("data/output/long/*/completed.jsonl")]
    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_jsonl(run_dir / "completed.jsonl")
    assert summary["status"] == "interrupted"
    assert 3 <= summary["finished"] == len(records) < 200
    assert (run_dir / "input-long.jsonl").is_file()
    assert "prompto-pipeline: 1 experiment(s) run, 0 moved to data/input/failed/ (interrupted)" in stdout
