"""``prompto-check``: validate an experiment without sending anything, and show its plan.

The validation is the run's own (:func:`runner._validate.validate_experiment`: the prompt file, then
the stages' checks: scorers, judge and rephrase models and templates), so a file that checks clean
starts; the plan says how many prompts each queue holds, its rate, how long sending takes at that rate
(``(n - 1) * 60 / rate``: the first prompt goes at once; queues run side by side, so the experiment
takes as long as its slowest queue) and its prompt tokens (estimated, characters / 4).

It estimates the cost too (:mod:`runner.costs._estimate`): per queue and in total (judges and
rephrasings included) the input tokens (``~`` where estimated rather than counted with the model's
tokenizer), the output tokens it assumes, and the dollars as a range: expected, and up to every reply
at its cap; it names the models with no price and says what the prices rest on.

In batch mode (``batch.enabled``, ``batch.apis`` or a queue's ``mode: batch``) it also says how many
batches each queue would submit (:func:`count_batches`); a queue's time at its rate then counts only the
prompts it sends live.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers import MediaPart, Provider
from providers._importer import import_object
from providers.batch import BatchApi, BatchLimits, has_batch_api
from runner._run import effective_environ
from runner._validate import validate_experiment
from runner.config._config import RunConfig
from runner.costs._estimate import CostEstimate, Estimator
from runner.costs._prices import PriceBook, price_data
from runner.display._progress import duration
from runner.prompts._conversation import Conversation
from runner.prompts._plan import Plan, QueuePlan, ValidationFailed
from runner.prompts._prompt_file import read_prompt_lines
from runner.prompts._resolve import derived_id, provider_type, resolve_prompt
from runner.prompts._routing import QueueKey, batch_wanted, batches_configured

MB = 2**20


@dataclass
class QueueBatches:
    """What batch mode makes of one queue."""

    batches: int = 0
    """Batches it would submit (per api and model, split at the limits)."""
    batched: int = 0
    """Prompts in those batches."""
    live: int = 0
    """Prompts it sends live: of an API with no batch API, multi-turn, or of a queue in ``mode: live``."""
    no_batch_api: set[str] = field(default_factory=set)
    """APIs whose prompts batch mode wanted but that have no batch API."""


@dataclass(frozen=True)
class CheckReport:
    """The experiment checked: its prompt file and its plan (with any problems)."""

    name: str
    prompt_file: Path
    plan: Plan
    batches: dict[QueueKey, QueueBatches] | None = None
    """Per queue, what batch mode makes of it; ``None`` when the run would not batch."""
    estimate: Estimator | None = None
    """What the plan is estimated to send and cost; ``None`` when it is not runnable."""

    @property
    def runnable(self) -> bool:
        """Whether the experiment has no problem."""
        return self.plan.problem_count == 0

    @property
    def wall_time_s(self) -> float:
        """Seconds to send every live prompt at the configured rates (queues run side by side)."""
        return max((self.queue_time_s(queue) for queue in self.plan.queues.values()), default=0.0)

    def queue_time_s(self, queue: QueuePlan) -> float:
        """Seconds to send the queue's live prompts at its rate (all of them outside batch mode)."""
        if self.batches is None:
            return queue_wall_time_s(queue)
        rate = queue.limit.max_queries
        assert rate is not None  # queue_limit always fills it in
        return max(0, self.batches[queue.key].live - 1) * 60.0 / rate


def queue_wall_time_s(queue: QueuePlan) -> float:
    """Seconds from the queue's first request to its last at its rate."""
    rate = queue.limit.max_queries
    assert rate is not None  # queue_limit always fills it in
    return max(0, queue.count - 1) * 60.0 / rate


