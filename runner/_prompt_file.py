"""Reading prompto experiment files, JSONL or CSV, one line at a time.

Nothing here holds the whole file: lines are yielded one by one, each with its line number, so
that every problem can be reported where it is.

CSV rules (as prompto's): columns are keys; ``parameters-NAME`` columns fold into ``parameters``;
a ``parameters`` column may hold a JSON object; empty cells are absent keys. Parameter cells that read
as JSON numbers, booleans, lists or objects become those values.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MAX_LINE_BYTES = 32 * 1024 * 1024
"""A longer line is reported as a problem rather than read into memory."""


@dataclass(frozen=True, slots=True)
class PromptLine:
    """One line of a prompt file: its dict, or the reason it has none."""

    line_no: int
    data: dict[str, Any] | None
    problem: str | None = None


class PromptFileError(ValueError):
    """The file as a whole cannot be read (missing, unreadable, wrong kind, bad CSV header)."""


def read_prompt_lines(path: Path) -> Iterator[PromptLine]:
    """Every non-blank line of a ``.jsonl`` or ``.csv`` prompt file, in order."""
    if not path.is_file():
        raise PromptFileError(f"prompt file '{path}' does not exist")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_lines(path)
    if suffix == ".csv":
        return _csv_lines(path)
    raise PromptFileError(f"prompt file '{path}' must end in .jsonl or .csv")


def count_lines(path: Path) -> int:
    """Lines in the file (an upper bound on its prompts), read in 1 MB blocks without decoding."""
    lines = 0
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            lines += block.count(b"\n")
    return lines + 1


def read_dict_at(file: IO[bytes], offset: int) -> dict[str, Any]:
    """The prompt dict on the line starting at ``offset`` of a JSONL file already validated."""
    file.seek(offset)
    value: dict[str, Any] = json.loads(file.readline())
    return value


def _jsonl_lines(path: Path) -> Iterator[PromptLine]:
    try:
        file = path.open("rb")
    except OSError as exc:
        raise PromptFileError(f"prompt file '{path}' cannot be read: {exc.strerror}") from exc
    with file:
        line_no = 0
        while raw := file.readline(MAX_LINE_BYTES + 1):
            line_no += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                _skip_rest_of_line(file)
                yield PromptLine(line_no, None, f"line is longer than the {_size(MAX_LINE_BYTES)} limit")
            elif raw.strip():
                yield _parse_json_line(raw, line_no)


def _skip_rest_of_line(file: IO[bytes]) -> None:
    while chunk := file.readline(1 << 20):
        if chunk.endswith(b"\n"):
            break


def _parse_json_line(raw: bytes, line_no: int) -> PromptLine:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return PromptLine(line_no, None, f"not UTF-8 text (byte {exc.start + 1} of the line)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return PromptLine(line_no, None, f"malformed JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        return PromptLine(line_no, None, f"a prompt line must be a JSON object, not {type(value).__name__}")
    return PromptLine(line_no, value)


def _csv_lines(path: Path) -> Iterator[PromptLine]:
    try:
        file = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise PromptFileError(f"prompt file '{path}' cannot be read: {exc.strerror}") from exc
    with file:
        reader = csv.reader(file)
        try:
            header = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise PromptFileError(f"prompt file '{path}' is not UTF-8 text") from exc
        if len(set(header)) != len(header) or any(not name.strip() for name in header):
            raise PromptFileError(f"CSV header of '{path}' has empty or repeated column names: {header}")
        first_line = reader.line_num + 1
        try:
            for row in reader:
                line_no, first_line = first_line, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    yield PromptLine(
                        line_no, None, f"row has {len(row)} cells but the header has {len(header)}"
                    )
                    continue
                data, fold_problem = _fold_row(header, row)
                yield PromptLine(line_no, None, fold_problem) if fold_problem else PromptLine(line_no, data)
        except UnicodeDecodeError as exc:
            raise PromptFileError(
                f"prompt file '{path}' is not UTF-8 text (after line {first_line - 1})"
            ) from exc
        except csv.Error as exc:
            raise PromptFileError(f"prompt file '{path}', line {reader.line_num}: {exc}") from exc


def _fold_row(header: list[str], row: list[str]) -> tuple[dict[str, Any], str | None]:
    data: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=True):
        if cell == "":
            continue
        if name == "parameters":
            try:
                parsed = json.loads(cell)
            except json.JSONDecodeError:
                return data, "the 'parameters' cell is not valid JSON"
            if not isinstance(parsed, dict):
                return data, "the 'parameters' cell must hold a JSON object"
            parameters.update(parsed)
        elif name.startswith("parameters-"):
            parameters[name.removeprefix("parameters-")] = _cell_value(cell)
        else:
            data[name] = cell
    if parameters:
        data["parameters"] = parameters
    return data, None


def _cell_value(cell: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        return cell


def _size(n_bytes: int) -> str:
    return f"{n_bytes // 2**20} MiB" if n_bytes % 2**20 == 0 else f"{n_bytes:,}-byte"
