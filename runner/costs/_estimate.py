"""The cost of an experiment before it runs: per queue, its requests, tokens and dollars.

The validation feeds each prompt of the plan to :meth:`Estimator.observe` as it reads it (no second
pass over the file). Each prompt adds:

* its own request (each turn's, for a list of user turns: a turn's input holds the replies before it,
  assumed to be of the expected length), once per variant when a rephrasing stage runs (the original,
  if kept, and each rephrasing, assumed to be as long as the original);
* with a rephrasing stage, the rephraser's requests: ``n`` per template (``parse: single``) or one
  (``parse: list``), each template filled with the prompt, replying with its rephrasings;
* with judges, per variant one request per judge model: its template filled with the prompt and a
  response of the expected length.

Input tokens are counted as :mod:`runner.costs._tokens` counts them (exactly for OpenAI's models with
tiktoken, else estimated); output tokens are the expected length and the worst case
(:func:`~runner.costs._tokens.output_allowance`). Dollars are the two priced at today's prices by the
:class:`~runner.costs._prices.PriceBook` (batch queues at the batch price): ``expected_usd`` and
``worst_usd``, every reply at its cap. A model with no price counts in ``unpriced_requests``, not as
zero dollars.

Requests are summed per queue, model, batch mode and price tier, and each sum is priced once at the
end as ``requests x`` the price of its average request: exact for prices linear in tokens, and for
tiered prices too, since requests on either side of a tier's threshold are summed apart.
"""

from __future__ import annotations

import bisect
import string
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from providers import UnknownApiError
from providers.batch import has_batch_api
from runner.config._config import RunConfig
from runner.config._eval_config import StageModel
from runner.costs._prices import PriceBook, price_data, unpriced_message
from runner.costs._tokens import (
    OPENAI_TOKENS_PER_MESSAGE,
    TIKTOKEN_APIS,
    TOKENS_PER_MESSAGE,
    input_tokens,
    one_turn_counter,
    output_allowance,
    text_tokens,
    tokenizer_notices,
)
from runner.prompts._resolve import ResolvedPrompt, provider_type
from runner.prompts._routing import QueueKey, batch_wanted, stage_queue_key