def check_experiment(config: RunConfig, environ: Mapping[str, str] | None = None) -> CheckReport:
    """Validate the experiment ``config`` names (prompt file, endpoints, keys, stages); nothing is sent."""
    book = PriceBook(config, log_unpriced=False)  # the report names them
    validation = validate_experiment(config, effective_environ(config, environ), book=book)
    plan = validation.plan
    batches = None
    if plan.problem_count == 0 and batches_configured(config):
        batches = count_batches(config, validation.prompt_file)
    return CheckReport(config.experiment.run_name, validation.prompt_file, plan, batches, validation.estimate)


def count_batches(config: RunConfig, prompt_file: Path) -> dict[QueueKey, QueueBatches]:
    """Per queue, the batches batch mode would submit for the (validated) ``prompt_file``.

    The engine's chunking (:class:`runner.engine._batch_queue.BatchQueueRunner`): one chunk at a time per
    (api, model) of a queue, sealed when the next request would pass the batch API's own limits
    (:attr:`providers.batch.BatchApi.limits`) or ``batch.max_requests`` / ``batch.max_mb``. A request's
    bytes are estimated (:func:`_request_bytes`), not built as the run builds them, so a queue that a
    byte limit splits may take a batch or two more or fewer than this says.
    """
    settings = config.batch
    limits: dict[tuple[str, str], BatchLimits | None] = {}
    filling: dict[tuple[QueueKey, str, str], tuple[int, int]] = {}  # (requests, bytes) of each chunk
    queues: dict[QueueKey, QueueBatches] = {}
    for line in read_prompt_lines(prompt_file):
        if line.data is None:
            continue
        data = line.data if "id" in line.data else {"id": derived_id(line.data), **line.data}
        prompt = resolve_prompt(data, config)
        queue = queues.setdefault(prompt.queue, QueueBatches())
        endpoint = (prompt.api, prompt.model_name)
        if endpoint not in limits:
            own = _own_limits(provider_type(config, *endpoint))
            limits[endpoint] = own and BatchLimits(
                min(own.max_requests, settings.max_requests or own.max_requests),
                min(own.max_bytes, int(settings.max_mb * MB) if settings.max_mb else own.max_bytes),
            )
        limit, wanted = limits[endpoint], batch_wanted(config, prompt.queue, prompt.api)
        if limit is None or not wanted or prompt.conversation.multi_turn:
            queue.live += 1
            if limit is None and wanted:
                queue.no_batch_api.add(prompt.api)
            continue
        size = _request_bytes(data, prompt.conversation)
        chunk = (prompt.queue, *endpoint)
        count, used = filling.get(chunk, (0, 0))
        if count == 0 or count >= limit.max_requests or used + size > limit.max_bytes:
            queue.batches += 1
            count, used = 0, 0
        filling[chunk] = (count + 1, used + size)
        queue.batched += 1
    return queues


