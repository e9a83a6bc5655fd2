"""What a run folder keeps of its batches, so that a crash at any moment costs no batch twice.

``batches.jsonl`` is an append-only ledger, one event a line, each flushed and fsynced before the
run does anything else::

    {"event": "intent", "chunk": 3, "run_id": "…", "queue": "openai", "api": "openai",
     "model_name": "gpt-4o-mini", "requests": 5000, "bytes": 1234567, "at": "2026-12-01T10:00:00+00:00"}
    {"event": "submitted", "chunk": 3, "batch_id": "batch_abc", "at": "…"}
    {"event": "state", "chunk": 3, "state": "in_progress", "at": "…"}
    {"event": "collected", "chunk": 3, "at": "…"}
    {"event": "cancel_requested", "chunk": 3, "at": "…"}
    {"event": "abandoned", "chunk": 4, "at": "…"}   (a judge's batch an earlier session left)

Before its ``intent``, a chunk's two files are written and fsynced under ``batches/``:
``<chunk>.requests.jsonl`` (the request lines exactly as submitted) and ``<chunk>.prompts.jsonl``
(``{"attempts": n, "prompt": {...}}`` per request, in the same order: request ``i`` is line ``i``).
So every batch the provider may hold is known from an ``intent``: one with no ``submitted`` is looked
for at the provider by its tag (:meth:`providers.batch.BatchApi.find`) before it is submitted again.

Folding the events gives each chunk's :class:`ChunkEntry`. A prompt may be in several chunks (a
retry goes in a later one); the last chunk holding it owns it (:meth:`BatchLedger.owners`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from runner.config._log import LOGGER_NAME
from runner.prompts._routing import is_stage_queue
from runner.run_folder._completed import CompletedFile
from runner.run_folder._files import RunFolder
from runner.run_folder._records import utc_timestamp

logger = logging.getLogger(LOGGER_NAME)


@dataclass
class ChunkEntry:
    """One chunk (one batch) of the run, as its ledger events tell."""

    chunk: int
    run_id: str
    queue: str
    api: str
    model_name: str
    requests: int
    bytes: int
    intent_at: str
    batch_id: str | None = None
    submitted_at: str | None = None
    state: str | None = None
    collected: bool = False
    cancel_requested: bool = False

    @property
    def intent_time(self) -> datetime:
        """When the chunk was about to be submitted (the earliest its batch can have been created)."""
        return datetime.fromisoformat(self.intent_at)


class BatchLedger:
    """``batches.jsonl`` of one run folder: read once, then appended to event by event."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.chunks: dict[int, ChunkEntry] = {}
        if folder.batch_ledger.exists():
            for line in CompletedFile(folder.batch_ledger).lines():
                if line.record is not None:  # a torn last line was never acted on
                    self._fold(line.record)
        self.run_id = next(iter(self.chunks.values())).run_id if self.chunks else secrets.token_hex(6)
        """A random id tagging this run's batches at the provider (kept across resumes)."""
        self._file: BinaryIO | None = None
        self._next_chunk = max(self.chunks, default=-1) + 1

    def reserve_chunk(self) -> int:
        """A number for a new chunk (numbered in order over the run and its resumes; a number reserved
        by a chunk never sealed is not used again)."""
        self._next_chunk += 1
        return self._next_chunk - 1

    def files(self, chunk: int) -> ChunkFiles:
        """The request and prompt files of ``chunk``."""
        return ChunkFiles(self.folder.batch_chunks, chunk)

    def intent(self, entry: ChunkEntry) -> None:
        """The chunk's files are on disk and it is about to be submitted."""
        self.chunks[entry.chunk] = entry
        self._append(
            {
                "event": "intent",
                "chunk": entry.chunk,
                "run_id": entry.run_id,
                "queue": entry.queue,
                "api": entry.api,
                "model_name": entry.model_name,
                "requests": entry.requests,
                "bytes": entry.bytes,
                "at": entry.intent_at,
            }
        )

    def submitted(self, chunk: int, batch_id: str) -> None:
        """The provider accepted the chunk as batch ``batch_id``."""
        self._record({"event": "submitted", "chunk": chunk, "batch_id": batch_id})

    def state(self, chunk: int, state: str) -> None:
        """The batch's state changed (written only when it changes)."""
        if self.chunks[chunk].state != state:
            self._record({"event": "state", "chunk": chunk, "state": state})

    def collected(self, chunk: int) -> None:
        """Every result of the batch was handed to the run's writer."""
        self._record({"event": "collected", "chunk": chunk})

    def abandoned(self, chunk: int) -> None:
        """A judge's or rephraser's batch left by an earlier session: its requests are made again, as
        the records they were for are (those are written only once judged)."""
        self._record({"event": "abandoned", "chunk": chunk})

    def cancel_requested(self, chunk: int) -> None:
        """``prompto-run cancel=`` asked the provider to cancel the batch."""
        self._record({"event": "cancel_requested", "chunk": chunk})

    def uncollected(self) -> list[ChunkEntry]:
        """Chunks whose results have not all been collected, oldest first."""
        return [entry for _, entry in sorted(self.chunks.items()) if not entry.collected]

    def owners(self) -> dict[str, int]:
        """For each prompt id in any chunk, the last chunk holding it (the one whose result counts)."""
        owner: dict[str, int] = {}
        for chunk in sorted(self.chunks):
            for prompt_id in self.files(chunk).prompt_ids():
                owner[prompt_id] = chunk
        return owner

    def close(self) -> None:
        """Close the ledger file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _record(self, event: dict[str, Any]) -> None:
        event["at"] = utc_timestamp()
        self._fold(event)
        self._append(event)

    def _append(self, event: dict[str, Any]) -> None:
        if self._file is None:
            self.folder.path.mkdir(parents=True, exist_ok=True)
            self._file = self.folder.batch_ledger.open("ab")
        self._file.write(json.dumps(event, ensure_ascii=False).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def _fold(self, event: dict[str, Any]) -> None:
        kind, chunk = event.get("event"), event.get("chunk")
        if not isinstance(chunk, int):
            return
        if kind == "intent":
            self.chunks[chunk] = ChunkEntry(
                chunk=chunk,
                run_id=str(event["run_id"]),
                queue=str(event["queue"]),
                api=str(event["api"]),
                model_name=str(event["model_name"]),
                requests=int(event["requests"]),
                bytes=int(event["bytes"]),
                intent_at=str(event["at"]),
            )
            return
        entry = self.chunks.get(chunk)
        if entry is None:
            return
        if kind == "submitted":
            entry.batch_id, entry.submitted_at = str(event["batch_id"]), str(event.get("at"))
        elif kind == "state":
            entry.state = str(event["state"])
        elif kind in ("collected", "abandoned"):
            entry.collected = True
        elif kind == "cancel_requested":
            entry.cancel_requested = True


class ChunkFiles:
    """One chunk's ``requests`` and ``prompts`` files: written line by line, then sealed (fsynced)."""

    def __init__(self, directory: Path, chunk: int) -> None:
        self.requests = directory / f"{chunk:06d}.requests.jsonl"
        self.prompts = directory / f"{chunk:06d}.prompts.jsonl"
        self.count = 0
        self.bytes = 0
        """Bytes of request lines written (newlines included)."""
        self._writers: tuple[BinaryIO, BinaryIO] | None = None
        self._offsets: array[int] | None = None
        self._reader: BinaryIO | None = None

    def add(self, request_line: bytes, prompt: dict[str, Any], attempts: int) -> None:
        """Append one request (its encoded line, ending in a newline) and its prompt."""
        if self._writers is None:
            self.requests.parent.mkdir(parents=True, exist_ok=True)
            self._writers = (self.requests.open("wb"), self.prompts.open("wb"))
        requests, prompts = self._writers
        requests.write(request_line)
        prompts.write(
            json.dumps({"attempts": attempts, "prompt": prompt}, ensure_ascii=False).encode() + b"\n"
        )
        self.count += 1
        self.bytes += len(request_line)

    def seal(self) -> None:
        """Flush both files to disk and close them: what the ledger's ``intent`` will point at."""
        if self._writers is None:
            return
        for file in self._writers:
            file.flush()
            os.fsync(file.fileno())
            file.close()
        self._writers = None

    def discard(self) -> None:
        """Remove the files of a chunk never sealed (its prompts go elsewhere)."""
        if self._writers is not None:
            for file in self._writers:
                file.close()
            self._writers = None
        self.requests.unlink(missing_ok=True)
        self.prompts.unlink(missing_ok=True)

    def prompt_at(self, index: int) -> tuple[dict[str, Any], int] | None:
        """The prompt of request ``index`` and its attempts so far; ``None`` past the end. The file's
        line offsets are read once (8 bytes a request), the prompt itself from disk on each call."""
        if self._offsets is None or self._reader is None:
            self._offsets = array("q")
            self._reader = self.prompts.open("rb")
            position = 0
            for line in self._reader:
                self._offsets.append(position)
                position += len(line)
        if not 0 <= index < len(self._offsets):
            return None
        self._reader.seek(self._offsets[index])
        entry = json.loads(self._reader.readline())
        return entry["prompt"], int(entry["attempts"])

    def close(self) -> None:
        """Release the prompt file read by :meth:`prompt_at` (idempotent)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def prompt_ids(self) -> Iterator[str]:
        """The id of each request's prompt, in order."""
        if not self.prompts.exists():
            return
        with self.prompts.open("rb") as file:
            for line in file:
                yield str(json.loads(line)["prompt"]["id"])


