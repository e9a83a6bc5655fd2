"""A queue in batch mode: its prompts go to the provider in batches, half price, within a day.

Inside the queue's nursery::

    feeder ──▶ chunk per (api, model) ──sealed at the API's limits──▶ submit ──▶ poll ──▶ collect ──▶ results
       │           ▲                                                                      │
       │           └──────────── failed or expired requests (batch.retry=batch) ──────────┘
       └──▶ live queue: prompts of APIs without a batch API, multi-turn prompts, batch.retry=live

Every step that the provider could see is recorded in the run folder's ledger
(:mod:`runner.run_folder._batches`) before the next one: a chunk's files and its ``intent`` before it
is submitted, its batch id as soon as the provider accepts it. After a crash, ``resume=`` re-attaches
to every batch not yet collected (:attr:`BatchQueueRunner.reattach`), finds at the provider by its tag
a batch accepted but never recorded, and so submits nothing twice.

A batch result becomes the same record a live reply makes (``batch: {id, chunk, custom_id}`` added);
a failed request is decided by the same retry rules (:func:`runner.engine._retry.decide`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from providers import BadRequest, Completion, ProviderError, Usage
from providers._ratelimit import with_wait_policy
from providers.batch import (
    BatchApi,
    BatchCancelled,
    BatchLimits,
    BatchNotRun,
    BatchStatus,
    BatchTag,
    batch_api_for,
    completed_counts,
)
from runner.config._config import RunConfig
from runner.config._log import LOGGER_NAME
from runner.costs._budget import budget_refusal
from runner.costs._spending import Spending
from runner.engine._prompt_source import ChannelPrompts, PromptSource
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import QueueRunner, QueueStatistics
from runner.engine._retry import Action, decide
from runner.prompts._resolve import ResolvedPrompt, resolve_prompt
from runner.prompts._routing import QueueKey, batch_wanted, queue_limit
from runner.run_folder._batches import BatchLedger, ChunkEntry, ChunkFiles
from runner.run_folder._records import (
    Finished,
    completed_record,
    not_sent_record,
    reply_fields,
    utc_timestamp,
)

logger = logging.getLogger(LOGGER_NAME)

_T = TypeVar("_T")
MB = 2**20
FIRST_RETRY_S = 2.0


@dataclass
class _Endpoint:
    """One (api, model) batching in this queue, and the chunk it is filling."""

    api: BatchApi
    limits: BatchLimits
    filling: ChunkFiles | None = None
    chunk: int | None = None


@dataclass
class _Retry:
    prompt: ResolvedPrompt
    attempts: int


@dataclass
class _Counts:
    done: int = 0
    ok: int = 0
    in_batches: int = 0
    """Requests in batches submitted (or about to be) and not yet collected."""
    states: dict[int, BatchStatus] = field(default_factory=dict)


class BatchQueueRunner:
    """Runs one queue in batch mode: the interface of :class:`QueueRunner` (``run``, ``statistics``,
    ``limiter``), with prompts that cannot be batched sent through an inner live queue."""

    def __init__(
        self,
        key: QueueKey,
        live: Callable[[PromptSource, trio.MemorySendChannel[Finished]], QueueRunner],
        source: PromptSource,
        config: RunConfig,
        providers: ProviderSet,
        results: trio.MemorySendChannel[Finished],
        ledger: BatchLedger,
        *,
        reattach: list[ChunkEntry] | None = None,
        owed: Callable[[str, int], bool] = lambda prompt_id, chunk: True,
        spending: Spending | None = None,
    ) -> None:
        """``live`` makes the inner live queue from its source and results channel; ``reattach``: chunks
        of an earlier session to collect; ``owed(prompt_id, chunk)``: whether a result of ``chunk`` for
        that prompt is still wanted (a resume skips prompts already answered or owned by a later chunk)."""
        self.key = key
        self.source = source
        self.reattach = list(reattach or [])
        self._reattached_chunks = {entry.chunk for entry in self.reattach}
        self._config = config
        self._providers = providers
        self._results = results
        self._ledger = ledger
        self._owed = owed
        self._send_live, receive_live = trio.open_memory_channel[ResolvedPrompt](0)
        self._live = live(ChannelPrompts(receive_live), results.clone())
        self.limiter = self._live.limiter
        self._spending = spending
        # the live queue's budget, made first, carries the queue's cap (a stage model's own included)
        self._budget = spending.budget_for(key, queue_limit(config, key).max_usd) if spending else None
        self._endpoints: dict[tuple[str, str], _Endpoint | None] = {}
        self._said_live: set[str] = set()
        self._feeding_done = False
        self._counts = _Counts()
        self.reattached_total = sum(self._owed_count(entry) for entry in self.reattach)
        self.pending: list[ChunkEntry] = []
        """Chunks left at the provider when the run ended (``batch.wait=false``, or polling refused)."""

    # -- progress --------------------------------------------------------------------------------

    def statistics(self) -> QueueStatistics:
        """The batches' counts and states, with the inner live queue's."""
        live = self._live.statistics()
        own = self._counts
        states = [completed_counts(status) for _, status in sorted(own.states.items())]
        return QueueStatistics(
            key=str(self.key),
            total=self.source.planned + self.reattached_total,
            done=own.done + live.done,
            ok=own.ok + live.ok,
            failed=own.done - own.ok + live.failed,
            retrying=live.retrying,
            in_flight=own.in_batches + live.in_flight,
            stopped_reason=live.stopped_reason,
            batches=f"{len(states)} batch(es): {'; '.join(states)}" if states else None,
        )

    # -- the queue -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Batch, submit, wait for and collect every prompt of the queue; the rest go live."""
        try:
            await self._run()
        finally:
            with trio.CancelScope(shield=True):
                for endpoint in self._endpoints.values():
                    if endpoint is not None:
                        await endpoint.api.aclose()

    async def _run(self) -> None:
        async with self._results, trio.open_nursery() as nursery:
            nursery.start_soon(self._live.run)
            async with trio.open_nursery() as batches:
                for entry in self.reattach:
                    batches.start_soon(
                        self._follow,
                        self._endpoint(entry.api, entry.model_name, reattached=True),
                        entry,
                        batches,
                    )
                await self._feed(batches)
            self._send_live.close()

    async def _feed(self, batches: trio.Nursery) -> None:
        async with aclosing(self.source.prompts()) as prompts:
            async for prompt in prompts:
                endpoint = (
                    None if prompt.conversation.multi_turn else self._endpoint(prompt.api, prompt.model_name)
                )
                if endpoint is None:
                    await self._send_live.send(prompt)
                else:
                    await self._add(endpoint, prompt, 0, batches)
        self._feeding_done = True
        self._seal_all(batches)

    def _endpoint(self, api: str, model_name: str, *, reattached: bool = False) -> _Endpoint | None:
        """The batching state of (api, model), or ``None`` where its prompts go live."""
        key = (api, model_name)
        if key not in self._endpoints:
            provider, _ = self._providers.get(api, model_name)
            wanted = reattached or batch_wanted(self._config, self.key, api)
            batch_api = batch_api_for(provider) if wanted else None
            if batch_api is None and batch_wanted(self._config, self.key, api) and api not in self._said_live:
                self._said_live.add(api)
                logger.warning("api '%s' has no batch API: queue %s sends its prompts live", api, self.key)
            if batch_api is not None:  # batches of other chunks are never found for this one
                batch_api.claimed.update(e.batch_id for e in self._ledger.chunks.values() if e.batch_id)
            self._endpoints[key] = (
                None if batch_api is None else _Endpoint(batch_api, self._limits(batch_api))
            )
        return self._endpoints[key]

    def _limits(self, batch_api: BatchApi) -> BatchLimits:
        settings, own = self._config.batch, batch_api.limits
        max_requests = min(own.max_requests, settings.max_requests or own.max_requests)
        max_bytes = min(own.max_bytes, int(settings.max_mb * MB) if settings.max_mb else own.max_bytes)
        return BatchLimits(max_requests, max_bytes)

    async def _add(
        self, endpoint: _Endpoint, prompt: ResolvedPrompt, attempts: int, batches: trio.Nursery
    ) -> None:
        """Put one prompt in its endpoint's filling chunk; seal the chunk first if it would not fit."""
        request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
        if self._budget is not None and self._spending is not None:
            worst = self._spending.worst_case_usd(prompt, request, batch=True)
            if (refusing := self._budget.reserve(worst)) is not None:
                refusal = budget_refusal(refusing, worst)
                await self._finish(not_sent_record(prompt, refusal, attempts, "budget"), ok=False)
                return
        for _ in range(2):  # a second time in a new chunk, whose custom ids differ
            files, chunk = self._filling(endpoint)
            tag = BatchTag(self._ledger.run_id, chunk)
            try:
                line = await endpoint.api.request_line(tag.custom_id(files.count), request)
            except ProviderError as exc:  # a media file refused as it is read, say
                await self._record_failure(prompt, attempts + 1, exc, None)
                return
            encoded = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            limits = endpoint.limits
            if len(encoded) > limits.max_bytes:
                too_big = BadRequest(
                    f"request of {len(encoded):,} bytes is over the batch limit ({limits.max_bytes:,})"
                )
                await self._record_failure(prompt, attempts + 1, too_big, None)
                return
            fits = files.count < limits.max_requests and files.bytes + len(encoded) <= limits.max_bytes
            if fits or files.count == 0:
                files.add(encoded, prompt.data, attempts)
                self._counts.in_batches += 1
                if files.count >= limits.max_requests:
                    self._seal(endpoint, batches)
                return
            self._seal(endpoint, batches)
        raise AssertionError("a request that fits an empty chunk did not fit it")

    def _filling(self, endpoint: _Endpoint) -> tuple[ChunkFiles, int]:
        if endpoint.filling is None or endpoint.chunk is None:
            endpoint.chunk = self._ledger.reserve_chunk()
            endpoint.filling = self._ledger.files(endpoint.chunk)
        return endpoint.filling, endpoint.chunk

    def _seal_all(self, batches: trio.Nursery) -> None:
        for endpoint in self._endpoints.values():
            if endpoint is not None:
                self._seal(endpoint, batches)

    def _seal(self, endpoint: _Endpoint, batches: trio.Nursery) -> None:
        """Write the filling chunk to disk, record its intent, and submit it in a task of its own."""
        files, chunk = endpoint.filling, endpoint.chunk
        endpoint.filling = endpoint.chunk = None
        if files is None or chunk is None or files.count == 0:
            return
        files.seal()
        provider = endpoint.api.provider
        entry = ChunkEntry(
            chunk=chunk,
            run_id=self._ledger.run_id,
            queue=str(self.key),
            api=provider.api,
            model_name=provider.model_name,
            requests=files.count,
            bytes=files.bytes,
            intent_at=utc_timestamp(),
        )
        self._ledger.intent(entry)
        batches.start_soon(self._follow, endpoint, entry, batches, False)

    # -- one batch: submit, poll, collect --------------------------------------------------------

    async def _follow(
        self, endpoint: _Endpoint | None, entry: ChunkEntry, batches: trio.Nursery, reattached: bool = True
    ) -> None:
        """Take one chunk from wherever it stands (only intended, submitted, done) to collected."""
        if endpoint is None:  # resumed with a config under which this api no longer batches
            raise AssertionError(f"chunk {entry.chunk} of api '{entry.api}' has no batch API in this run")
        tag = BatchTag(entry.run_id, entry.chunk)
        api = endpoint.api
        batch_id = entry.batch_id or await self._submitted(api, tag, entry, reattached)
        if batch_id is None:
            return
        status = await self._wait(api, entry, batch_id)
        if status is None:
            self.pending.append(entry)
            return
        retries = await self._collect(api, entry, batch_id, status, tag)
        await self._retry(retries, batches)

    async def _submitted(
        self, api: BatchApi, tag: BatchTag, entry: ChunkEntry, reattached: bool
    ) -> str | None:
        """The chunk's batch id: found at the provider (a batch accepted before a crash, never
        recorded), else from submitting it; recorded in the ledger before anything else happens."""
        found = None
        if reattached:
            found = await self._call(
                f"looking for batch {tag.label}", lambda: api.find(tag, entry.requests, entry.intent_time)
            )
            if found is not None:
                logger.info(
                    "queue %s: chunk %d is batch %s at the provider: not submitted again",
                    self.key,
                    entry.chunk,
                    found,
                )
        batch_id = found or await self._submit(api, tag, entry)
        if batch_id is not None:
            self._ledger.submitted(entry.chunk, batch_id)
            if found is None:
                logger.info(
                    "queue %s: batch %s submitted (chunk %d, %d requests)",
                    self.key,
                    batch_id,
                    entry.chunk,
                    entry.requests,
                )
        return batch_id

    async def _submit(self, api: BatchApi, tag: BatchTag, entry: ChunkEntry) -> str | None:
        """Submit the chunk; after a failure that may have reached the provider, look for it first."""
        files = self._ledger.files(entry.chunk)
        for attempt in range(1, self._config.max_attempts + 1):
            try:
                return await api.submit(tag, files.requests, entry.requests)
            except ProviderError as exc:
                error = with_wait_policy(exc)
                if not error.retryable or attempt == self._config.max_attempts:
                    logger.error(
                        "queue %s: batch of chunk %d refused: %s", self.key, entry.chunk, error.message
                    )
                    await self._fail_chunk(entry, error)
                    return None
                wait = max(error.retry_after or 0.0, FIRST_RETRY_S * 2 ** (attempt - 1))
                logger.warning(
                    "queue %s: submitting chunk %d failed (%s); again in %.0f s",
                    self.key,
                    entry.chunk,
                    error.message,
                    wait,
                )
                await trio.sleep(wait)
                found = await self._call(
                    f"looking for batch {tag.label}", lambda: api.find(tag, entry.requests, entry.intent_time)
                )
                if found is not None:
                    return found
        return None

    async def _wait(self, api: BatchApi, entry: ChunkEntry, batch_id: str) -> BatchStatus | None:
        """Poll until the batch is done (``None``: left running, as ``batch.wait=false`` asks)."""
        settings = self._config.batch
        interval = settings.poll_interval_s
        while True:
            try:
                status = await self._call(f"polling batch {batch_id}", lambda: api.status(batch_id))
            except ProviderError as exc:
                logger.error(
                    "queue %s: batch %s cannot be polled (%s): it is left at the provider; "
                    "resume= collects it",
                    self.key,
                    batch_id,
                    exc.message,
                )
                return None
            self._counts.states[entry.chunk] = status
            self._ledger.state(entry.chunk, status.state)
            if status.done:
                if status.message:
                    logger.warning(
                        "queue %s: batch %s ended %s: %s", self.key, batch_id, status.state, status.message
                    )
                return status
            if not settings.wait:
                return None
            await trio.sleep(interval)
            interval = min(interval * 2, settings.max_poll_interval_s)

    async def _collect(
        self, api: BatchApi, entry: ChunkEntry, batch_id: str, status: BatchStatus, tag: BatchTag
    ) -> list[_Retry]:
        """Turn every result into a record (or a retry); requests with no result were not run. A
        results file cut off half-way (the network) is read again, skipping what was settled."""
        files = self._ledger.files(entry.chunk)
        seen = bytearray(entry.requests)
        retries: list[_Retry] = []
        batch = {"id": batch_id, "chunk": entry.chunk}
        try:
            delay = FIRST_RETRY_S
            while True:
                try:
                    await self._read_results(api, entry, batch, status, tag, files, seen, retries)
                    break
                except ProviderError as exc:
                    error = with_wait_policy(exc)
                    if not error.retryable:
                        raise error from None
                    logger.warning(
                        "queue %s: reading the results of batch %s failed (%s); again in %.0f s",
                        *(self.key, batch_id, error.message, delay),
                    )
                    await trio.sleep(delay)
                    delay = min(delay * 2, self._config.batch.max_poll_interval_s)
            not_run: ProviderError = (
                BatchCancelled(f"batch {batch_id} was cancelled before this request ran")
                if entry.cancel_requested
                else BatchNotRun(f"batch {batch_id} ended ({status.state}) with no result for this request")
            )
            for index in range(entry.requests):
                if not seen[index]:
                    unreported = {**batch, "custom_id": tag.custom_id(index)}
                    await self._settle(files, index, entry, unreported, None, not_run, retries)
        finally:
            files.close()
        self._ledger.collected(entry.chunk)
        self._counts.states.pop(entry.chunk, None)
        return retries

    async def _read_results(
        self,
        api: BatchApi,
        entry: ChunkEntry,
        batch: dict[str, Any],
        status: BatchStatus,
        tag: BatchTag,
        files: ChunkFiles,
        seen: bytearray,
        retries: list[_Retry],
    ) -> None:
        results = api.results(str(batch["id"]), status, tag)
        async with aclosing(results):  # type: ignore[type-var]
            async for result in results:
                index = tag.index_of(result.custom_id)
                if index is None or index >= entry.requests:
                    logger.warning(
                        "batch %s: result for unknown request %r ignored", batch["id"], result.custom_id
                    )
                    continue
                if seen[index]:
                    continue  # settled before the file was cut off, or reported twice
                seen[index] = 1
                reported = {**batch, "custom_id": result.custom_id}
                await self._settle(files, index, entry, reported, result.completion, result.error, retries)

    async def _settle(
        self,
        files: ChunkFiles,
        index: int,
        entry: ChunkEntry,
        batch: dict[str, Any],
        completion: Any,
        error: ProviderError | None,
        retries: list[_Retry],
    ) -> None:
        stored = files.prompt_at(index)
        if stored is None:
            return
        data, attempts = stored
        attempts += 1
        self._counts.in_batches = max(0, self._counts.in_batches - 1)
        if not self._owed(str(data["id"]), entry.chunk):
            return
        prompt = resolve_prompt(data, self._config)
        cost = self._settle_cost(prompt, completion, reserved=entry.chunk not in self._reattached_chunks)
        if error is None:
            record = completed_record(
                prompt,
                response=completion.text,
                error=None,
                attempts=attempts,
                timestamp_sent=entry.submitted_at,
                latency_s=None,
                usage=completion.usage,
                finish_reason=completion.finish_reason,
                served_model=completion.model,
                cost_usd=cost,
            )
            record.update(reply_fields(completion, prompt.parameters))
            await self._finish({**record, "batch": batch}, ok=True)
            return
        if (
            not isinstance(error, BatchCancelled)
            and decide(error, attempts, self._config.max_attempts).action is Action.RETRY
        ):
            retries.append(_Retry(prompt, attempts))
            return
        await self._record_failure(prompt, attempts, error, batch)

    def _settle_cost(
        self, prompt: ResolvedPrompt, completion: Completion | None, *, reserved: bool
    ) -> float | None:
        """What the request cost at the batch price, settled against the worst case reserved for it
        (nothing was reserved in this session for a batch an earlier one submitted)."""
        if self._spending is None:
            return None
        usage = completion.usage if completion is not None else Usage()
        cost = self._spending.cost_usd(prompt.api, prompt.model_name, usage, batch=True)
        if self._budget is not None:
            request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
            worst = self._spending.worst_case_usd(prompt, request, batch=True) if reserved else 0.0
            self._budget.settle(worst, cost or 0.0, reserved=reserved)
        return cost

    async def _retry(self, retries: list[_Retry], batches: trio.Nursery) -> None:
        """Failed requests the rules retry: live, or in the next batch (sealed at once when the feeder
        is done)."""
        if not retries:
            return
        logger.info(
            "queue %s: %d request(s) of a batch will be sent again (%s)",
            self.key,
            len(retries),
            self._config.batch.retry,
        )
        for retry in retries:
            endpoint = self._endpoint(retry.prompt.api, retry.prompt.model_name)
            if self._config.batch.retry == "live" or endpoint is None:
                await self._send_live.send(retry.prompt)
            else:
                await self._add(endpoint, retry.prompt, retry.attempts, batches)
        if self._feeding_done:
            self._seal_all(batches)

    async def _fail_chunk(self, entry: ChunkEntry, error: ProviderError) -> None:
        """Record every prompt of a chunk the provider refused as a whole."""
        files = self._ledger.files(entry.chunk)
        try:
            for index in range(entry.requests):
                stored = files.prompt_at(index)
                if stored is not None and self._owed(str(stored[0]["id"]), entry.chunk):
                    self._counts.in_batches = max(0, self._counts.in_batches - 1)
                    prompt = resolve_prompt(stored[0], self._config)
                    self._settle_cost(prompt, None, reserved=entry.chunk not in self._reattached_chunks)
                    await self._record_failure(prompt, stored[1] + 1, error, None)
        finally:
            files.close()
        self._ledger.collected(entry.chunk)

    async def _record_failure(
        self, prompt: ResolvedPrompt, attempts: int, error: ProviderError, batch: dict[str, Any] | None
    ) -> None:
        record = completed_record(
            prompt,
            response=None,
            error=error.as_record(),
            attempts=attempts,
            timestamp_sent=None,
            latency_s=None,
        )
        await self._finish(record if batch is None else {**record, "batch": batch}, ok=False)

    async def _finish(self, record: dict[str, Any], *, ok: bool) -> None:
        self._counts.done += 1
        self._counts.ok += ok
        if self._spending is not None:
            self._spending.count(self.key, record)
        await self._results.send(Finished(self.key, record))

    async def _call(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """A batch API call, tried again while it fails with a transient error (the network, a 5xx):
        a batch waited for all night must survive a minute of lost Wi-Fi."""
        delay = FIRST_RETRY_S
        while True:
            try:
                return await call()
            except ProviderError as exc:
                error = with_wait_policy(exc)
                if not error.retryable:
                    raise error from None
                wait = min(max(delay, error.retry_after or 0.0), self._config.batch.max_poll_interval_s)
                logger.warning(
                    "queue %s: %s failed (%s); again in %.0f s", self.key, what, error.message, wait
                )
                await trio.sleep(wait)
                delay *= 2

    def _owed_count(self, entry: ChunkEntry) -> int:
        files = self._ledger.files(entry.chunk)
        return sum(1 for prompt_id in files.prompt_ids() if self._owed(prompt_id, entry.chunk))
