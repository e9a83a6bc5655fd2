"""A user's own modules named by ``_target_`` (the README's provider and scorer recipes), found in
the folder the installed ``prompto-run`` is started from: no ``sys.path`` or ``PYTHONPATH`` help."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_installed
from tests.fakes import FakeServer, Reply

EXAMPLES = Path(__file__).parents[1] / "examples"
SCORER_MODULE = """\
def short_answer(*, max_words: int):
    def score(record: dict) -> bool:
        return len(str(record["response"]).split()) <= max_words

    return score
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder as the README lays it out: ``./my_provider.py`` with ``conf/model/``, and
    ``./my_scorers.py`` with ``conf/scorer/``, and a prompt file of two prompts."""
    shutil.copy(EXAMPLES / "my_provider.py", tmp_path / "my_provider.py")
    (tmp_path / "conf" / "model").mkdir(parents=True)
    shutil.copy(EXAMPLES / "my_llama_server.yaml", tmp_path / "conf" / "model" / "my_llama_server.yaml")
    (tmp_path / "my_scorers.py").write_text(SCORER_MODULE)
    (tmp_path / "conf" / "scorer").mkdir()
    (tmp_path / "conf" / "scorer" / "short.yaml").write_text(
        "_target_: my_scorers.short_answer\nmax_words: 2\n"
    )
    prompts = [{"id": "a", "prompt": "Hello"}, {"id": "b", "prompt": "Capital of France?"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(prompt) + "\n" for prompt in prompts))
    return tmp_path


@pytest.fixture
def llama_server() -> Iterator[FakeServer]:
    """Stands in for llama.cpp's server on 127.0.0.1, where the user's provider is pointed."""
    with FakeServer() as server:
        yield server


def _prompto_run(project: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    inherited = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return run_installed(
        "prompto-run",
        *("experiment.file=p.jsonl", "hydra.run.dir=run", *args),
        cwd=project,
        env={**inherited, **environ},
        timeout=120,
    )


def _records(project: Path) -> dict[str, dict[str, object]]:
    lines = (project / "run" / "completed.jsonl").read_text().splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


@pytest.mark.slow
def test_the_readmes_own_provider_runs_from_the_users_folder(project: Path, llama_server: FakeServer) -> None:
    llama_server.enqueue(
        Reply.json({"content": "Paris.", "stop_type": "eos", "tokens_evaluated": 5, "tokens_predicted": 2}),
        Reply.json({"content": "Madrid.", "stop_type": "eos", "tokens_evaluated": 4, "tokens_predicted": 2}),
    )

    result = _prompto_run(project, "model=my_llama_server", LLAMA_SERVER_ENDPOINT=llama_server.base_url)

    assert result.returncode == 0, result.stderr[-3000:]
    records = _records(project)
    assert {key: record["response"] for key, record in records.items()} == {"a": "Paris.", "b": "Madrid."}
    assert {record["api"] for record in records.values()} == {"llama-server-completion"}
    assert {record["served_model"] for record in records.values()} == {None}  # its reply does not say
    assert [request.url_path for request in llama_server.requests] == ["/completion", "/completion"]
    assert sorted(request.json["prompt"] for request in llama_server.requests) == [
        "Capital of France?",
        "Hello",
    ]
    assert all(request.json["n_predict"] == 64 for request in llama_server.requests)


@pytest.mark.slow
def test_the_readmes_own_scorer_scores_from_the_users_folder(project: Path) -> None:
    result = _prompto_run(project, "model=simulated_fast", "scorers=[short]")

    assert result.returncode == 0, result.stderr[-3000:]
    records = _records(project)  # the simulated model replies "simulated-fast: <prompt>"
    assert {key: (record["response"], record["scores"]) for key, record in records.items()} == {
        "a": ("simulated-fast: Hello", {"short": True}),
        "b": ("simulated-fast: Capital of France?", {"short": False}),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "target", "message"),
    [
        (
            "conf/model/my_llama_server.yaml",
            "my_provider.NoSuchClass",
            "line 1: 'my_provider.NoSuchClass': "
            "module 'my_provider' ({project}/my_provider.py) has no 'NoSuchClass'",
        ),
        (
            "conf/model/my_llama_server.yaml",
            "my_providr:LlamaServerCompletion",
            "line 1: 'my_providr:LlamaServerCompletion': No module named 'my_providr' "
            "(looked on the import path and in the working directory {project})",
        ),
        (
            "conf/scorer/short.yaml",
            "my_scorers.long_answer",
            "scorer 'short': 'my_scorers.long_answer': "
            "module 'my_scorers' ({project}/my_scorers.py) has no 'long_answer'",
        ),
    ],
    ids=["provider-class", "provider-module", "scorer"],
)
def test_a_target_that_does_not_exist_exits_2_naming_it_and_sends_nothing(
    project: Path, llama_server: FakeServer, config: str, target: str, message: str
) -> None:
    text = (project / config).read_text()
    (project / config).write_text(re.sub(r"_target_: .*", f"_target_: {target}", text))

    result = _prompto_run(
        project, "model=my_llama_server", "scorers=[short]", LLAMA_SERVER_ENDPOINT=llama_server.base_url
    )

    assert result.returncode == 2, result.stderr[-3000:]
    assert message.format(project=project) in result.stderr
    assert "Nothing was sent." in result.stderr
    assert llama_server.requests == []
    assert not (project / "run" / "completed.jsonl").exists()