class PendingBatches:
    """What a resume owes to batches of earlier sessions: the chunks to re-attach (not collected, and
    owning a prompt not yet answered), and for each of their prompts whether its result still counts."""

    def __init__(self, ledger: BatchLedger, is_unanswered: Callable[[str], bool]) -> None:
        for entry in ledger.uncollected():
            if is_stage_queue(entry.queue):
                logger.warning(
                    "resume: batch %s of %s (chunk %d) is not collected: its requests are made again",
                    *(entry.batch_id, entry.queue, entry.chunk),
                )
                ledger.abandoned(entry.chunk)
        uncollected = {entry.chunk for entry in ledger.uncollected()}
        self._owners: dict[str, int] = {
            prompt_id: chunk
            for prompt_id, chunk in ledger.owners().items()
            if chunk in uncollected and is_unanswered(prompt_id)
        }
        owning = set(self._owners.values())
        self.chunks = [entry for entry in ledger.uncollected() if entry.chunk in owning]
        """Chunks to re-attach to, oldest first."""
        self._reattached = owning
        for entry in ledger.uncollected():
            if entry.chunk not in owning:  # every prompt answered (or retried later): nothing to fetch
                ledger.collected(entry.chunk)

    def excludes(self, prompt_id: str) -> bool:
        """Whether the prompt waits in a batch of an earlier session (so it is not sent again)."""
        return prompt_id in self._owners

    def owed(self, prompt_id: str, chunk: int) -> bool:
        """Whether a result of ``chunk`` for the prompt counts: it does unless the chunk is re-attached
        and the prompt was answered since, or belongs to a later chunk."""
        owner = self._owners.get(prompt_id)
        return owner == chunk or (owner is None and chunk not in self._reattached)
