"""One queue of prompts: fed lazily from its source, paced by its limiter, retried at its back.

Inside the queue's nursery (the feeder takes the prompts of a :mod:`runner.engine._prompt_source`)::

    feeder ──jobs (bounded)──▶ dispatcher ──start_soon──▶ attempt ──results──▶ (the run's writer)
                 ▲                 │ takes a permit per request               │
                 └──── retries ────┴──────────────────────────────────────────┘

The dispatcher takes a job, then a permit, and starts the attempt without waiting for its reply, so
many requests are in flight at once. A failed attempt goes to the back of the queue (or pauses the
queue, or stops it) as :mod:`runner.engine._retry` decides. The job channel closes when the feeder is done
and no prompt of the queue is unfinished, which ends the dispatcher and then the queue.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from providers import (
    ChatRequest,
    Completion,
    Message,
    Provider,
    ProviderError,
    RateLimited,
    RequestTimeout,
    Usage,
)
from providers._ratelimit import honoured_limits, with_wait_policy
from runner.config._config import QueueLimit, RunConfig
from runner.config._log import LOGGER_NAME
from runner.costs._budget import Budget, budget_refusal
from runner.costs._spending import Spending
from runner.engine._cache import CachedReply, ResponseCache, cache_key
from runner.engine._limiter import RateLimiter, SharedTokens
from runner.engine._prompt_source import PromptSource
from runner.engine._provider_set import ProviderSet
from runner.engine._retry import Action, decide
from runner.engine._token_bucket import TokenBucket, estimate_tokens, usage_tokens
from runner.prompts._resolve import ResolvedPrompt
from runner.prompts._routing import QueueKey
from runner.run_folder._records import (
    Finished,
    completed_record,
    not_sent_record,
    reply_fields,
    utc_timestamp,
)

logger = logging.getLogger(LOGGER_NAME)

JOB_BUFFER = 256


class UnexpectedProviderError(ProviderError):
    """A provider raised something outside the hierarchy: a bug, recorded and logged with its traceback."""

    error_type = "unexpected"


@dataclass(slots=True, eq=False)
class Job:
    """A prompt on its way through the queue, with what earlier attempts achieved.

    Compared by identity: it is the borrower the queue's ``max_in_flight`` limiter lends to.
    """

    prompt: ResolvedPrompt
    attempts: int = 0
    replies: list[str] = field(default_factory=list)
    """Replies to the turns of a multi-turn prompt answered so far (kept across retries)."""
    usage: Usage = field(default_factory=Usage)
    """What the replies to the prompt's turns so far used, together (kept across retries)."""
    reserved_tokens: int = 0
    """Tokens taken from the queue's token bucket for the next request (0 without a TPM limit)."""
    cache_key: str | None = None
    """Set when the reply may be stored in the response cache."""
    reserved_usd: float = 0.0
    """The worst case of the next request, reserved in the queue's budget until its reply comes."""
    cost_usd: float = 0.0
    """What the replies so far cost (settled in the budget)."""
    reserved: bool = False
    """Whether the budget holds a reservation for the job (until its attempt ends)."""

    def add_usage(self, usage: Usage) -> None:
        """Add one reply's token counts to the prompt's totals."""
        self.usage = self.usage + usage


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """A snapshot of one queue for progress displays."""

    key: str
    total: int
    done: int
    ok: int
    failed: int
    retrying: int
    in_flight: int
    stopped_reason: str | None
    batches: str | None = None
    """In batch mode, each batch's state and counts (``2 batch(es): in_progress 120/5,000; ...``)."""


class RunnableQueue(Protocol):
    """What the run needs of a queue, live (:class:`QueueRunner`) or batched
    (:class:`~runner.engine._batch_queue.BatchQueueRunner`)."""

    key: QueueKey
    source: PromptSource
    limiter: RateLimiter

    def statistics(self) -> QueueStatistics: ...

    async def run(self) -> None: ...


