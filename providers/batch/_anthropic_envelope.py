"""The one create call of an Anthropic batch, streamed from the chunk's lines file.

``{"requests": [...]}`` is the lines file itself between a head and a tail, each newline between two
lines sent as the comma between two requests, so a 256 MB batch is never held in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import trio

ENVELOPE_HEAD = b'{"requests":['
ENVELOPE_TAIL = b"]}"
READ_CHUNK = 2**20
"""Bytes of the lines file read (and sent) at a time."""


async def file_shape(lines: Path) -> tuple[int, bool]:
    """The lines file's size and whether it ends with a newline (not sent: it ends the last line)."""
    async with await trio.open_file(lines, "rb") as file:
        size = await file.seek(0, 2)
        if size == 0:
            raise ValueError(f"the batch lines file {lines} is empty")
        await file.seek(size - 1)
        return size, await file.read(1) == b"\n"


async def envelope(lines: Path, body_bytes: int) -> AsyncIterator[bytes]:
    """``{"requests":[`` + the lines joined by ``,`` + ``]}``, read from disk a chunk at a time: the
    newline between two JSON lines becomes their comma (JSON text escapes every newline in a value)."""
    yield ENVELOPE_HEAD
    left = body_bytes
    async with await trio.open_file(lines, "rb") as file:
        while left > 0:
            chunk = await file.read(min(READ_CHUNK, left))
            if not chunk:
                raise OSError(f"the batch lines file {lines} shrank while it was sent")
            left -= len(chunk)
            yield chunk.replace(b"\n", b",")
    yield ENVELOPE_TAIL