def _request_bytes(data: dict[str, Any], conversation: Conversation) -> int:
    """A request's bytes in a batch, estimated: its normalised prompt line, plus its media files as
    base64 (the request line itself adds a few dozen bytes of its own: a custom id, the model...)."""
    size = len(json.dumps(data, ensure_ascii=False).encode()) + 1
    for message in conversation.messages:
        for part in () if isinstance(message.content, str) else message.content:
            if isinstance(part, MediaPart) and part.path is not None:
                size += -(-part.path.stat().st_size // 3) * 4
    return size


def _own_limits(cls: type[Provider]) -> BatchLimits | None:
    """The limits of the provider's batch API; ``None`` where it has none."""
    if not has_batch_api(cls):
        return None
    batch_type = import_object(str(getattr(cls, "batch_api", None)))
    assert isinstance(batch_type, type)
    assert issubclass(batch_type, BatchApi)
    return batch_type.limits


def format_check(report: CheckReport) -> str:
    """Every problem with its line, or the plan: per queue prompts, rate, time and tokens (and, in
    batch mode, the batches it would submit)."""
    plan = report.plan
    if not report.runnable:
        return f"{report.name} ({report.prompt_file}): not runnable. {ValidationFailed(plan)}"
    queues = plan.queues.values()
    batches = report.batches
    lines = [
        f"{report.name} ({report.prompt_file}): runnable, {plan.total} prompts in {len(queues)} queue(s)",
        f"  {'queue':<32} {'prompts':>8} {'per min':>8} {'time at rate':>13} {'prompt tokens (est.)':>21}"
        + ("  batches" if batches is not None else ""),
    ]
    for queue in queues:
        rate = queue.limit.max_queries or 0.0
        row = (
            f"  {str(queue.key):<32} {queue.count:>8,} {rate:>8g} {duration(report.queue_time_s(queue)):>13} "
            f"{queue.prompt_tokens:>21,}"
        )
        if batches is not None:
            counted = batches[queue.key]
            row += f"  {counted.batches:>7,}" if counted.batches else f"  {'live':>7}"
        lines.append(row)
    lines.append(
        f"expected wall time: {duration(report.wall_time_s)} at these rates (queues run side by side), "
        + ("live prompts only; batches end within 24 h" if batches is not None else "plus the last replies")
    )
    if batches is not None:
        lines.extend(_batch_lines(batches))
    if plan.skipped:
        lines.append(f"({plan.skipped} prompt(s) left out)")
    if report.estimate is not None:
        lines.extend(format_estimate(report.estimate))
    return "\n".join(lines)


def format_estimate(estimate: Estimator) -> list[str]:
    """The cost table: per queue and in total, requests, input tokens, assumed output tokens and the
    cost as a range; then the models with no price, how tokens were counted, and the prices' source."""
    queues = estimate.by_queue()
    width = max([32, *(len(name) for name in queues)])
    lines = [
        "estimated cost (before the run: an estimate, not a bill)",
        f"  {'queue':<{width}} {'requests':>9} {'input tokens':>13} {'output tokens (assumed)':>31}  cost",
    ]
    for name, queue in [*queues.items(), ("total", estimate.total())]:
        lines.append(
            f"  {name:<{width}} {queue.requests:>9,} {_tokens(queue):>13} {_output(queue):>31}  "
            + usd_range(queue)
        )
    lines.extend(f"  {note}" for note in estimate.notes())
    lines.append(
        f"  prices: {price_data()}; output assumed from max_tokens (or each API's default) and "
        "expected_output_tokens; ~: tokens estimated (characters / 4)"
    )
    return lines


def usd_range(estimate: CostEstimate) -> str:
    """``$0.42 (up to $1.10)``, with the requests whose model has no price said after it."""
    if estimate.unpriced_requests == estimate.requests and estimate.requests:
        return "no price"
    text = f"{_usd(estimate.expected_usd)} (up to {_usd(estimate.worst_usd)})"
    if estimate.unpriced_requests:
        text += f" + {estimate.unpriced_requests:,} request(s) with no price"
    return text


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.4f}"


def _tokens(estimate: CostEstimate) -> str:
    return f"{'' if estimate.exact_tokens else '~'}{estimate.input_tokens:,}"


def _output(estimate: CostEstimate) -> str:
    return f"{estimate.expected_output_tokens:,} (up to {estimate.worst_output_tokens:,})"


def _batch_lines(batches: Mapping[QueueKey, QueueBatches]) -> list[str]:
    total = sum(queue.batches for queue in batches.values())
    batched = sum(queue.batched for queue in batches.values())
    live = sum(queue.live for queue in batches.values())
    if total == 0 and not any(queue.no_batch_api for queue in batches.values()):
        return [
            "batch mode: no prompt would go in a batch (see batch.apis; an api's or model's `mode` in "
            "rate_limits is the mode of its own queue, which it has with parallel=true)"
        ]
    lines = [
        f"batch mode: {total:,} batch(es) to submit, holding {batched:,} prompts (half price); "
        f"{live:,} prompt(s) sent live (request sizes estimated from the prompt lines and media files)"
    ]
    for key, queue in batches.items():
        for api in sorted(queue.no_batch_api):
            lines.append(f"  queue {key}: api '{api}' has no batch API: its prompts are sent live")
    return lines