@dataclass
class CostEstimate:
    """What a queue (or the whole experiment) is estimated to send and cost."""

    requests: int = 0
    input_tokens: int = 0
    expected_output_tokens: int = 0
    worst_output_tokens: int = 0
    expected_usd: float = 0.0
    """At the expected output length (priced requests only)."""
    worst_usd: float = 0.0
    """Every reply at its cap (priced requests only)."""
    unpriced_requests: int = 0
    """Requests to models with no price: in the token counts, not in the dollars."""
    exact_tokens: bool = True
    """Whether every input token was counted with the model's tokenizer (else some are estimated)."""

    def add(self, other: CostEstimate) -> None:
        """Add ``other``'s counts to these."""
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.expected_output_tokens += other.expected_output_tokens
        self.worst_output_tokens += other.worst_output_tokens
        self.expected_usd += other.expected_usd
        self.worst_usd += other.worst_usd
        self.unpriced_requests += other.unpriced_requests
        self.exact_tokens = self.exact_tokens and other.exact_tokens

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, dollars rounded to a millionth."""
        values = asdict(self)
        values["expected_usd"] = round(self.expected_usd, 6)
        values["worst_usd"] = round(self.worst_usd, 6)
        return values


@dataclass
class _Sum:
    """Requests of one queue to one model, in one batch mode and price tier."""

    requests: int = 0
    input_tokens: int = 0
    worst_input_tokens: int = 0
    expected_output_tokens: int = 0
    worst_output_tokens: int = 0


@dataclass(frozen=True)
class _Request:
    input_tokens: int
    worst_input_tokens: int
    expected_output: int
    worst_output: int
    exact: bool


@dataclass(frozen=True)
class _StageTarget:
    """One judge model, or the rephraser: its queue, template and output allowance."""

    key: QueueKey
    model: StageModel
    template: list[tuple[str, str | None]]
    """The template parsed: each literal text and the placeholder after it."""
    batch: bool
    expected_output: int
    worst_output: int
    messages: int = 1
    """Messages of its request (a judge's ``system`` adds one)."""


@dataclass
class Estimator:
    """Fed each prompt of the plan (:meth:`observe`), it sums what the run will send and cost."""

    config: RunConfig
    book: PriceBook
    _sums: dict[tuple[str, str, str, bool, int], _Sum] = field(default_factory=dict)
    _exact: dict[str, bool] = field(default_factory=dict)
    _batch: dict[tuple[QueueKey, str, str], bool] = field(default_factory=dict)
    _tiers: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    _judges: list[_StageTarget] = field(default_factory=list)
    _rephraser: _StageTarget | None = None
    _rephrase_templates: list[list[tuple[str, str | None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for judge in self.config.judges:
            try:
                template = judge.template_text()
            except OSError:
                template = ""  # the stage checks report it
            for model in judge.models:
                key = stage_queue_key("judge", judge.name, model)
                self._judges.append(self._target(key, model, template, judge.system))
        if (spec := self.config.rephrase) is not None:
            key = stage_queue_key("rephrase", spec.name, spec.model)
            self._rephraser = self._target(key, spec.model, "")
            self._rephrase_templates = [_parse(template) for template in spec.templates]

    # -- feeding ---------------------------------------------------------------------------------

    def observe(self, prompt: ResolvedPrompt) -> None:
        """Add one prompt of the plan, in its queue, batched if its queue would batch it."""
        self.add(str(prompt.queue), prompt, self.batched(prompt))

    def batched(self, prompt: ResolvedPrompt) -> bool:
        """Whether batch mode would send the prompt through its API's batch API (a list of user turns
        never goes in a batch)."""
        return not prompt.conversation.multi_turn and self._batched(
            prompt.queue, prompt.api, prompt.model_name
        )

    def text_counter(self, prompt: ResolvedPrompt) -> Callable[[str], None] | None:
        """For prompts like ``prompt`` but for their text: one user turn of text, in the same queue to
        the same model with the same parameters, a function adding one such prompt given its text, as
        :meth:`observe` would (the validation's fast path: output allowance, batch mode, tiers and
        tokenizer looked up once). ``None`` if ``prompt`` is not such a prompt, or stages run (their
        templates read the whole prompt dict): :meth:`observe` then adds each prompt."""
        messages = prompt.conversation.messages
        if (
            self._judges
            or self.config.rephrase is not None
            or prompt.conversation.multi_turn
            or len(messages) != 1
            or messages[0].role != "user"
            or not isinstance(messages[0].content, str)
        ):
            return None
        queue, api, model_name = str(prompt.queue), prompt.api, prompt.model_name
        batch = self.batched(prompt)
        expected, worst = output_allowance(api, model_name, prompt.parameters, self.config)
        tiers = self._tier_starts(api, model_name)
        count, exact = one_turn_counter(api, model_name)
        sums = self._sums
        by_tier: dict[int, _Sum] = {}

        def add(text: str) -> None:
            tokens = count(text)
            tier = bisect.bisect_left(tiers, tokens) if tiers else 0
            total = by_tier.get(tier)
            if total is None:
                total = by_tier[tier] = sums.setdefault((queue, api, model_name, batch, tier), _Sum())
                self._exact[queue] = self._exact.get(queue, True) and exact
            total.requests += 1
            total.input_tokens += tokens
            total.worst_input_tokens += tokens
            total.expected_output_tokens += expected
            total.worst_output_tokens += worst

        return add

    def add(self, queue_name: str, prompt: ResolvedPrompt, batch: bool) -> None:
        """Add one prompt sent from ``queue_name`` (``batch``: at the batch price), and the requests
        the stages make of it."""
        variants = 1
        rephrase = self.config.rephrase
        if rephrase is not None and self._rephraser is not None:
            variants = int(rephrase.keep_original) + rephrase.n * len(rephrase.templates)
            self._add_rephrasing(prompt)
        requests = self._experiment_requests(prompt)
        for request in requests:
            self._add(queue_name, prompt.api, prompt.model_name, batch, request, variants)
        if self._judges:
            self._add_judges(prompt, requests[-1], variants)

    def _experiment_requests(self, prompt: ResolvedPrompt) -> list[_Request]:
        expected, worst = output_allowance(prompt.api, prompt.model_name, prompt.parameters, self.config)
        request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
        tokens, exact = input_tokens(prompt.api, prompt.model_name, request)
        requests = [_Request(tokens, tokens, expected, worst, exact)]
        history = tokens
        for index, turn in enumerate(prompt.conversation.follow_up_turns, start=1):
            counted, exact = text_tokens(prompt.api, prompt.model_name, turn)
            history += counted + 2 * _per_message(prompt.api)  # the reply before it, and the turn
            requests.append(
                _Request(history + index * expected, history + index * worst, expected, worst, False)
            )
        return requests

    def _add_rephrasing(self, prompt: ResolvedPrompt) -> None:
        spec, target = self.config.rephrase, self._rephraser
        assert spec is not None
        assert target is not None
        api, model_name = target.model.api, target.model.model_name
        text = _prompt_text(prompt)
        prompt_tokens, _ = text_tokens(api, model_name, text)
        per_request = spec.n if spec.parse == "list" else 1
        expected = min(target.worst_output, max(1, per_request * prompt_tokens))
        for template in self._rephrase_templates:
            filled = _fill(template, prompt.data, prompt=text, n=str(spec.n))
            tokens, exact = text_tokens(api, model_name, filled)
            tokens += _per_message(api)
            request = _Request(tokens, tokens, expected, target.worst_output, exact)
            count = spec.n if spec.parse == "single" else 1
            self._add(str(target.key), api, model_name, target.batch, request, count)

    def _add_judges(self, prompt: ResolvedPrompt, answered: _Request, variants: int) -> None:
        text = _prompt_text(prompt)
        for target in self._judges:
            api, model_name = target.model.api, target.model.model_name
            filled = _fill(target.template, prompt.data, prompt=text, response="")
            tokens, _ = text_tokens(api, model_name, filled)
            tokens += _per_message(api) * target.messages
            request = _Request(
                tokens + answered.expected_output,
                tokens + answered.worst_output,
                target.expected_output,
                target.worst_output,
                False,  # the response's length is assumed
            )
            self._add(str(target.key), api, model_name, target.batch, request, variants)

    def _add(self, queue: str, api: str, model_name: str, batch: bool, request: _Request, count: int) -> None:
        tiers = self._tier_starts(api, model_name)
        tier = bisect.bisect_left(tiers, request.input_tokens) if tiers else 0
        total = self._sums.setdefault((queue, api, model_name, batch, tier), _Sum())
        total.requests += count
        total.input_tokens += count * request.input_tokens
        total.worst_input_tokens += count * request.worst_input_tokens
        total.expected_output_tokens += count * request.expected_output
        total.worst_output_tokens += count * request.worst_output
        self._exact[queue] = self._exact.get(queue, True) and request.exact

    def _tier_starts(self, api: str, model_name: str) -> tuple[int, ...]:
        tiers = self._tiers.get((api, model_name))
        if tiers is None:
            tiers = self._tiers[(api, model_name)] = self.book.tier_starts(api, model_name)
        return tiers

    def _target(
        self, key: QueueKey, model: StageModel, template: str, system: str | None = None
    ) -> _StageTarget:
        expected, worst = output_allowance(model.api, model.model_name, model.parameters, self.config)
        batch = self._batched(key, model.api, model.model_name)
        parsed = _parse(template)
        if system:  # sent as it is, in a message of its own
            parsed.insert(0, (system + "\n", None))
        return _StageTarget(key, model, parsed, batch, expected, worst, 2 if system else 1)

    def _batched(self, key: QueueKey, api: str, model_name: str) -> bool:
        cache_key = (key, api, model_name)
        if cache_key not in self._batch:
            try:
                can = has_batch_api(provider_type(self.config, api, model_name))
            except (UnknownApiError, ImportError):
                can = False  # the validation reports it
            self._batch[cache_key] = can and batch_wanted(self.config, key, api)
        return self._batch[cache_key]

    # -- results ---------------------------------------------------------------------------------

    def by_queue(self) -> dict[str, CostEstimate]:
        """Each queue's estimate: the experiment's queues in the order first seen, then the stages'."""
        queues: dict[str, CostEstimate] = {}
        for (queue, api, model_name, batch, _), total in self._sums.items():
            estimate = queues.setdefault(queue, CostEstimate(exact_tokens=self._exact[queue]))
            estimate.add(self._priced(api, model_name, batch, total))
        return dict(sorted(queues.items(), key=lambda item: _is_stage(item[0])))

    def total(self) -> CostEstimate:
        """The whole experiment's estimate, stages included."""
        total = CostEstimate()
        for estimate in self.by_queue().values():
            total.add(estimate)
        return total

    def unpriced(self) -> list[str]:
        """The ``api/model`` of every request with no price."""
        return self.book.unpriced()

    def as_dict(self) -> dict[str, Any]:
        """The estimate for ``summary.json`` and the log: total, per queue, unpriced models, and what
        the prices and token counts rest on."""
        return {
            "total": self.total().as_dict(),
            "by_queue": {name: estimate.as_dict() for name, estimate in self.by_queue().items()},
            "unpriced_models": self.unpriced(),
            "prices": price_data(),
            "token_notes": tokenizer_notices(),
        }

    def notes(self) -> list[str]:
        """What a reader of the estimate should know: unpriced models, estimated tokens."""
        return [*(unpriced_message(name) for name in self.unpriced()), *tokenizer_notices()]

    def _priced(self, api: str, model_name: str, batch: bool, total: _Sum) -> CostEstimate:
        estimate = CostEstimate(
            requests=total.requests,
            input_tokens=total.input_tokens,
            expected_output_tokens=total.expected_output_tokens,
            worst_output_tokens=total.worst_output_tokens,
        )
        n = total.requests
        expected = self.book.worst_case_usd(
            api, model_name, total.input_tokens / n, total.expected_output_tokens / n, batch=batch
        )
        worst = self.book.worst_case_usd(
            api, model_name, total.worst_input_tokens / n, total.worst_output_tokens / n, batch=batch
        )
        if expected is None or worst is None:
            estimate.unpriced_requests = n
        else:
            estimate.expected_usd, estimate.worst_usd = n * expected, n * worst
        return estimate


def _is_stage(queue: str) -> bool:
    return queue.startswith(("judge:", "rephrase:"))


def _per_message(api: str) -> int:
    return OPENAI_TOKENS_PER_MESSAGE if api in TIKTOKEN_APIS else TOKENS_PER_MESSAGE


def _prompt_text(prompt: ResolvedPrompt) -> str:
    """The prompt as a stage's template writes it: a string as is, turns one per line."""
    conversation = prompt.conversation
    if conversation.prompt_text is not None:
        return conversation.prompt_text
    if conversation.multi_turn:
        return "\n".join([conversation.messages[0].text, *conversation.follow_up_turns])
    return "\n".join(f"{message.role}: {message.text}" for message in conversation.messages)


def _parse(template: str) -> list[tuple[str, str | None]]:
    """A ``str.format`` template's literal texts, each with the placeholder after it (if any)."""
    try:
        return [(literal, name) for literal, name, _, _ in string.Formatter().parse(template)]
    except ValueError:  # the stage checks report it
        return [(template, None)]


def _fill(template: list[tuple[str, str | None]], data: Mapping[str, Any], **values: str) -> str:
    """A parsed template with its placeholders filled: ``values`` first, else the prompt dict's keys
    (as text), else nothing (the stage checks report a placeholder no prompt fills)."""
    parts: list[str] = []
    for literal, name in template:
        parts.append(literal)
        if name is not None:
            value = values[name] if name in values else data.get(name, "")
            parts.append(value if isinstance(value, str) else str(value))
    return "".join(parts)


def estimate_line(estimate: Mapping[str, Any]) -> str:
    """The estimate (:meth:`Estimator.as_dict`) in one line, for the run's log."""
    total = estimate["total"]
    tokens = "" if total["exact_tokens"] else "~"
    unpriced = estimate.get("unpriced_models") or []
    return (
        f"${total['expected_usd']:.4g} (up to ${total['worst_usd']:.4g}) for {total['requests']:,} requests, "
        f"{tokens}{total['input_tokens']:,} input tokens"
        + (f"; no price for {', '.join(unpriced)}" if unpriced else "")
    )
