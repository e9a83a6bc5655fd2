"""What the judge and rephrase stages share: a queue fed while the run goes on, and a records file.

A stage's requests go through an ordinary :class:`~runner.engine._queue.QueueRunner` (its own limiter,
retries and in-flight cap) whose prompts come from a memory channel
(:class:`~runner.engine._prompt_source.ChannelPrompts`) instead of the prompt file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import trio

from runner.config._config import RunConfig
from runner.config._eval_config import StageModel
from runner.costs._spending import Spending
from runner.engine._batching import Batching
from runner.engine._prompt_source import ChannelPrompts, PromptSource
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import QueueRunner, RunnableQueue
from runner.prompts._resolve import ResolvedPrompt, resolve_prompt
from runner.prompts._routing import QueueKey, batch_wanted, queue_limit
from runner.run_folder._records import Finished
from runner.run_folder._writer import encode_record

STAGE_JOB_BUFFER = 0
"""Stage prompts wait in the queue's own job buffer; the hand-over itself applies backpressure."""


@dataclasses.dataclass(frozen=True)
class StageQueue:
    """A queue of one stage model: send prompts to ``send_prompts``, close it when there are no more."""

    runner: RunnableQueue
    send_prompts: trio.MemorySendChannel[ResolvedPrompt]
    model: StageModel

    def close(self) -> None:
        """No more prompts: the queue ends once those already sent are finished."""
        self.send_prompts.close()


def open_stage_queue(
    key: QueueKey,
    model: StageModel,
    config: RunConfig,
    providers: ProviderSet,
    results: trio.MemorySendChannel[Finished],
    batching: Batching | None = None,
    spending: Spending | None = None,
) -> StageQueue:
    """Queue ``key`` sending to ``model`` at its own pace, handing records to ``results``; through the
    model's batch API when the run batches the model's api (``batching``)."""
    limit = queue_limit(config, key)
    updates: dict[str, Any] = {}
    if model.max_queries is not None:
        updates["max_queries"] = model.max_queries
    if model.max_in_flight is not None:
        updates["max_in_flight"] = model.max_in_flight
    if model.max_usd is not None:
        updates["max_usd"] = model.max_usd
    send_prompts, receive_prompts = trio.open_memory_channel[ResolvedPrompt](STAGE_JOB_BUFFER)
    source = ChannelPrompts(receive_prompts)
    limit = limit.model_copy(update=updates)

    def live(source: PromptSource, results: trio.MemorySendChannel[Finished]) -> QueueRunner:
        return QueueRunner(key, limit, source, config, providers, results, spending=spending)

    runner: RunnableQueue = (
        batching.queue(key, live, source, config, providers, results)
        if batching is not None and batch_wanted(config, key, model.api)
        else live(source, results)
    )
    return StageQueue(runner, send_prompts, model)


def stage_prompt(
    data: dict[str, Any], model: StageModel, queue: QueueKey, config: RunConfig
) -> ResolvedPrompt:
    """A stage's prompt dict (``id``, ``prompt`` and its own keys) addressed to ``model`` in ``queue``."""
    full = {**data, "api": model.api, "model_name": model.model_name, "parameters": dict(model.parameters)}
    return dataclasses.replace(resolve_prompt(full, config), queue=queue)


class StageFile:
    """A stage's own records file in the run folder (``judge.jsonl``, ``rephrase.jsonl``).

    Opened on the first record and kept open; each record is flushed as it is written, as the run's
    writer does. The stage closes it when its last record is in.
    """

    def __init__(self, path: Path, secrets: Callable[[], list[str]]) -> None:
        self.path = path
        self._secrets = secrets
        self._file: BinaryIO | None = None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and flush."""
        if self._file is None:
            self._file = self.path.open("ab")
        self._file.write(encode_record(record, self._secrets()))
        self._file.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
