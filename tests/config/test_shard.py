"""``shard=i/n``: which prompts a job sends, at what rate, and the errors for a bad ``shard``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from runner import ConfigError, QueueLimit, load_config
from runner.config._shard import Shard, job_limit, shard_of
from tests._dist_support import prompto_run, write_prompts


def test_shard_of_is_a_fixed_function_of_the_id() -> None:
    # blake2b, not hash(): the same in every process and Python version, so pinned here.
    assert [shard_of(f"capital-{i:02d}", 4) for i in range(1, 11)] == [1, 1, 2, 1, 1, 0, 0, 0, 2, 3]


def test_shards_are_disjoint_cover_everything_and_are_balanced() -> None:
    ids = [f"prompt-{number}" for number in range(4000)]
    shards = [Shard(index=index, count=4) for index in range(4)]
    owners = Counter(sum(shard.includes(prompt_id) for shard in shards) for prompt_id in ids)
    assert owners == {1: 4000}
    sizes = [sum(shard.includes(prompt_id) for prompt_id in ids) for shard in shards]
    assert all(900 < size < 1100 for size in sizes), sizes


@pytest.mark.parametrize(("text", "expected"), [("0/4", (0, 4)), ("3/4", (3, 4)), (" 1 / 2 ", (1, 2))])
def test_shard_is_written_i_of_n_counted_from_zero(text: str, expected: tuple[int, int]) -> None:
    shard = Shard.model_validate(text)
    assert (shard.index, shard.count) == expected
    assert shard.model_dump() == f"{expected[0]}/{expected[1]}"  # round-trips through saved configs


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4/4", "shard 4/4 does not exist: shards are counted from 0, so with 4 shards use 0/4 ... 3/4"),
        ("1/0", "the number of shards must be at least 1, not 0"),
        ("-1/4", "expected i/n, the i-th of n shards counted from 0"),
        ("1-4", "expected i/n, the i-th of n shards counted from 0"),
        ("a/b", "expected i/n, the i-th of n shards counted from 0"),
    ],
)
def test_a_bad_shard_is_a_config_error_naming_the_fix(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match="`shard`") as caught:
        load_config(overrides=["experiment.file=x.jsonl", f"shard={value}"], output_dir="unused")
    assert message in str(caught.value)


def test_a_bad_shard_on_the_command_line_exits_2_before_sending(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 8)
    result = prompto_run(
        f"experiment.file={prompts}", "model=simulated_fast", "shard=2/2", f"hydra.run.dir={tmp_path}/run"
    )
    assert result.returncode == 2
    assert "shard 2/2 does not exist: shards are counted from 0" in result.stderr
    assert "Nothing was sent." in result.stderr
    assert not (tmp_path / "run" / "completed.jsonl").exists()


def test_each_shard_runs_its_own_prompts_at_a_quarter_of_the_rate(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 12)
    result = prompto_run(
        f"experiment.file={prompts}",
        "model=simulated_fast",
        "max_queries=6000",
        "shard=1/4",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "run"
    sent = [json.loads(line)["id"] for line in (run_dir / "completed.jsonl").read_text().splitlines()]
    assert sent
    assert all(shard_of(prompt_id, 4) == 1 for prompt_id in sent)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["shard"] == "1/4"
    assert summary["prompts"] == len(sent)
    assert f"({len(sent)} at 1500/min)" in (run_dir / "run.log").read_text()


def test_job_limit_splits_rates_unless_told_full() -> None:
    limit = QueueLimit(max_queries=100, max_in_flight=5, max_tokens_per_minute=10_000)
    quarter = job_limit(limit, Shard(index=0, count=4), "split")
    assert (quarter.max_queries, quarter.max_in_flight, quarter.max_tokens_per_minute) == (25, 2, 2500)
    assert job_limit(limit, Shard(index=0, count=4), "full") == limit
    assert job_limit(limit, None, "split") == limit
