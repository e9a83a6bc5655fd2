"""``prompto-export RUN_DIR --format csv|parquet|jsonl``: one flat row per record, for pandas users.

Nested fields become dotted columns as ``pandas.json_normalize`` names them (``usage.input_tokens``,
``error.type``, ``scores.match``), so each score is a column. Lists (multi-turn prompts and replies)
and other values that are not scalars are kept as JSON text in CSV and Parquet. What each reply cost
is a column: ``cost_usd`` (and ``judgements.<name>.cost_usd`` for a judge's), in dollars, a float in
every format, empty where the model has no price. Two streaming passes over ``completed.jsonl``: the
first collects the columns and their types, the second writes rows.
Parquet needs pyarrow (``pip install 'prompto-run[export]'``).
"""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.config._errors import UserError
from runner.run_folder._completed import CompletedFile
from runner.run_folder._files import RunFolder

FORMATS = ("csv", "parquet", "jsonl")
COST = "cost_usd"
PARQUET_BATCH = 10_000
PYARROW_MISSING = (
    "parquet export needs pyarrow, which is not installed: pip install 'prompto-run[export]' "
    "(or pip install pyarrow); csv and jsonl need nothing more"
)


class ExportError(UserError):
    """The export cannot be done; the message says why and what to do."""


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"usage": {"input_tokens": 3}}`` -> ``{"usage.input_tokens": 3}`` (lists are left as they are)."""
    flat: dict[str, Any] = {}
    _flatten_into(flat, record, prefix)
    return flat


def _flatten_into(flat: dict[str, Any], mapping: dict[str, Any], prefix: str) -> None:
    for key, value in mapping.items():
        if type(value) is dict:
            if value:
                _flatten_into(flat, value, f"{prefix}{key}.")
                continue
            value = None
        flat[prefix + key] = value


def _records(completed: CompletedFile) -> Iterator[dict[str, Any]]:
    return (flatten(record) for record in completed.records())


def is_cost(column: str) -> bool:
    """``cost_usd`` columns are dollars: floats, even where every value is null or a whole number."""
    return column == COST or column.endswith("." + COST)


def scan(completed: CompletedFile) -> dict[str, str]:
    """Columns in first-seen order, each with a type: ``bool``, ``int``, ``float`` or ``str``."""
    kinds: dict[str, set[type]] = {}
    for row in _records(completed):
        for key, value in row.items():
            seen = kinds.get(key)
            if seen is None:
                seen = kinds[key] = set()
            if value is not None:
                seen.add(type(value))
    return {
        key: "float" if is_cost(key) else _column_type({kind.__name__ for kind in seen})
        for key, seen in kinds.items()
    }


def _column_type(seen: set[str]) -> str:
    if seen and seen <= {"bool"}:
        return "bool"
    if seen and seen <= {"int"}:
        return "int"
    if seen and seen <= {"int", "float", "bool"}:
        return "float"
    return "str"


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "str":
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return float(value) if kind == "float" else value


def export(run_dir: Path, fmt: str, output: Path | None = None) -> Path:
    """Write ``RUN_DIR/records.<fmt>`` (or ``output``); return where it went."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    folder = RunFolder(run_dir)
    completed = CompletedFile(folder.completed)
    if not completed.path.is_file():
        raise ExportError(f"{run_dir} has no {completed.path.name}: give a folder prompto-run wrote")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ExportError(PYARROW_MISSING)
    target = output or folder.exported(fmt)
    partial = target.with_name(target.name + ".partial")
    columns = scan(completed)
    try:
        _write(completed, columns, fmt, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def _cost(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _write(completed: CompletedFile, columns: dict[str, str], fmt: str, partial: Path) -> None:
    if fmt == "jsonl":
        with partial.open("w", encoding="utf-8") as file:
            for row in _records(completed):
                flat = {key: _cost(row.get(key)) if is_cost(key) else row.get(key) for key in columns}
                file.write(json.dumps(flat, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        with partial.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            for row in _records(completed):
                writer.writerow(
                    ["" if (v := _cell(row.get(k), t)) is None else v for k, t in columns.items()]
                )
    else:
        _write_parquet(completed, columns, partial)


def _write_parquet(completed: CompletedFile, columns: dict[str, str], path: Path) -> None:
    import pyarrow as pa  # type: ignore[import-not-found, import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found, import-untyped, unused-ignore]

    types = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    schema = pa.schema([(name, types[kind]) for name, kind in columns.items()])
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in _records(completed):
            batch.append({key: _cell(row.get(key), kind) for key, kind in columns.items()})
            if len(batch) == PARQUET_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
