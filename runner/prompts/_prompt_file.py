"""Reading prompto experiment files, JSONL or CSV, one line at a time.

Nothing here holds the whole file: lines are yielded one by one, each with its line number, so
that every problem can be reported where it is. A line that could not be sent to any API is such a
problem too, never a crash later: JSON nested deeper than :data:`MAX_NESTING`, a number Python will not
read (more digits than ``sys.get_int_max_str_digits()``) or that is not finite (``NaN``, ``Infinity``,
``1e400``: not JSON, so no API takes it), a lone UTF-16 surrogate (``"\\ud800"``: valid JSON escape,
but not Unicode text, so it cannot be encoded into a request). A UTF-8 byte order mark (Excel's "CSV
UTF-8", Notepad) is dropped.

CSV rules (as prompto's): columns are keys; ``parameters-NAME`` columns fold into ``parameters``;
a ``parameters`` column may hold a JSON object; empty cells are absent keys. Quoting is read strictly:
a quote left open is reported on the line of the row it opened in, not read as the rest of the file.

Values are typed per column as prompto's reader (``pandas.read_csv``) types them, so that an ``id`` of
``0`` is the number 0 and a merge on ``id`` with prompto's outputs matches (:class:`_ColumnKind`, a
first pass over the file): a column whose cells are all integers (int64 or uint64) holds ints; all
numbers, floats (an integer column with a missing cell too, as in pandas: ``1.0``); all ``True``/
``False`` in pandas' spellings, booleans; else the text. pandas' missing-value spellings (``NA``,
``None``, ``null``, ``NaN``...) are missing cells, which are absent keys here (never NaN). Three
differences, each where pandas' value could not be sent: the ``prompt`` column stays text; a
``parameters-NAME`` integer column with missing cells keeps ints (``max_tokens: 100``, not ``100.0``),
and its text cells that read as JSON (``["stop"]``, ``{...}``) become those values; ``inf`` is text.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from runner.config._errors import UserError

MAX_LINE_BYTES = 32 * 1024 * 1024
"""A longer line is reported as a problem rather than read into memory."""
MAX_NESTING = 100
"""JSON nested deeper (no prompt needs it) is a line problem, not a RecursionError somewhere later."""

_LONE_SURROGATE_ESCAPE = re.compile(  # starts with a literal, so the search skips along at C speed
    r"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD])[c-fC-F])"
)
"""A high surrogate escape with no low one after it, or a low one with no high one before it: where a
lone surrogate can come from (text read as UTF-8 holds none). A pair (an emoji written by
``json.dumps``) does not match; an escaped backslash before ``ud800`` may, and the value says."""


@dataclass(frozen=True, slots=True)
class PromptLine:
    """One line of a prompt file: its dict, or the reason it has none."""

    line_no: int
    data: dict[str, Any] | None
    problem: str | None = None


class PromptFileError(UserError, ValueError):
    """The file as a whole cannot be read (missing, unreadable, wrong kind, bad CSV header)."""


@dataclass(frozen=True, slots=True)
class FileState:
    """A file's size and modification time: what tells whether it changed."""

    size: int
    mtime_ns: int


def stat_state(path: Path) -> FileState:
    """The file's size and modification time now."""
    result = os.stat(path)
    return FileState(result.st_size, result.st_mtime_ns)


