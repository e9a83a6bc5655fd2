"""The one task that writes records: each finished record is appended to the file and flushed at once
(with the records already waiting behind it: one write for all that are ready, not a write each).

A crash or a ``kill -9`` therefore loses nothing already answered; at worst the last line is torn,
which resume detects and drops. Known secrets are scrubbed from every line before it is written.
A write that fails (disk full) stops the run through :class:`RecordsUnwritable`: every record written
before it is kept, and the ones still in the channel are sent again by a resume.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import trio

from providers import redact
from runner.run_folder._records import Finished


class RecordsUnwritable(Exception):
    """``completed.jsonl`` could not be written; ``error`` says why (``ENOSPC``: the disk is full)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot write records: {error}")
        self.error = error


MAX_RECORDS_PER_WRITE = 256


def _with_the_ready_ones(first: Finished, channel: trio.MemoryReceiveChannel[Finished]) -> list[Finished]:
    """``first`` and the records already waiting behind it (up to :data:`MAX_RECORDS_PER_WRITE`)."""
    ready = [first]
    while len(ready) < MAX_RECORDS_PER_WRITE:
        try:
            ready.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):  # the channel's end is seen by the next receive
            break
    return ready


def encode_record(record: dict[str, Any], secrets: Iterable[str] = ()) -> bytes:
    """One JSONL line, with any secret value scrubbed."""
    line = json.dumps(record, ensure_ascii=False, default=str)
    return (redact(line, secrets) + "\n").encode()


async def write_records(
    path: Path,
    receive_records: trio.MemoryReceiveChannel[Finished],
    *,
    on_record: Iterable[Callable[[Finished], None]] = (),
    secrets: Callable[[], list[str]] = list,
) -> None:
    """Append every record received to ``path`` until the channel closes, calling ``on_record`` hooks."""
    hooks = list(on_record)
    file = path.open("ab")
    try:
        async with receive_records:
            async for finished in receive_records:
                ready = _with_the_ready_ones(finished, receive_records)
                scrubbed = secrets()
                try:
                    file.write(b"".join(encode_record(one.record, scrubbed) for one in ready))
                    file.flush()
                except OSError as exc:
                    raise RecordsUnwritable(exc) from None
                for one in ready:
                    for hook in hooks:
                        hook(one)
    finally:
        with contextlib.suppress(OSError):  # the rest of a line that failed: the torn line resume drops
            file.close()
