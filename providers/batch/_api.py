"""The batch contract: one small class per vendor batch API, beside the provider it batches for.

A :class:`BatchApi` turns requests into the lines of one batch, submits a batch tagged with the run
and chunk it belongs to, finds a tagged batch again after a crash, reports a batch's status, streams
its results and cancels it. It sends through :attr:`BatchApi.client` (:mod:`providers.batch._http`),
whose keys, endpoint, scrubbing and error classes are its provider's, and it parses each result with
the provider's own reply parser
(:meth:`JsonApiProvider.outcome`): a batch record is the same record a live request makes.

The engine (:mod:`runner.engine._batch_queue`) owns everything else: which prompts go in which chunk
(within :attr:`BatchApi.limits`), the run folder's ledger, polling, retries and records.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from providers._errors import ProviderError, TransientError
from providers._reply import Completion
from providers._types import ChatRequest
from providers.batch._http import BatchClient

if TYPE_CHECKING:
    from providers._json_api import JsonApiProvider

MB = 2**20


class BatchExpired(TransientError):
    """The batch's completion window ended before this request ran: worth another batch."""

    error_type = "batch_expired"


class BatchNotRun(TransientError):
    """The batch ended (failed, cancelled at the provider) before this request ran, or reported
    nothing for it: the request was never answered, so it may go in another batch."""

    error_type = "batch_not_run"


class BatchCancelled(ProviderError):
    """The batch was cancelled (``prompto-run cancel=``) before this request ran: not retried in this
    run; a later ``resume=`` sends it again, as it does every failed prompt."""

    error_type = "batch_cancelled"


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """The most one batch may hold: requests and bytes of request lines (the API's own limits)."""

    max_requests: int
    max_bytes: int


_TAG_PART = re.compile(r"^[0-9A-Za-z]{1,24}$")


@dataclass(frozen=True, slots=True)
class BatchTag:
    """What a batch is tagged with at the provider: the run (a random id saved in the run folder's
    ledger) and the chunk's number in that run. It is how :meth:`BatchApi.find` recognises a batch the
    provider accepted but the run folder never recorded (a crash between the two)."""

    run_id: str
    chunk: int

    def __post_init__(self) -> None:
        if not _TAG_PART.match(self.run_id) or self.chunk < 0:
            raise ValueError(f"bad batch tag {self.run_id!r}/{self.chunk}")

    @property
    def label(self) -> str:
        """``prompto-run:<run_id>:<chunk>``: a display name or metadata value (ASCII, under 64)."""
        return f"prompto-run:{self.run_id}:{self.chunk}"

    @property
    def metadata(self) -> dict[str, str]:
        """Key-value metadata for APIs that take it (OpenAI's batch ``metadata``)."""
        return {"prompto_run": self.run_id, "prompto_chunk": str(self.chunk)}

    def custom_id(self, index: int) -> str:
        """The id of the batch's ``index``-th request (0-based): ``<run_id>-<chunk>-<index>``, which fits
        every API's custom-id rules (``[A-Za-z0-9_-]{1,64}``)."""
        return f"{self.run_id}-{self.chunk}-{index}"

    def index_of(self, custom_id: str) -> int | None:
        """The request index a custom id of this tag names; ``None`` for any other id."""
        prefix = f"{self.run_id}-{self.chunk}-"
        if not custom_id.startswith(prefix) or not custom_id[len(prefix) :].isdigit():
            return None
        return int(custom_id[len(prefix) :])


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """One look at a batch."""

    state: str
    """The provider's own word for the state (``validating``, ``in_progress``, ``ended``...), shown
    as it is in the progress display and the ledger."""
    done: bool
    """Whether the batch will change no more: its results (whatever there are) can be collected."""
    total: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    """Counts as the provider reports them so far (Anthropic's stay 0 until the batch ends)."""
    message: str | None = None
    """Why the whole batch failed, where it did (OpenAI's validation ``errors``), for the log."""
    raw: dict[str, Any] | None = None
    """The provider's batch object, for what a subclass needs again to collect (file ids, URLs)."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one request of a batch: a completion, or the error it would have been live."""

    custom_id: str
    completion: Completion | None = None
    error: ProviderError | None = None


class BatchApi(ABC):
    """One vendor's batch API, for one provider (one api and model) of the run."""

    limits: ClassVar[BatchLimits]
    """The API's own limits per batch; the run's ``batch.max_requests`` / ``batch.max_mb`` may lower them."""
    tags_reliable: ClassVar[bool] = True
    """Whether :meth:`find` matches a batch by a tag it carries (``False``: by its size and time only, as
    for an API whose batches carry nothing a client sets). A batch found by a guess is collected (its
    results' custom ids then show whether it was the run's) but never cancelled."""

    def __init__(self, provider: JsonApiProvider) -> None:
        self.provider = provider
        self.client = BatchClient(provider)
        """Where the batch calls go: the provider's endpoint, key and error classes (:mod:`._http`)."""
        self.claimed: set[str] = set()
        """Batch ids known to belong to chunks already (the run folder's ledger fills it): :meth:`find`
        never hands one out for another chunk."""

    @abstractmethod
    async def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        """One line of the batch's request file (a JSON object), for ``request`` under ``custom_id``.

        The engine writes these lines, one JSON object each, to the chunk's request file in the run
        folder; :meth:`submit` sends that file in whatever shape the API wants.
        """

    @abstractmethod
    async def submit(self, tag: BatchTag, lines: Path, count: int) -> str:
        """Submit the ``count`` request lines of file ``lines`` as one batch tagged ``tag``; return the
        provider's batch id. Stream the file: never read a 200 MB batch into memory whole."""

    @abstractmethod
    async def find(self, tag: BatchTag, count: int, submitted_after: datetime) -> str | None:
        """The id of the batch tagged ``tag`` (``count`` requests, created at or after
        ``submitted_after``, UTC), if the provider holds one; listing stops at older batches."""

    @abstractmethod
    async def status(self, batch_id: str) -> BatchStatus:
        """The batch as the provider reports it now."""

    @abstractmethod
    def results(self, batch_id: str, status: BatchStatus, tag: BatchTag) -> AsyncIterator[BatchResult]:
        """Every request outcome the provider reports for a batch that is ``done``, streamed (a results
        file may hold 50,000 lines). Requests a failed batch names as invalid come out as their
        :class:`~providers.BadRequest`; requests it never ran may be left out (the engine treats a
        request with no result as :class:`BatchNotRun`)."""

    @abstractmethod
    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to cancel the batch (it may take a while to stop)."""

    async def aclose(self) -> None:
        """Close the batch API's clients (the provider's own are closed with it)."""
        await self.client.aclose()


def completed_counts(status: BatchStatus) -> str:
    """``1,200/5,000 done`` (or the bare state) for the progress display and the log."""
    if status.total is None:
        return status.state
    done = (status.succeeded or 0) + (status.failed or 0)
    return f"{status.state} {done:,}/{status.total:,}"
