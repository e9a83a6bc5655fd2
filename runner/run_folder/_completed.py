"""The one reader of ``completed.jsonl``, with one policy for a line that is not a record.

The writer appends whole lines and flushes each one, and a resume replaces the file atomically, so
a line that is not a JSON object is one of two things:

* A **torn last line**: no newline at its end, and not a JSON object. A crash, a ``kill -9`` or a
  full disk leaves it mid-write; its prompt has no record yet (a resume sends it again).
  :meth:`CompletedFile.records` skips it, keeps it in :attr:`CompletedFile.torn` and logs one warning.
* **Any other line** that is not a JSON object (it ends in a newline) was not written by a run: the
  file was edited or damaged since. :meth:`CompletedFile.records` stops with
  :class:`RecordsUnreadable`, naming the line, rather than leave a record out of a report, an export
  or a re-score without a word.

Blank lines are skipped; a last record that lost only its newline is read. The two callers that set
bad lines aside themselves read :meth:`CompletedFile.lines` instead (same parsing, same notion of
torn): resume moves them to ``failed-before-resume.jsonl``, merge lists them and writes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from runner.config._errors import UserError
from runner.config._log import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One line of the file, as read."""

    number: int
    """1-based."""
    raw: bytes
    """The bytes of the line, its newline included when it has one."""
    record: dict[str, Any] | None
    """The record, or None: the line is not a JSON object."""

    @property
    def terminated(self) -> bytes:
        """The line with its newline, for copying it on (a last record may have lost only that)."""
        return self.raw if self.raw.endswith(b"\n") else self.raw + b"\n"

    @property
    def torn(self) -> bool:
        """A write cut short: not a record, and no newline (so it can only be the last line)."""
        return self.record is None and not self.raw.endswith(b"\n")


class RecordsUnreadable(UserError):
    """A line of ``completed.jsonl`` other than a torn last one is not a record."""

    def __init__(self, path: Path, line: RecordLine) -> None:
        shown = line.raw[:60].decode("utf-8", "replace").rstrip("\n")
        super().__init__(
            f"line {line.number} of {path} is not a record ({shown!r}): a run writes whole JSON lines, "
            "so the file was changed after it was written. Fix or remove that line and try again."
        )
        self.path = path
        self.line = line


class CompletedFile:
    """A run's records file (``completed.jsonl`` or a merged or re-scored copy), read as it streams.

    One instance may be read several times (a check pass, then the real one): its torn last line is
    reported once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn: RecordLine | None = None
        """The torn last line :meth:`records` skipped, if any."""

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in file order; see the module's docstring for the lines that are not one."""
        with self.path.open("rb") as file:  # lines() without a RecordLine per record: a report reads 10^6
            for number, raw in enumerate(file, start=1):
                record = parse_record(raw)
                if record is not None:
                    yield record
                elif raw.strip():
                    line = RecordLine(number, raw, None)
                    if not line.torn:
                        raise RecordsUnreadable(self.path, line)
                    self._skip_torn(line)

    def scan(self, decode: Callable[[bytes], T]) -> Iterator[tuple[T, bytes]]:
        """Every record as ``decode`` reads its line, with the line: for a pass over a big file that
        needs a few fields of every record (a typed msgspec decoder skips the rest: twice the speed of
        :meth:`records`) and the whole of only some (:func:`parse_record` of their bytes). ``decode``
        raises ``ValueError`` for a line that is not a record (:func:`parse_record` gives None), which
        is then treated as :meth:`records` treats it."""
        with self.path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                try:
                    found = decode(raw)
                except ValueError:
                    if raw.strip():
                        line = RecordLine(number, raw, None)
                        if not line.torn:
                            raise RecordsUnreadable(self.path, line) from None
                        self._skip_torn(line)
                else:
                    yield found, raw

    def lines(self) -> Iterator[RecordLine]:
        """Every line but blank ones, records or not: for callers that set bad lines aside."""
        with self.path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                record = parse_record(raw)
                if record is not None or raw.strip():
                    yield RecordLine(number, raw, record)

    def _skip_torn(self, line: RecordLine) -> None:
        if self.torn is None:
            logger.warning(
                "%s: its last line (line %d, %d bytes) was cut short mid-write, as a crash leaves it; "
                "skipped (a resume sends its prompt again)",
                *(self.path, line.number, len(line.raw)),
            )
        self.torn = line


_decode = msgspec.json.Decoder().decode
"""About 4x json's speed, and the same values (orjson, as fast, reads integers past 64 bits as floats)."""


def parse_record(raw: bytes) -> dict[str, Any] | None:
    """The record a line holds, or None: the line is not a JSON object."""
    try:
        value = _decode(raw)
    except ValueError:  # msgspec is strict JSON: json still reads what else a run may write (NaN, inf)
        try:
            value = json.loads(raw)
        except ValueError:  # not JSON, or not UTF-8
            return None
    return value if isinstance(value, dict) else None
