"""prompto-export: records flattened to one row each, scores as columns, in csv, jsonl and parquet."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from runner.cli._folder_commands import export_main
from runner.results._export import PYARROW_MISSING, ExportError, export, flatten, scan
from runner.run_folder._completed import CompletedFile
from tests.display.costed_run import JUDGE_COST, make_costed_run_folder
from tests.run_folder.crafted_run import make_run_folder

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    make_run_folder(tmp_path / "run")
    return tmp_path / "run"


def _records(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "completed.jsonl").read_text().splitlines()]


def test_flatten_names_nested_fields_like_pandas_json_normalize() -> None:
    record = {"id": 1, "usage": {"input_tokens": 3}, "scores": {"match": True}, "error": None, "p": {}}
    assert flatten(record) == {
        "id": 1,
        "usage.input_tokens": 3,
        "scores.match": True,
        "error": None,
        "p": None,
    }


def test_csv_has_a_row_per_record_and_a_column_per_score(run_dir: Path) -> None:
    target = export(run_dir, "csv")
    assert target == run_dir / "records.csv"
    with target.open(newline="") as file:
        rows = list(csv.DictReader(file))
    records = _records(run_dir)
    assert len(rows) == len(records) == 80
    header = list(rows[0])
    assert header[:3] == ["id", "api", "model_name"]
    for column in ("scores.match", "scores.similarity", "usage.input_tokens", "error.type", "error.message"):
        assert column in header
    for row, record in zip(rows, records, strict=True):
        assert row["id"] == record["id"]
        scores = record.get("scores") or {}
        assert row["scores.match"] == ("" if not scores else str(scores["match"]))
        assert row["scores.similarity"] == ("" if not scores else str(float(scores["similarity"])))
        error = record["error"] or {}
        assert row["error.type"] == (error.get("type") or "")  # type: ignore[union-attr]


def test_jsonl_rows_are_flat_with_every_column(run_dir: Path) -> None:
    target = export(run_dir, "jsonl", run_dir / "flat.jsonl")
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 80
    assert all(list(row) == list(rows[0]) for row in rows)  # same columns, same order
    failed = next(row for row in rows if row["error.type"] == "timeout")
    assert failed["scores.match"] is None
    assert failed["response"] is None
    answered = next(row for row in rows if row["scores.match"] is True)
    assert isinstance(answered["scores.similarity"], float)


def test_lists_become_json_text_in_csv(tmp_path: Path) -> None:
    (tmp_path / "completed.jsonl").write_text(
        json.dumps({"id": "m", "prompt": ["hi", "and?"], "response": ["a", "b"], "error": None}) + "\n"
    )
    with export(tmp_path, "csv").open(newline="") as file:
        (row,) = list(csv.DictReader(file))
    assert json.loads(row["prompt"]) == ["hi", "and?"]
    assert json.loads(row["response"]) == ["a", "b"]


@pytest.mark.skipif(HAS_PYARROW, reason="pyarrow is installed")
def test_parquet_without_pyarrow_names_the_install_command(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ExportError, match=r"pip install 'prompto-run\[export\]'"):
        export(run_dir, "parquet")
    assert export_main([str(run_dir), "--format", "parquet"]) == 2
    assert capsys.readouterr().err.strip() == f"prompto-export: {PYARROW_MISSING}"
    assert sorted(p.name for p in run_dir.iterdir()) == ["completed.jsonl", "summary.json"]


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow is not installed (the export extra)")
def test_parquet_round_trips_with_typed_score_columns(run_dir: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(export(run_dir, "parquet"))
    assert table.num_rows == 80
    assert str(table.schema.field("scores.match").type) == "bool"
    assert str(table.schema.field("scores.similarity").type) == "double"
    assert str(table.schema.field("usage.input_tokens").type) == "int64"
    rows = table.to_pylist()
    records = _records(run_dir)
    assert [row["id"] for row in rows] == [record["id"] for record in records]
    assert rows[0]["scores.match"] == records[0]["scores"]["match"]  # type: ignore[index]


def test_export_of_a_folder_without_records_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export_main([str(tmp_path), "--format", "csv"]) == 2
    assert "has no completed.jsonl" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_export_cli_prints_where_it_wrote(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_main([str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "records.csv")


@pytest.fixture
def costed_dir(tmp_path: Path) -> Path:
    make_costed_run_folder(tmp_path / "costed", unpriced=True)
    return tmp_path / "costed"


def test_csv_has_the_cost_of_each_record_and_of_its_judgement(costed_dir: Path) -> None:
    with export(costed_dir, "csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    records = _records(costed_dir)
    assert "cost_usd" in rows[0]
    assert "judgements.grader.cost_usd" in rows[0]
    for row, record in zip(rows, records, strict=True):
        cost = record["cost_usd"]
        assert row["cost_usd"] == ("" if cost is None else str(float(cost)))  # type: ignore[arg-type]
    unpriced = [row for row in rows if row["model_name"] == "gemini-1.5-flash"]
    assert {row["cost_usd"] for row in unpriced} == {""}  # no price: empty, never 0
    assert float(rows[0]["judgements.grader.cost_usd"]) == JUDGE_COST


def test_jsonl_cost_is_a_float_or_null(costed_dir: Path) -> None:
    rows = [json.loads(line) for line in export(costed_dir, "jsonl").read_text().splitlines()]
    assert {type(row["cost_usd"]) for row in rows} == {float, type(None)}
    assert sum(row["cost_usd"] or 0 for row in rows) == pytest.approx(
        json.loads((costed_dir / "summary.json").read_text())["cost"]["by_stage"]["experiment"], abs=1e-6
    )


def test_a_cost_column_is_a_float_even_when_every_value_is_null_or_whole(tmp_path: Path) -> None:
    (tmp_path / "completed.jsonl").write_text(
        json.dumps({"id": 1, "cost_usd": None, "judgements": {"g": {"cost_usd": 0}}})
        + "\n"
        + json.dumps({"id": 2, "cost_usd": None, "judgements": {"g": {"cost_usd": 1}}})
        + "\n"
    )
    assert scan(CompletedFile(tmp_path / "completed.jsonl")) == {
        "id": "int",
        "cost_usd": "float",
        "judgements.g.cost_usd": "float",
    }
    rows = [json.loads(line) for line in export(tmp_path, "jsonl").read_text().splitlines()]
    assert [row["judgements.g.cost_usd"] for row in rows] == [0.0, 1.0]
    assert all(isinstance(row["judgements.g.cost_usd"], float) for row in rows)


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow is not installed (the export extra)")
def test_parquet_cost_columns_are_doubles(costed_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(export(costed_dir, "parquet"))
    assert str(table.schema.field("cost_usd").type) == "double"
    assert str(table.schema.field("judgements.grader.cost_usd").type) == "double"
    records = _records(costed_dir)
    assert table.column("cost_usd").to_pylist() == [record["cost_usd"] for record in records]

    (tmp_path / "nulls").mkdir()
    (tmp_path / "nulls" / "completed.jsonl").write_text(json.dumps({"id": 1, "cost_usd": None}) + "\n")
    nulls = pq.read_table(export(tmp_path / "nulls", "parquet"))
    assert str(nulls.schema.field("cost_usd").type) == "double"  # unpriced everywhere: still a number column
