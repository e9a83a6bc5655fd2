"""Bad input: a clear error naming the line, nothing sent, and nothing already written lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import PromptFileError, ValidationFailed, run_experiment
from runner.prompts._prompt_file import MAX_LINE_BYTES
from runner.run_folder._saved_config import save_config
from tests.reliability.conftest import ENVIRON, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, error_reply

GOOD = b'{"id": "ok", "prompt": "fine"}\n'


def experiment_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / "data" / "input" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("latin1.jsonl", GOOD + b'{"id": 2, "prompt": "caf\xe9"}\n', "line 2: not UTF-8 text (byte 25"),
        (
            "params.jsonl",
            GOOD + b'{"id": 2, "prompt": "x", "parameters": [1]}\n',
            "line 2: 'parameters' must be a mapping",
        ),
        ("broken.jsonl", GOOD + b'{"id": 2, "prompt": \n', "line 2: malformed JSON"),
        ("ragged.csv", b"id,prompt\n1,hello\n2,hi,extra\n", "line 3: row has 3 cells but the header has 2"),
        (
            "huge.jsonl",
            GOOD + b'{"prompt": "' + b"x" * MAX_LINE_BYTES + b'"}\n' + GOOD.replace(b"ok", b"ok2"),
            "line 2: line is longer than the 32 MiB limit",
        ),
    ],
)
async def test_bad_line_is_named_and_nothing_is_sent(
    tmp_path: Path, server: FakeChatServer, name: str, content: bytes, problem: str
) -> None:
    config = make_config(tmp_path, server.url, [])
    config = config.model_copy(
        update={
            "experiment": config.experiment.model_copy(
                update={"file": experiment_file(tmp_path, name, content)}
            )
        }
    )

    with pytest.raises(ValidationFailed) as failure:
        await run_experiment(config, ENVIRON)

    assert problem in str(failure.value)
    assert failure.value.plan.problem_count == 1
    assert server.requests == []


async def test_csv_that_is_not_utf8_is_refused(tmp_path: Path, server: FakeChatServer) -> None:
    config = make_config(tmp_path, server.url, [])
    bad = experiment_file(tmp_path, "latin1.csv", b"id,prompt\n1,caf\xe9\n")
    config = config.model_copy(update={"experiment": config.experiment.model_copy(update={"file": bad})})

    with pytest.raises(PromptFileError, match="is not UTF-8 text"):
        await run_experiment(config, ENVIRON)
    assert server.requests == []


async def test_a_resume_that_fails_validation_changes_nothing(tmp_path: Path, server: FakeChatServer) -> None:
    server.script("p1", error_reply(500, "down"), error_reply(500, "down"))
    config = make_config(
        tmp_path, server.url, [{"id": i, "prompt": f"p{i}"} for i in range(3)], max_attempts=2
    )
    save_config(config)
    first = await run_experiment(config, ENVIRON)
    before = (first.run_dir / "completed.jsonl").read_bytes()
    server.requests.clear()

    with pytest.raises(ValidationFailed, match="no API key"):  # the key is gone from the environment
        await run_experiment(config.model_copy(update={"resume": first.run_dir}), {})

    assert (first.run_dir / "completed.jsonl").read_bytes() == before
    assert read_records(first.run_dir)[1]["error"]["type"] == "server_error"
    assert server.requests == []
