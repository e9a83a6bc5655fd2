"""Sharding a run 4 ways and merging the shards gives the unsharded run's records; bad sweeps fail clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from runner import RunConfig, load_config, run_async
from runner.cli._folder_commands import merge_main
from runner.config._shard import Shard
from tests._dist_support import prompto_merge, prompto_run, read_records, write_models, write_prompts

COMMON = ["model=simulated_fast", "parallel=true", "max_queries=600", "max_attempts=1"]


def _prompts_with_a_failure(path: Path) -> Path:
    write_prompts(path, 40)
    with path.open("a") as file:  # one prompt that always fails: failed records are merged too
        file.write(json.dumps({"id": "always-fails", "prompt": "x", "parameters": {"failure_rate": 1.0}}))
    return path


def _config(prompts: Path) -> RunConfig:
    return load_config(overrides=[f"experiment.file={prompts}", *COMMON], output_dir="unused")


async def _run(config: RunConfig, out: Path, shard: str | None = None) -> dict[str, Any]:
    update = {"output_dir": out, "shard": None if shard is None else Shard.model_validate(shard)}
    return (await run_async(config.model_copy(update=update))).summary


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without what depends on timing or on how the run was split."""
    drop = {"wall_time_s", "shard", "shards", "merged_from", "estimate"}  # each shard estimated its part
    kept = {key: value for key, value in summary.items() if key not in drop}
    for section in ("queues", "models", "groups"):
        kept[section] = {
            name: {k: v for k, v in tally.items() if k != "latency_s"}
            for name, tally in summary.get(section, {}).items()
        }
    return kept


async def test_four_shards_merged_equal_the_unsharded_run(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    config = _config(_prompts_with_a_failure(tmp_path / "prompts.jsonl"))
    whole = await _run(config, tmp_path / "whole")
    sweep = tmp_path / "sweep"
    for index in range(4):
        await _run(config, sweep / str(index), f"{index}/4")

    assert merge_main([str(sweep)]) == 0

    merged_records = read_records(sweep / "merged" / "completed.jsonl")
    assert merged_records == read_records(tmp_path / "whole" / "completed.jsonl")
    assert len(merged_records) == 41
    assert merged_records["always-fails"]["error"]["type"] == "server_error"
    merged = json.loads((sweep / "merged" / "summary.json").read_text())
    assert _comparable(merged) == _comparable(whole)
    assert set(merged["queues"]) == {"group:g0", "group:g1", "simulated"}
    assert merged["shards"] == 4
    assert merged["merged_from"] == [str(sweep / str(index)) for index in range(4)]


@pytest.fixture
async def sharded_sweep(tmp_path: Path) -> Path:
    """Three shards of 30 prompts (tests using it take ``autojump_clock``: pytest-trio reads the clock
    from the test's own arguments only)."""
    config = _config(write_prompts(tmp_path / "prompts.jsonl", 30))
    sweep = tmp_path / "sweep"
    for index in range(3):
        await _run(config, sweep / str(index), f"{index}/3")
    return sweep


def _merge_fails(sweep: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert merge_main([str(sweep)]) == 2
    assert not (sweep / "merged" / "completed.jsonl").exists()
    error = capsys.readouterr().err
    assert error.endswith("Nothing was written.\n")
    return error


async def test_a_lost_record_is_named_and_nothing_is_written(
    sharded_sweep: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.abc.Clock
) -> None:
    completed = sharded_sweep / "1" / "completed.jsonl"
    lines = completed.read_text().splitlines(keepends=True)
    lost = json.loads(lines[0])["id"]
    completed.write_text("".join(lines[1:]))

    error = _merge_fails(sharded_sweep, capsys)

    assert f"1 prompts without a record (re-run their shard): {lost}\n" in error
    assert completed.read_text() == "".join(lines[1:])  # the shard's own file is left alone


async def test_a_duplicate_record_is_named(
    sharded_sweep: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.abc.Clock
) -> None:
    completed = sharded_sweep / "2" / "completed.jsonl"
    first = completed.read_text().splitlines(keepends=True)[0]
    with completed.open("a") as file:
        file.write(first)
    error = _merge_fails(sharded_sweep, capsys)
    assert f"1 ids with more than one record: {json.loads(first)['id']}" in error


async def test_a_torn_last_line_is_reported(
    sharded_sweep: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.abc.Clock
) -> None:
    completed = sharded_sweep / "0" / "completed.jsonl"
    text = completed.read_text()
    completed.write_text(text[: len(text) - 20])  # killed in the middle of writing the last record
    error = _merge_fails(sharded_sweep, capsys)
    assert "1 unreadable record lines (a job killed mid-write?)" in error
    assert "1 prompts without a record" in error


async def test_a_missing_shard_is_named(
    sharded_sweep: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.abc.Clock
) -> None:
    (sharded_sweep / "1" / ".hydra" / "config.yaml").unlink()
    assert "shard 1/3 has no run folder" in _merge_fails(sharded_sweep, capsys)


async def test_a_run_without_shard_is_refused(
    sharded_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.abc.Clock
) -> None:
    await _run(_config(tmp_path / "prompts.jsonl"), sharded_sweep / "3")
    assert f"{sharded_sweep / '3'} is not a shard (it ran without shard=i/n)" in _merge_fails(
        sharded_sweep, capsys
    )


async def test_a_shard_that_never_started_is_named(
    sharded_sweep: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.abc.Clock
) -> None:
    (sharded_sweep / "2" / "prompts.jsonl").unlink()
    (sharded_sweep / "2" / "completed.jsonl").unlink()
    error = _merge_fails(sharded_sweep, capsys)
    assert f"{sharded_sweep / '2'} (shard 2/3) has no prompts.jsonl: it stopped before running" in error
    assert f"{sharded_sweep / '2'} (shard 2/3) has no completed.jsonl" in error


def test_an_empty_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert f"no run folders (with .hydra/config.yaml) under {tmp_path}" in _merge_fails(tmp_path, capsys)


def test_a_sweep_of_models_and_shards_merges_per_model(tmp_path: Path) -> None:
    write_models(tmp_path / "conf", ["sim_a", "sim_b"])
    prompts = write_prompts(tmp_path / "prompts.jsonl", 16)
    sweep = tmp_path / "sweep"
    result = prompto_run(
        "-m",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"hydra.sweep.dir={sweep}",
        f"experiment.file={prompts}",
        "max_queries=6000",
        "model=sim_a,sim_b",
        "shard=0/2,1/2",
    )
    assert result.returncode == 0, result.stderr

    merged = prompto_merge(str(sweep))

    assert merged.returncode == 0, merged.stderr
    for model in ("sim_a", "sim_b"):
        records = read_records(sweep / "merged" / f"model={model}" / "completed.jsonl")
        assert len(records) == 16
        assert {record["model_name"] for record in records.values()} == {model}
    assert f"16 records from 2 shards (16 ok, 0 failed) -> {sweep}/merged/model=sim_a/completed.jsonl" in (
        merged.stdout
    )

    # A shard that went wrong is repeated into the sweep with rerun= (same config, same input copy).
    sim_b_records = read_records(sweep / "merged" / "model=sim_b" / "completed.jsonl")
    (sweep / "3").rename(tmp_path / "failed-3")
    repeated = prompto_run(f"rerun={tmp_path / 'failed-3'}", f"hydra.run.dir={sweep / '3'}")
    assert repeated.returncode == 0, repeated.stderr
    merged_again = prompto_merge(str(sweep))
    assert merged_again.returncode == 0, merged_again.stderr
    assert read_records(sweep / "merged" / "model=sim_b" / "completed.jsonl") == sim_b_records
