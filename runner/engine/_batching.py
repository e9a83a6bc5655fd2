"""A run's batch mode, wired once: which queues batch, which earlier batches they re-attach to.

:class:`Batching` is made by the run when batch mode is configured (or a resumed folder has batches):
it holds the run folder's ledger and, on a resume, the :class:`~runner.run_folder._batches.PendingBatches`
left by earlier sessions, and makes each queue a :class:`~runner.engine._batch_queue.BatchQueueRunner`
with the chunks that queue must collect. :func:`batch_summary` is the ``batches`` entry of
``summary.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import trio

from runner.config._config import RunConfig
from runner.costs._spending import Spending
from runner.engine._batch_queue import BatchQueueRunner
from runner.engine._prompt_source import PromptSource
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import QueueRunner
from runner.prompts._routing import QueueKey, record_queue
from runner.run_folder._batches import BatchLedger, ChunkEntry, PendingBatches
from runner.run_folder._records import Finished


class Batching:
    """The run's ledger and what earlier sessions left in it."""

    def __init__(
        self, ledger: BatchLedger, pending: PendingBatches | None, spending: Spending | None = None
    ) -> None:
        self.ledger = ledger
        self.pending = pending
        self.spending = spending

    def reattached_queues(self, config: RunConfig, planned: Mapping[QueueKey, Any]) -> list[QueueKey]:
        """Queues that only re-attach (every prompt of theirs waits in an earlier batch): the plan,
        which holds only prompts to send, has none of them."""
        names = {str(key) for key in planned}
        extra: dict[str, QueueKey] = {}
        for entry in self._reattach():
            if entry.queue not in names and entry.queue not in extra:
                files = self.ledger.files(entry.chunk)
                stored = files.prompt_at(0)
                files.close()
                if stored is not None:
                    extra[entry.queue] = record_queue(config, stored[0])
        return list(extra.values())

    def queue(
        self,
        key: QueueKey,
        live: Callable[[PromptSource, trio.MemorySendChannel[Finished]], QueueRunner],
        source: PromptSource,
        config: RunConfig,
        providers: ProviderSet,
        results: trio.MemorySendChannel[Finished],
    ) -> BatchQueueRunner:
        """Queue ``key`` in batch mode, with the earlier batches it is to collect."""
        reattach = [entry for entry in self._reattach() if entry.queue == str(key)]
        owed = self.pending.owed if self.pending is not None else _always
        return BatchQueueRunner(
            key,
            live,
            source,
            config,
            providers,
            results,
            self.ledger,
            reattach=reattach,
            owed=owed,
            spending=self.spending,
        )

    def _reattach(self) -> list[ChunkEntry]:
        return self.pending.chunks if self.pending is not None else []


def _always(prompt_id: str, chunk: int) -> bool:
    return True


def batches_left(ledger: BatchLedger | None) -> list[ChunkEntry]:
    """Batches at the provider whose results were not collected when the run ended."""
    return [] if ledger is None else ledger.uncollected()


def batch_summary(ledger: BatchLedger, left: list[ChunkEntry]) -> dict[str, Any]:
    """``summary.json``'s ``batches``: how many, and each batch still at the provider."""
    return {
        "count": len(ledger.chunks),
        "requests": sum(entry.requests for entry in ledger.chunks.values()),
        "pending": [
            {
                "chunk": entry.chunk,
                "batch_id": entry.batch_id,
                "api": entry.api,
                "model_name": entry.model_name,
                "requests": entry.requests,
                "state": entry.state,
            }
            for entry in left
        ],
    }