class PromptLines:
    """Every non-blank line of a ``.jsonl`` or ``.csv`` prompt file, in order (iterate once).

    Once read to its end, :attr:`read` is the file as it was then: the bytes read and its mtime, so
    that a file still being written meanwhile can be told apart from the one validated
    (:func:`changed_since_read`).
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise PromptFileError(f"prompt file '{path}' does not exist")
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise PromptFileError(f"prompt file '{path}' must end in .jsonl or .csv")
        self.path = path
        self.read: FileState | None = None

    def __iter__(self) -> Iterator[PromptLine]:
        return cast(Iterator[PromptLine], self._lines(parse=True))

    def raw(self) -> Iterator[PromptLine | tuple[int, bytes]]:
        """As iterating, but each JSONL line that is not already a problem comes unparsed, as its line
        number and bytes (the first line's byte order mark dropped): for a caller with a faster parser,
        which hands any line it will not take to :func:`parse_json_line` for every check. CSV rows come
        as :class:`PromptLine`."""
        return self._lines(parse=False)

    def _lines(self, *, parse: bool) -> Iterator[PromptLine | tuple[int, bytes]]:
        try:
            file = self.path.open("rb")
        except OSError as exc:
            raise PromptFileError(f"prompt file '{self.path}' cannot be read: {exc.strerror}") from exc
        with file:
            if self.path.suffix.lower() == ".csv":
                yield from _csv_lines(file, self.path)
            elif parse:
                yield from _jsonl_lines(file)
            else:
                yield from _jsonl_raw_lines(file)
            self.read = FileState(file.tell(), os.fstat(file.fileno()).st_mtime_ns)


def read_prompt_lines(path: Path) -> PromptLines:
    """Every non-blank line of a ``.jsonl`` or ``.csv`` prompt file, in order."""
    return PromptLines(path)


def changed_since_read(path: Path, read: FileState) -> str | None:
    """How ``path`` differs from when it was read to its end (``read``), or None if it does not."""
    try:
        now = stat_state(path)
    except OSError as exc:
        return f"it can no longer be read ({exc.strerror})"
    if now.size > read.size:
        return f"{now.size - read.size:,} bytes were added to it after it was read"
    if now != read:
        return "it was changed after it was read"
    return None


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


def _jsonl_lines(file: IO[bytes]) -> Iterator[PromptLine]:
    for line in _jsonl_raw_lines(file):
        yield line if isinstance(line, PromptLine) else parse_json_line(line[1], line[0])


def _jsonl_raw_lines(file: IO[bytes]) -> Iterator[PromptLine | tuple[int, bytes]]:
    line_no = 0
    while raw := file.readline(MAX_LINE_BYTES + 1):
        line_no += 1
        if line_no == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest_of_line(file)
            yield PromptLine(line_no, None, f"line is longer than the {_size(MAX_LINE_BYTES)} limit")
        elif not raw.isspace():  # the blank lines are skipped (isspace(): no copy, as strip() makes)
            yield line_no, raw


def _skip_rest_of_line(file: IO[bytes]) -> None:
    while chunk := file.readline(1 << 20):
        if chunk.endswith(b"\n"):
            break


def parse_json_line(raw: bytes, line_no: int) -> PromptLine:
    """One JSONL line's dict, or the problem that keeps it from being sent."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return PromptLine(line_no, None, f"not UTF-8 text (byte {exc.start + 1} of the line)")
    try:
        value = load_json(text)
    except json.JSONDecodeError as exc:
        return PromptLine(line_no, None, f"malformed JSON: {exc.msg} at column {exc.colno}")
    except UnsendableJson as exc:
        return PromptLine(line_no, None, str(exc))
    if not isinstance(value, dict):
        return PromptLine(line_no, None, f"a prompt line must be a JSON object, not {type(value).__name__}")
    return PromptLine(line_no, value)


def _csv_lines(binary: IO[bytes], path: Path) -> Iterator[PromptLine]:
    kinds = _column_kinds(binary)
    binary.seek(0)
    # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark, which would rename the first column.
    file = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    # strict: a quote left open raises instead of reading every later row into one cell.
    reader = csv.reader(file, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as exc:
        raise PromptFileError(f"prompt file '{path}' is not UTF-8 text") from exc
    except csv.Error as exc:
        raise PromptFileError(f"CSV header of '{path}' cannot be read: {exc}") from exc
    if len(set(header)) != len(header) or any(not name.strip() for name in header):
        raise PromptFileError(f"CSV header of '{path}' has empty or repeated column names: {header}")
    first_line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            raise PromptFileError(
                f"prompt file '{path}' is not UTF-8 text (after line {first_line - 1})"
            ) from exc
        except csv.Error as exc:  # the reader goes on at the next line
            yield PromptLine(first_line, None, _row_problem(exc, first_line, reader.line_num))
            first_line = reader.line_num + 1
            continue
        line_no, first_line = first_line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield PromptLine(line_no, None, f"row has {len(row)} cells but the header has {len(header)}")
            continue
        data, fold_problem = _fold_row(header, row, kinds)
        yield PromptLine(line_no, None, fold_problem) if fold_problem else PromptLine(line_no, data)
    file.detach()  # the caller closes the binary file, and reads how far it got


def _row_problem(exc: csv.Error, first_line: int, last_line: int) -> str:
    if str(exc) == "unexpected end of data":
        return (
            f"a quoted cell opened in this row is never closed (the file ends inside it, at line "
            f'{last_line}): close the quote, or double a quote meant inside a cell ("")'
        )
    if "expected after '\"'" not in str(exc):
        return f"unreadable CSV row: {exc}"  # a NUL byte, a cell over csv.field_size_limit()
    spans = f" (the row runs to line {last_line}: is a quote left open?)" if last_line > first_line else ""
    return f"broken CSV quoting: {exc}{spans}"


_NA_CELLS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"}
    | {"N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
"""pandas' default missing-value spellings (``pandas._libs.parsers.STR_NA_VALUES``), matched exactly."""
_TRUE_CELLS = frozenset({"True", "TRUE", "true"})
_FALSE_CELLS = frozenset({"False", "FALSE", "false"})
_INT_CELL = re.compile(r"\s*[+-]?[0-9]+\s*")
_FLOAT_CELL = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


class _ColumnKind:
    """What pandas would make of one column, told from its cells one at a time."""

    __slots__ = ("all_bool", "all_int", "all_number", "has_missing", "has_value", "largest", "smallest")

    def __init__(self) -> None:
        self.has_value = self.has_missing = False
        self.all_int = self.all_number = self.all_bool = True
        self.smallest = self.largest = 0

    def add(self, cell: str) -> None:
        if cell in _NA_CELLS:
            self.has_missing = True
            return
        self.has_value = True
        if self.all_bool and cell not in _TRUE_CELLS and cell not in _FALSE_CELLS:
            self.all_bool = False
        if not self.all_number:
            return
        if self.all_int and _INT_CELL.fullmatch(cell):
            if len(cell.strip().lstrip("+-")) > 20:  # past 64 bits: pandas keeps the column as text
                self.all_int = self.all_number = False
                return
            value = int(cell)
            self.smallest, self.largest = min(self.smallest, value), max(self.largest, value)
            return
        self.all_int = False
        if not _FLOAT_CELL.fullmatch(cell) or not math.isfinite(float(cell)):
            self.all_number = False

    def kind(self) -> str:
        """``int``, ``float``, ``int?`` (integers and missing cells: pandas' floats), ``bool`` or ``str``."""
        if not self.has_value:
            return "str"
        if self.all_int and self.smallest >= _INT64_MIN:
            if self.largest <= _INT64_MAX or (self.smallest >= 0 and self.largest <= _UINT64_MAX):
                return "int?" if self.has_missing else "int"
            return "str"  # pandas keeps integers past 64 bits as text
        if self.all_number and not self.all_int:
            return "float"
        return "bool" if self.all_bool else "str"


def _column_kinds(binary: IO[bytes]) -> list[str]:
    """Each column's kind (:meth:`_ColumnKind.kind`), from a first pass over the file; rows the second
    pass reports as problems (broken quoting, wrong cell count) are left out, as is any text after a
    byte that is not UTF-8."""
    file = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    reader = csv.reader(file, strict=True)
    columns: list[_ColumnKind] = []
    try:
        header = next(reader)
        columns = [_ColumnKind() for _ in header]
        while True:
            try:
                row = next(reader)
            except csv.Error:
                continue
            if len(row) == len(columns) and any(cell.strip() for cell in row):
                for column, cell in zip(columns, row, strict=True):
                    column.add(cell)
    except (StopIteration, UnicodeDecodeError, csv.Error):
        pass
    file.detach()
    return [column.kind() for column in columns]


def _typed(cell: str, kind: str, *, parameter: bool) -> Any:
    if kind == "int" or (kind == "int?" and parameter):
        return int(cell)
    if kind in ("float", "int?"):
        return float(cell)
    if kind == "bool":
        return cell in _TRUE_CELLS
    return _cell_value(cell) if parameter else cell


def _fold_row(header: list[str], row: list[str], kinds: list[str]) -> tuple[dict[str, Any], str | None]:
    data: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for name, cell, kind in zip(header, row, kinds, strict=True):
        if cell in _NA_CELLS:
            continue
        try:
            if name == "parameters":
                try:
                    parsed = load_json(cell)
                except json.JSONDecodeError:
                    return data, "the 'parameters' cell is not valid JSON"
                if not isinstance(parsed, dict):
                    return data, "the 'parameters' cell must hold a JSON object"
                parameters.update(parsed)
            elif name.startswith("parameters-"):
                parameters[name.removeprefix("parameters-")] = _typed(cell, kind, parameter=True)
            else:
                data[name] = cell if name == "prompt" else _typed(cell, kind, parameter=False)
        except UnsendableJson as exc:
            return data, f"the {name!r} cell: {exc}"
    if parameters:
        data["parameters"] = parameters
    return data, None


def _cell_value(cell: str) -> Any:
    try:
        return load_json(cell)
    except json.JSONDecodeError:
        return cell


class UnsendableJson(ValueError):
    """JSON that Python reads as something no API can be sent; the message says what and where."""


def load_json(text: str) -> Any:
    """``json.loads``, raising :class:`UnsendableJson` for what would fail later, on every API: nesting
    deeper than :data:`MAX_NESTING`, a number too long for Python or not finite, a lone surrogate.
    Malformed JSON raises ``json.JSONDecodeError`` as ever."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise UnsendableJson(f"JSON nested more than {MAX_NESTING} levels deep") from None
    except (json.JSONDecodeError, UnsendableJson):
        raise
    except ValueError as exc:  # int("1" * 5000): Python's guard against quadratic conversions
        limit = sys.get_int_max_str_digits()
        raise UnsendableJson(f"a number has more than {limit:,} digits, more than Python reads") from exc
    # Both scans run only on lines that could hold the problem (C-speed counts decide).
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting_exceeds(value, MAX_NESTING):
        raise UnsendableJson(f"JSON nested more than {MAX_NESTING} levels deep")
    if _LONE_SURROGATE_ESCAPE.search(text) and (where := _lone_surrogate(value, "")) is not None:
        raise UnsendableJson(
            f"a lone surrogate escape {where}: it is not Unicode text, so no API can be sent it "
            "(often a cut emoji in scraped text); remove it or write the whole character"
        )
    return value


def _refuse_constant(name: str) -> float:
    raise UnsendableJson(f"{name} is not a number JSON allows (no API accepts it)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsendableJson(f"the number {text} is too large to be a float")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
"""One decoder for every line (``json.loads`` with hooks would build one per call)."""


def _nesting_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _lone_surrogate(value: Any, path: str) -> str | None:
    """Where the first lone surrogate is (``'\\ud800' in prompt[0].content at character 5``), if any."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"'\\u{ord(value[exc.start]):04x}' in {path or 'the line'} at character {exc.start + 1}"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = _lone_surrogate(key, f"a key of {path or 'the line'}") or _lone_surrogate(
                item, f"{path}.{key}" if path else str(key)
            )
            if where is not None:
                return where
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (where := _lone_surrogate(item, f"{path}[{index}]")) is not None:
                return where
    return None


def _size(n_bytes: int) -> str:
    return f"{n_bytes // 2**20} MiB" if n_bytes % 2**20 == 0 else f"{n_bytes:,}-byte"