class QueueRunner:
    """Runs one queue to completion: sends what ``source`` yields, paced by ``limit``; await :meth:`run`."""

    def __init__(
        self,
        key: QueueKey,
        limit: QueueLimit,
        source: PromptSource,
        config: RunConfig,
        providers: ProviderSet,
        results: trio.MemorySendChannel[Finished],
        *,
        cache: ResponseCache | None = None,
        shared: SharedTokens | None = None,
        spending: Spending | None = None,
    ) -> None:
        """``spending``: the run's prices and budgets (records then carry ``cost_usd``, and the queue
        stops sending when its budget, ``limit.max_usd`` inside the run's, has no room)."""
        self.key = key
        self.source = source
        self._fed = 0
        self._config = config
        self._providers = providers
        self._results = results
        self._cache = cache
        self._spending = spending
        self._budget = spending.budget_for(key, limit.max_usd) if spending is not None else None
        self._capped = _capped(self._budget)
        rate = limit.max_queries or config.max_queries
        self.limiter = RateLimiter(rate, shared)
        max_in_flight = limit.max_in_flight
        self._in_flight_limit = trio.CapacityLimiter(max_in_flight) if max_in_flight else None
        tpm = limit.max_tokens_per_minute
        self.tokens = TokenBucket(tpm) if tpm else None
        self._send_job, self._receive_job = trio.open_memory_channel[Job](JOB_BUFFER)
        self._unfinished = 0
        self._feeding_done = False
        self._stopped_reason: str | None = None
        self._done = self._ok = self._retrying = self._in_flight = 0

    def statistics(self) -> QueueStatistics:
        """Totals so far (``retrying``: failed attempts waiting to be sent again)."""
        return QueueStatistics(
            key=str(self.key),
            # Fed by a stage (rephrasings), a queue knows its total only once feeding is done.
            total=self._fed if self._feeding_done else max(self.source.planned, self._fed),
            done=self._done,
            ok=self._ok,
            failed=self._done - self._ok,
            retrying=self._retrying,
            in_flight=self._in_flight,
            stopped_reason=self._stopped_reason,
        )

    async def run(self) -> None:
        """Send every prompt of the queue and hand each finished record to ``results``."""
        async with self._results, trio.open_nursery() as nursery:
            nursery.start_soon(self._feed)
            async with trio.open_nursery() as attempts:
                await self._dispatch(attempts)
            nursery.cancel_scope.cancel()

    async def _feed(self) -> None:
        async with aclosing(self.source.prompts()) as prompts:
            async for prompt in prompts:
                await self._enqueue(prompt)
        self._feeding_done = True
        self._close_if_done()

    async def _enqueue(self, prompt: ResolvedPrompt) -> None:
        self._unfinished += 1
        self._fed += 1
        await self._send_job.send(Job(prompt))

    async def _dispatch(self, attempts: trio.Nursery) -> None:
        async with self._receive_job:
            async for job in self._receive_job:
                if job.attempts:
                    self._retrying -= 1
                if not job.attempts and self._cache is not None and await self._answer_from_cache(job):
                    continue
                if self._stopped_reason is None and (refused := await self._over_budget(job)) is not None:
                    await self._finish(not_sent_record(job.prompt, refused, job.attempts, "budget"), ok=False)
                    continue
                if self._stopped_reason is None:
                    if self.tokens is not None:
                        prompt = job.prompt
                        request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
                        job.reserved_tokens = estimate_tokens(request)
                        await self.tokens.take(job.reserved_tokens)
                    if self._in_flight_limit is not None:
                        await self._in_flight_limit.acquire_on_behalf_of(job)
                    # Jobs still waiting: the queue is late, not idle, and makes up the slots it owes.
                    await self.limiter.acquire(backlog=self._receive_job.statistics().current_buffer_used > 0)
                    if self._stopped_reason is None:
                        self._in_flight += 1
                        attempts.start_soon(self._attempt, job)
                        continue
                    self._release_in_flight(job)
                    self._settle(job)
                reason = self._stopped_reason
                await self._finish(not_sent_record(job.prompt, reason, job.attempts), ok=False)

    async def _attempt(self, job: Job) -> None:
        job.attempts += 1
        provider, slot = self._providers.get(job.prompt.api, job.prompt.model_name)
        error: ProviderError | None = None
        async with AsyncExitStack() as stack:
            if slot is not None:
                await stack.enter_async_context(slot)
            sent_at, started = utc_timestamp(), trio.current_time()
            try:
                response, last = await self._converse(provider, job)
            except ProviderError as exc:
                error = with_wait_policy(exc)  # no server may stall the queue past MAX_PAUSE_S
            except Exception as exc:
                logger.exception(
                    "provider %s raised an unexpected error for prompt %s", job.prompt.api, job.prompt.id
                )
                error = UnexpectedProviderError(f"{type(exc).__name__}: {exc}")
        latency = trio.current_time() - started
        self._in_flight -= 1
        self._release_in_flight(job)
        cost_usd = self._settle(job)  # priced once: the record and the budget count the same figure
        if error is None:
            self.limiter.note_success(sent_at=started)
            usage, finish_reason, served_model = job.usage, last.finish_reason, last.model
            if self._cache is not None and job.cache_key is not None:
                reply = CachedReply(response, finish_reason, usage, served_model)
                await self._cache.put(job.cache_key, reply)
            record = completed_record(
                job.prompt,
                response=response,
                error=None,
                attempts=job.attempts,
                timestamp_sent=sent_at,
                latency_s=latency,
                usage=usage,
                finish_reason=finish_reason,
                served_model=served_model,
                cost_usd=cost_usd,
            )
            await self._finish({**record, **reply_fields(last, job.prompt.parameters)}, ok=True)
            return
        await self._handle_failure(job, error, sent_at, started, latency, cost_usd)

    async def _handle_failure(
        self,
        job: Job,
        error: ProviderError,
        sent_at: str,
        started: float,
        latency: float,
        cost_usd: float | None,
    ) -> None:
        decision = decide(error, job.attempts, self._config.max_attempts)
        logger.info(
            "queue %s: prompt %s attempt %d failed (%s: %s) -> %s",
            *(self.key, job.prompt.id, job.attempts, error.error_type, error.message, decision.action.value),
        )
        if decision.action is Action.RETRY:
            if isinstance(error, RateLimited):
                self.limiter.note_rate_limited(sent_at=started)
            if decision.pause_s:
                self.limiter.pause_until(trio.current_time() + decision.pause_s)
            self._retrying += 1
            await self._send_job.send(job)
            return
        if decision.action is Action.STOP_QUEUE and self._stopped_reason is None:
            self._stopped_reason = f"queue '{self.key}' stopped after an auth failure: {error.message}"
            logger.error("%s; its remaining prompts are recorded as not sent", self._stopped_reason)
        partial = list(job.replies) if job.replies else None
        record = completed_record(
            job.prompt,
            response=partial,
            error=error.as_record(),
            attempts=job.attempts,
            timestamp_sent=sent_at,
            latency_s=latency,
            usage=job.usage,
            cost_usd=cost_usd,
        )
        await self._finish(record, ok=False)

    async def _converse(self, provider: Provider, job: Job) -> tuple[str | list[str], Completion]:
        """Send the prompt; for a multi-turn prompt, each turn not yet answered (one permit per turn).

        Returns the reply, and the completion of its last turn (its finish reason, served model...).
        """
        prompt = job.prompt
        conversation = prompt.conversation
        if not conversation.multi_turn:
            completion = await self._send(
                provider, conversation.first_request(prompt.model_name, prompt.parameters), job
            )
            job.add_usage(completion.usage)
            return completion.text, completion
        user_turns = [conversation.messages[0].text, *conversation.follow_up_turns]
        first_in_attempt = len(job.replies)
        completion = Completion("")
        for index in range(len(job.replies), len(user_turns)):
            if index > first_in_attempt:
                await self.limiter.acquire()
            history: list[Message] = []
            for turn, reply in zip(user_turns, job.replies, strict=False):
                history += [Message("user", turn), Message("assistant", reply)]
            history.append(Message("user", user_turns[index]))
            request = ChatRequest(prompt.model_name, tuple(history), prompt.parameters)
            if index > first_in_attempt and self.tokens is not None:
                job.reserved_tokens = estimate_tokens(request)
                await self.tokens.take(job.reserved_tokens)
            completion = await self._send(provider, request, job)
            job.replies.append(completion.text)
            job.add_usage(completion.usage)
        return list(job.replies), completion

    async def _send(self, provider: Provider, request: ChatRequest, job: Job) -> Completion:
        """One request under the deadline; its reply corrects the token estimate and the server's limits."""
        timeout = self._config.request_timeout_s
        # move_on_after, not fail_after: only this deadline, never a TooSlowError raised inside the
        # provider for its own reasons, is reported as request_timeout_s.
        with trio.move_on_after(timeout) as deadline:
            completion = await provider.complete(request)
        if deadline.cancelled_caught:
            raise RequestTimeout(f"no reply within {timeout:g} s (request_timeout_s)")
        if self.tokens is not None:
            self.tokens.settle(job.reserved_tokens, usage_tokens(completion.usage))
        if completion.rate_limit is not None:
            limits = honoured_limits(completion.rate_limit)
            self.limiter.note_server_limits(limits, in_flight=self._in_flight - 1)
        return completion

    async def _answer_from_cache(self, job: Job) -> bool:
        """Finish the job from the response cache if it holds the reply (nothing is sent)."""
        assert self._cache is not None
        prompt = job.prompt
        if not self._cache.applies_to(prompt):
            return False
        provider, _ = self._providers.get(prompt.api, prompt.model_name)
        job.cache_key = cache_key(prompt, provider.endpoint_url)  # the endpoint it sends to, however set
        cached = await self._cache.get(job.cache_key)
        if cached is None:
            return False
        record = completed_record(
            prompt,
            response=cached.response,
            error=None,
            attempts=0,
            timestamp_sent=None,
            latency_s=None,
            usage=cached.usage,
            finish_reason=cached.finish_reason,
            served_model=cached.served_model,
            cost_usd=0.0 if self._spending is not None else None,  # nothing was billed
        )
        await self._finish({**record, "cached": True}, ok=True)
        return True

    async def _over_budget(self, job: Job) -> str | None:
        """Reserve the worst case of the job's next request in the budget; the reason it may not go.
        Without a cap on the queue or above it nothing can refuse it: its worst case is not worked out."""
        if self._budget is None or self._spending is None or not self._capped:
            return None
        prompt = job.prompt
        request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
        turns = 1 + len(prompt.conversation.follow_up_turns) - len(job.replies)
        worst = self._spending.worst_case_usd(prompt, request) * max(1, turns)
        refusing = await self._budget.reserve_when_settled(worst)
        if refusing is None:
            job.reserved_usd, job.reserved = worst, True
            return None
        return budget_refusal(refusing, worst)

    def _settle(self, job: Job) -> float | None:
        """The job's request is over: release its reservation, count what its replies cost, and return
        that (its record's ``cost_usd``; ``None`` for a model without a price, or a run without prices)."""
        if self._spending is None or self._budget is None:  # the budget comes with the spending
            return None
        cost = self._spending.cost_usd(job.prompt.api, job.prompt.model_name, job.usage)
        spent = cost or 0.0
        self._budget.settle(job.reserved_usd, spent - job.cost_usd, reserved=job.reserved)
        job.reserved_usd, job.cost_usd, job.reserved = 0.0, spent, False
        return cost

    def _release_in_flight(self, job: Job) -> None:
        if self._in_flight_limit is not None:
            self._in_flight_limit.release_on_behalf_of(job)

    async def _finish(self, record: dict[str, Any], *, ok: bool) -> None:
        self._done += 1
        self._ok += ok
        if self._spending is not None:
            self._spending.count(self.key, record)
        await self._results.send(Finished(self.key, record))
        self._unfinished -= 1
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self._feeding_done and self._unfinished == 0:
            self._send_job.close()


def _capped(budget: Budget | None) -> bool:
    """Whether ``budget`` or one it is inside has a cap (``max_usd``)."""
    while budget is not None:
        if budget.max_usd is not None:
            return True
        budget = budget.parent
    return False
