"""One reader of ``completed.jsonl``, one policy: a torn last line is skipped and said once, any other
line that is not a record stops the command with exit status 2, naming the line."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import pytest

from runner.run_folder._completed import CompletedFile, RecordsUnreadable, parse_record
from tests.run_folder.installed import run_command

PROMPTS = 6
TORN = b'{"id": "p9", "response": "cut sh'


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder prompto-run wrote in a project folder of the user's own: six answered prompts."""
    project = tmp_path_factory.mktemp("project")
    (project / "prompts.jsonl").write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": f"q{i}", "expected_response": f"q{i}"}) + "\n"
            for i in range(PROMPTS)
        )
    )
    result = run_command(
        "prompto-run",
        "experiment.file=prompts.jsonl",
        "model=simulated_fast",
        "max_queries=60000",
        "report.auto=false",
        "hydra.run.dir=run",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    return project / "run"


@pytest.fixture
def run_dir(finished_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished run, to damage."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


COMMANDS = {
    "prompto-export": (["--format", "jsonl"], "records.jsonl"),
    "prompto-report": ([], "report.html"),
    "prompto-score": (["scorers=[match]"], "completed-scored-*.jsonl"),
}
"""Each command that reads a run's records, its arguments after RUN_DIR, and what it writes."""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_torn_last_line_is_skipped_and_said_once(run_dir: Path, command: str) -> None:
    with (run_dir / "completed.jsonl").open("ab") as file:
        file.write(TORN)  # a kill -9 in the middle of a write
    arguments, output = COMMANDS[command]

    result = run_command(command, str(run_dir), *arguments, cwd=run_dir.parent)

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("was cut short mid-write") == 1
    assert (
        f"{run_dir / 'completed.jsonl'}: its last line (line {PROMPTS + 1}, {len(TORN)} bytes)"
        in result.stderr
    )
    [written] = run_dir.glob(output)
    if written.suffix == ".jsonl":
        assert sorted(json.loads(line)["id"] for line in written.read_text().splitlines()) == [
            f"p{i}" for i in range(PROMPTS)
        ]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_line_changed_after_the_run_stops_the_command(run_dir: Path, command: str) -> None:
    completed = run_dir / "completed.jsonl"
    lines = completed.read_text().splitlines(keepends=True)
    lines[2] = "edited by hand\n"
    completed.write_text("".join(lines))
    arguments, output = COMMANDS[command]

    result = run_command(command, str(run_dir), *arguments, cwd=run_dir.parent)

    assert result.returncode == 2, result.stderr
    assert f"line 3 of {completed} is not a record ('edited by hand')" in result.stderr
    assert result.stderr.count("is not a record") == 1
    assert "Traceback" not in result.stderr
    assert list(run_dir.glob(output)) == []
    assert list(run_dir.glob("*.partial")) == []


@pytest.mark.parametrize(
    ("content", "records", "torn"),
    [
        (b'{"id": 1}\n{"id": 2}\n', [1, 2], None),
        (b'{"id": 1}\n{"id": 2, "resp', [1], 2),  # torn last line
        (b'{"id": 1, "resp', [], 1),  # torn first and only line
        (b'{"id": 1}\n{"id": 2}', [1, 2], None),  # a whole last record that lost only its newline
        (b'{"id": 1}\n\n  \n{"id": 2}\n', [1, 2], None),  # blank lines
        (b'{"id": 1}\n\xff\xfe', [1], 2),  # torn inside a multi-byte character
        (b"", [], None),
    ],
)
def test_the_policy_line_by_line(
    tmp_path: Path, content: bytes, records: list[int], torn: int | None
) -> None:
    path = tmp_path / "completed.jsonl"
    path.write_bytes(content)
    completed = CompletedFile(path)

    assert [record["id"] for record in completed.records()] == records
    assert (completed.torn.number if completed.torn else None) == torn


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n", b'"a string"\n', b"\xff\n"])
def test_any_other_line_that_is_not_a_record_is_refused(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "completed.jsonl"
    path.write_bytes(b'{"id": 1}\n' + line + b'{"id": 3}\n')

    with pytest.raises(RecordsUnreadable, match=r"line 2 of .* is not a record"):
        list(CompletedFile(path).records())
    assert [(line.number, line.record) for line in CompletedFile(path).lines()] == [
        (1, {"id": 1}),
        (2, None),
        (3, {"id": 3}),
    ]


def test_a_file_read_twice_reports_its_torn_line_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "completed.jsonl"
    path.write_bytes(b'{"id": 1}\n' + TORN)
    completed = CompletedFile(path)

    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        for _ in range(2):  # a check pass, then the real one
            assert [record["id"] for record in completed.records()] == [1]

    assert [record.getMessage().count("cut short") for record in caplog.records] == [1]


def test_lines_beyond_strict_json_are_read_as_json_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "completed.jsonl"
    lines = ['{"id": 1, "score": NaN}', '{"id": 2, "big": 123456789012345678901234567890}', '{"id": 3}']
    path.write_text("".join(line + "\n" for line in lines))
    records = list(CompletedFile(path).records())
    assert [r["id"] for r in records] == [1, 2, 3]
    assert math.isnan(records[0]["score"])
    assert records[1]["big"] == 123456789012345678901234567890


def test_scan_keeps_the_policy_of_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "completed.jsonl"

    def ids(raw: bytes) -> int:
        record = parse_record(raw)
        if record is None:
            raise ValueError("not a record")
        return int(record["id"])

    path.write_bytes(b'{"id": 1}\n\n{"id": 2}\n' + TORN)
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        assert [(found, raw) for found, raw in CompletedFile(path).scan(ids)] == [
            (1, b'{"id": 1}\n'),
            (2, b'{"id": 2}\n'),
        ]
    assert "cut short" in caplog.text
    path.write_bytes(b'{"id": 1}\nnot json\n{"id": 3}\n')
    with pytest.raises(RecordsUnreadable, match=r"line 2 of"):
        list(CompletedFile(path).scan(ids))
