"""``prompto-pipeline`` against what lands in ``input/``: files still being written."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import trio
import trio.testing

from runner._pipeline import run_pipeline
from tests.conftest import Script, read_jsonl, write_jsonl
from tests.test_pipeline import prompts, settings


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
    assert summary["finished"] == 1
    assert summary["input_warning"] == (
        f"incomplete input: {copy} is not the file that was validated ({added:,} bytes were added to it "
        "after it was read); what was written to it since was not sent. Write prompt files elsewhere "
        "(or as *.tmp / *.part) and move them into input/ once complete."
    )
    assert summary["input_warning"] in caplog.text
    assert summary["input_warning"] in (result.run_dir / "run.log").read_text()
    assert len(read_jsonl(copy)) == 10  # the whole file is kept, to be run again


async def test_a_file_left_alone_after_it_was_taken_ends_complete(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    write_jsonl(workspace / "data" / "input" / "done.jsonl", prompts("done", 5))
    pipeline, run_settings = settings(workspace)

    report = await run_pipeline(run_settings, pipeline)

    [result] = report.completed
    assert result.summary["status"] == "complete"
    assert "input_warning" not in result.summary
