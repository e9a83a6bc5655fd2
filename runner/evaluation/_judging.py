"""LLM-as-judge: each answered record becomes one judge prompt per judge model, as soon as it arrives.

::

    records ──▶ submit ──prompt──▶ queue "judge:<judge>/<model>" ──verdicts──▶ collect ──▶ (writer)
                  │ (held until every verdict of the record is in)                  ▲
                  └──────────────────────────── pending ────────────────────────────┘

The verdict lands in the judged record: ``scores[<judge>]`` (``<judge>/<model_name>`` for each model when
a judge has several) and ``judgements[<same key>] = {api, model_name, reply, error, cost_usd}``. A
judge request that fails, or a reply the parser cannot read (``judge_parse``), leaves the score null and
the error in the judgement. Every judge request and reply is also written to ``judge.jsonl``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from runner.config._config import RunConfig
from runner.config._eval_config import JudgeSpec, StageModel
from runner.config._log import LOGGER_NAME
from runner.costs._spending import Spending
from runner.engine._batching import Batching
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import RunnableQueue
from runner.evaluation._stage_queue import StageFile, StageQueue, open_stage_queue, stage_prompt
from runner.evaluation._templates import Template
from runner.evaluation._verdict import VerdictError, VerdictParser
from runner.prompts._routing import stage_queue_key
from runner.run_folder._records import Finished

logger = logging.getLogger(LOGGER_NAME)

VERDICT_BUFFER = 256
JUDGE_PARSE_ERROR = "judge_parse"
NOT_JUDGED = "not_judged"


@dataclass(frozen=True)
class JudgeTarget:
    """One judge model of one judge: its queue, its score key, its template and parser."""

    judge: str
    score_key: str
    model: StageModel
    template: Template
    system: str | None
    parser: VerdictParser
    queue: StageQueue


@dataclass
class _Pending:
    finished: Finished
    waiting: set[str] = field(default_factory=set)
    """Score keys whose verdict has not come back."""
    submitting: bool = True
    """Set while :meth:`JudgeStage.submit` is still sending: only it may then hand the record on."""


def judge_targets_keys(spec: JudgeSpec) -> list[tuple[str, StageModel]]:
    """``(score key, model)`` for each model of a judge."""
    if len(spec.models) == 1:
        return [(spec.name, spec.models[0])]
    return [(f"{spec.name}/{model.model_name}", model) for model in spec.models]


def judge_score_keys(config: RunConfig) -> dict[str, list[str]]:
    """Each judge's score keys, one per judge model (for agreement in the summary)."""
    return {judge.name: [key for key, _ in judge_targets_keys(judge)] for judge in config.judges}


