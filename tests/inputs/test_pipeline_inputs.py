"""``prompto-pipeline`` against what lands in ``input/``: entries that cannot be read, files still
being written, and the write-elsewhere-then-rename pattern producers should use."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import trio
import trio.testing

from runner.pipeline._pipeline import run_pipeline
from runner.pipeline._watch import InputWatcher
from tests.conftest import Script, read_jsonl, write_jsonl
from tests.inputs.installed import SIZE, command
from tests.pipeline.test_pipeline import prompts, settings


def loops_in(folder: Path) -> list[Path]:
    """A link to itself and two links to each other, all named as experiment files."""
    (folder / "self.jsonl").symlink_to("self.jsonl")
    (folder / "ping.jsonl").symlink_to("pong.jsonl")
    (folder / "pong.jsonl").symlink_to("ping.jsonl")
    return [folder / name for name in ("ping.jsonl", "pong.jsonl", "self.jsonl")]


@pytest.mark.slow
def test_the_pipeline_command_skips_a_link_loop_and_runs_the_good_file_beside_it(workspace: Path) -> None:
    inbox = workspace / "data" / "input"
    loops = loops_in(inbox)
    rows = [{"id": i, "prompt": f"p{i}", "api": "simulated", "model_name": "m"} for i in range(SIZE)]
    write_jsonl(inbox / "good.jsonl", rows)

    result = command(
        "prompto-pipeline",
        *("--once", "max_queries=600000", "pipeline.stable_for_s=0", "progress.mode=off", "env_file=null"),
        cwd=workspace,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for loop in loops:
        assert result.stderr.count(f"{loop.relative_to(workspace)} cannot be read") == 1
    assert "(Too many levels of symbolic links); the pipeline skips it and goes on" in result.stderr
    assert "prompto-pipeline: 1 experiment(s) run, 0 moved to data/input/failed/" in result.stdout
    [completed] = workspace.glob("data/output/good/*/completed.jsonl")
    assert sorted(record["id"] for record in read_jsonl(completed)) == list(range(SIZE))
    assert all(loop.is_symlink() for loop in loops)  # left where they were


async def test_unreadable_entries_are_reported_and_the_rest_run(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = workspace / "data" / "input"
    loops = loops_in(inbox)
    (inbox / "folder.jsonl").mkdir()  # not a file: left alone, as ever
    write_jsonl(inbox / "good.jsonl", prompts("good", 2))
    pipeline, run_settings = settings(workspace)

    report = await run_pipeline(run_settings, pipeline)

    assert [result.summary["experiment"] for result in report.completed] == ["good"]
    assert report.unreadable == dict.fromkeys(loops, "Too many levels of symbolic links")
    assert report.failed == []


def test_a_link_loop_is_warned_about_once_and_looked_at_again_once_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    watcher = InputWatcher(tmp_path, stable_for_s=1, clock=lambda: now[0])
    (tmp_path / "exp.jsonl").symlink_to("exp.jsonl")

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        for _ in range(3):
            assert watcher.poll() == []
            now[0] += 1
    (tmp_path / "exp.jsonl").unlink()
    write_jsonl(tmp_path / "exp.jsonl", prompts("fixed", 1))
    watcher.poll()
    now[0] += 1

    assert watcher.poll() == [tmp_path / "exp.jsonl"]
    assert [record.getMessage() for record in caplog.records] == [
        f"{tmp_path / 'exp.jsonl'} cannot be read (Too many levels of symbolic links); "
        "the pipeline skips it and goes on"
    ]
    assert watcher.unreadable == {}


async def test_files_being_written_under_a_temporary_name_wait_for_their_rename(
    workspace: Path,
    recording: Script,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = workspace / "data" / "input"
    for name in ("exp.jsonl.part", "exp2.jsonl.tmp", ".exp3.jsonl", "EXP4.JSONL.PART"):
        write_jsonl(inbox / name, prompts(name, 1))
    pipeline, run_settings = settings(workspace, "pipeline.once=false", "pipeline.stable_for_s=1")
    stop = trio.Event()

    async def finish_writing_then_stop() -> None:
        await trio.sleep(30)
        assert recording.sent == []  # half-written files are never taken
        (inbox / "exp.jsonl.part").rename(inbox / "exp.jsonl")  # the producer's last step
        # A file on disk has no event to wait on; a glob of a small tmp folder is instant.
        while not list(workspace.glob("data/output/exp/*/summary.json")):  # noqa: ASYNC110, ASYNC240
            await trio.sleep(0.5)
        stop.set()

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(finish_writing_then_stop)
            report = await run_pipeline(run_settings, pipeline, stop=stop)

    [result] = report.completed
    assert result.summary["status"] == "complete"
    assert [sent.prompt for sent in recording.sent] == ["exp.jsonl.part 0"]
    assert sorted(p.name for p in inbox.iterdir()) == [".exp3.jsonl", "EXP4.JSONL.PART", "exp2.jsonl.tmp"]
    assert not [r for r in caplog.records if "not an experiment file" in r.getMessage()]  # no noise


async def test_a_file_written_to_after_it_was_taken_ends_incomplete_input_not_complete(
    workspace: Path,
    recording: Script,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = prompts("open", 10)
    path = workspace / "data" / "input" / "open.jsonl"
    writer = path.open("w")  # the producer keeps its handle open, and pauses after the first line
    writer.write(json.dumps(rows[0]) + "\n")
    writer.flush()
    recording.gates["open 0"] = trio.Event()  # hold the run until the producer writes the rest
    pipeline, run_settings = settings(workspace, "pipeline.stable_for_s=2")

    async def write_the_rest_once_validated() -> None:
        while not list(workspace.glob("data/output/open/*/prompts.jsonl")):  # noqa: ASYNC110, ASYNC240
            await trio.sleep(0.1)
        writer.write("".join(json.dumps(row) + "\n" for row in rows[1:]))  # into the moved file
        writer.close()
        recording.gates["open 0"].set()

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_the_rest_once_validated)
            report = await run_pipeline(run_settings, pipeline)

    [result] = report.completed
    summary = json.loads((result.run_dir / "summary.json").read_text())
    copy = result.run_dir / "input-open.jsonl"
    added = copy.stat().st_size - len(json.dumps(rows[0])) - 1
    assert summary["status"] == result.summary["status"] == "incomplete_input"
    assert result.exit_status == 4  # a script chaining the run does not go on as if it were complete
    assert summary["finished"] == 1
    assert summary["input_warning"] == (
        f"incomplete input: {copy} is not the file that was validated ({added:,} bytes were added to it "
        "after it was read); what was written to it since was not sent. To send the whole file, move it "
        "back into input/ (every prompt is sent again). Write prompt files elsewhere (or as *.tmp / "
        "*.part) and move them into input/ once complete."
    )
    assert summary["input_warning"] in caplog.text
    assert summary["input_warning"] in (result.run_dir / "run.log").read_text()
    assert len(read_jsonl(copy)) == 10  # the whole file is kept, to be run again

    copy.rename(workspace / "data" / "input" / "open.jsonl")  # as the warning says
    [again] = (await run_pipeline(run_settings, pipeline)).completed
    assert again.summary["status"] == "complete"
    assert sorted(record["id"] for record in read_jsonl(again.completed_file)) == list(range(10))


async def test_a_file_left_alone_after_it_was_taken_ends_complete(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    write_jsonl(workspace / "data" / "input" / "done.jsonl", prompts("done", 5))
    pipeline, run_settings = settings(workspace)

    report = await run_pipeline(run_settings, pipeline)

    [result] = report.completed
    assert result.summary["status"] == "complete"
    assert "input_warning" not in result.summary