class JudgeStage:
    """Judges records passed to :meth:`submit`; hands every record on once its verdicts are in."""

    def __init__(
        self,
        specs: Sequence[JudgeSpec],
        config: RunConfig,
        providers: ProviderSet,
        stage_file: StageFile,
        batching: Batching | None = None,
        spending: Spending | None = None,
    ) -> None:
        self._config = config
        self._file = stage_file
        self._send_verdicts, self._receive_verdicts = trio.open_memory_channel[Finished](VERDICT_BUFFER)
        self.targets: list[JudgeTarget] = []
        self._verdict_channels: list[trio.MemorySendChannel[Finished]] = []
        for spec in specs:
            template = Template(spec.template_text(), where=f"judge '{spec.name}'")
            parser = VerdictParser(spec.parse)
            for score_key, model in judge_targets_keys(spec):
                self._verdict_channels.append(self._send_verdicts.clone())
                queue = open_stage_queue(
                    stage_queue_key("judge", spec.name, model),
                    model,
                    config,
                    providers,
                    self._verdict_channels[-1],
                    batching,
                    spending,
                )
                self.targets.append(
                    JudgeTarget(spec.name, score_key, model, template, spec.system, parser, queue)
                )
        self._send_verdicts.close()
        self._by_key = {target.score_key: target for target in self.targets}
        self._pending: dict[int, _Pending] = {}
        self._requests = itertools.count(1)

    @property
    def queues(self) -> list[RunnableQueue]:
        """The judge queues, to be run alongside the experiment's own."""
        return [target.queue.runner for target in self.targets]

    async def submit(self, finished: Finished, downstream: trio.MemorySendChannel[Finished]) -> None:
        """Send judge prompts for an answered record (or hand a failed one straight on)."""
        record = finished.record
        if not self.targets or record.get("error") is not None:
            await downstream.send(finished)
            return
        judged_id = str(record["id"])
        request = next(self._requests)  # ids may repeat in a re-judged file; this never does
        pending = self._pending[request] = _Pending(finished, {t.score_key for t in self.targets})
        record.setdefault("scores", {})
        record.setdefault("judgements", {})
        for target in self.targets:
            try:
                text = target.template.render(record)
            except KeyError as exc:
                error = {"type": "judge_template", "message": f"the record has no {exc} for the template"}
                self._judgement(record, target, None, error)
                pending.waiting.discard(target.score_key)
                continue
            prompt: Any = (
                text
                if target.system is None
                else [{"role": "system", "content": target.system}, {"role": "user", "content": text}]
            )
            data = {
                "id": f"{judged_id}/judge:{target.score_key}",
                "prompt": prompt,
                "judge": target.judge,
                "score_key": target.score_key,
                "judged_id": judged_id,
                "judge_request": request,
            }
            try:
                await target.queue.send_prompts.send(
                    stage_prompt(data, target.model, target.queue.runner.key, self._config)
                )
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._judgement(record, target, None, {"type": NOT_JUDGED, "message": "run interrupted"})
                pending.waiting.discard(target.score_key)
        pending.submitting = False
        if not pending.waiting:
            del self._pending[request]
            await downstream.send(finished)

    def close(self) -> None:
        """No more records: the judge queues end once their prompts are answered."""
        for target in self.targets:
            target.queue.close()

    def close_unstarted(self) -> None:
        """Release the channels of judge queues that were cancelled before they started."""
        for target, verdicts in zip(self.targets, self._verdict_channels, strict=True):
            target.queue.close()
            verdicts.close()

    async def collect(self, downstream: trio.MemorySendChannel[Finished]) -> None:
        """Read every verdict into its record; at the end, hand on records whose verdicts never came."""
        with contextlib.closing(self._file):
            await self._collect(downstream)

    async def _collect(self, downstream: trio.MemorySendChannel[Finished]) -> None:
        async with downstream, self._receive_verdicts:
            async for verdict in self._receive_verdicts:
                self._file.write(verdict.record)
                done = self._apply(verdict.record)
                if done is not None:
                    await downstream.send(done)
            for request, pending in list(self._pending.items()):
                for key in pending.waiting:
                    error = {"type": NOT_JUDGED, "message": "run interrupted before the verdict"}
                    self._judgement(pending.finished.record, self._by_key[key], None, error)
                del self._pending[request]
                await downstream.send(pending.finished)

    def _apply(self, judge_record: dict[str, Any]) -> Finished | None:
        request = int(judge_record["judge_request"])
        pending = self._pending.get(request)
        target = self._by_key[judge_record["score_key"]]
        if pending is None or target.score_key not in pending.waiting:
            logger.error("verdict %s matches no record waiting for it", judge_record.get("id"))
            return None
        reply = judge_record.get("response")
        reply_text = reply[-1] if isinstance(reply, list) else reply
        error = judge_record.get("error")
        if error is None:
            try:
                value = target.parser.parse(str(reply_text))
            except VerdictError as exc:
                error = {"type": JUDGE_PARSE_ERROR, "message": str(exc)}
            else:
                pending.finished.record["scores"][target.score_key] = value
        self._judgement(pending.finished.record, target, reply_text, error, judge_record.get("cost_usd"))
        pending.waiting.discard(target.score_key)
        if pending.waiting or pending.submitting:
            return None
        del self._pending[request]
        return pending.finished

    @staticmethod
    def _judgement(
        record: dict[str, Any],
        target: JudgeTarget,
        reply: Any,
        error: dict[str, Any] | None,
        cost_usd: float | None = None,
    ) -> None:
        scores = record.setdefault("scores", {})
        if error is not None or target.score_key not in scores:
            scores[target.score_key] = None
        record.setdefault("judgements", {})[target.score_key] = {
            "api": target.model.api,
            "model_name": target.model.model_name,
            "reply": reply,
            "error": error,
            **({"cost_usd": cost_usd} if cost_usd is not None else {}),
        }
