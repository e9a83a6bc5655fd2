"""The evaluation stages of a run, wired between the experiment's queues and the writer.

::

    prompts.jsonl ─▶ [rephrase queue ─▶ collect] ─▶ experiment queues ─▶ score ─▶ [judge queues] ─▶ writer

Records stream: each is scored as it arrives and judged as soon as it is scored. The stage queues run
with the experiment's (inside its Ctrl-C cancel scope); the hand-over tasks run beside the writer, so
that every record already answered is written even when the run is interrupted.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from runner.config._config import RunConfig
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import QueueRunner
from runner.evaluation._judging import JudgeStage
from runner.evaluation._rephrasing import RephraseStage
from runner.evaluation._scoring import build_scorers, score_record
from runner.evaluation._stage_queue import StageFile
from runner.prompts._plan import Plan
from runner.prompts._resolve import ResolvedPrompt
from runner.prompts._routing import QueueKey
from runner.run_folder._files import RunFolder
from runner.run_folder._records import Finished


class Stages:
    """Scorers, judges and the rephrasing of one run (each optional)."""

    def __init__(
        self,
        config: RunConfig,
        plan: Plan,
        providers: ProviderSet,
        folder: RunFolder,
        secrets: Callable[[], list[str]] = list,
    ) -> None:
        self.scorers = build_scorers(config.scorers)
        self.judge = (
            JudgeStage(
                config.judges,
                config,
                providers,
                plan.prompt_file,
                StageFile(folder.judge, secrets),
            )
            if config.judges
            else None
        )
        self.rephrase = (
            RephraseStage(
                config.rephrase,
                config,
                providers,
                plan.prompt_file,
                list(plan.queues),
                StageFile(folder.rephrase, secrets),
            )
            if config.rephrase is not None
            else None
        )

    def query_source(self, key: QueueKey) -> trio.MemoryReceiveChannel[ResolvedPrompt] | None:
        """Where experiment queue ``key`` takes its prompts: the rephrasing's output, or the file."""
        return None if self.rephrase is None else self.rephrase.query_source(key)

    @property
    def queues(self) -> list[QueueRunner]:
        """The stage queues, to run beside the experiment's."""
        return [*(self.rephrase.queues if self.rephrase else []), *(self.judge.queues if self.judge else [])]

    def planned(self, plan: Plan) -> dict[QueueKey, int]:
        """Prompts each experiment queue is expected to send (rephrasings included)."""
        factor = self.rephrase.variants_per_prompt if self.rephrase is not None else 1
        return {key: queue.count * factor for key, queue in plan.queues.items()}

    def rephrasings_lost(self) -> dict[QueueKey, int]:
        """Per experiment queue, planned rephrasings that were never made (so never sent)."""
        return dict(self.rephrase.lost) if self.rephrase is not None else {}

    async def run(
        self,
        upstream: trio.MemoryReceiveChannel[Finished],
        downstream: trio.MemorySendChannel[Finished],
    ) -> None:
        """Score and judge every record from ``upstream``, handing each to ``downstream`` when done."""
        async with trio.open_nursery() as nursery:
            if self.rephrase is not None:
                nursery.start_soon(self.rephrase.feed)
                nursery.start_soon(self.rephrase.collect)
            if self.judge is not None:
                nursery.start_soon(self.judge.collect, downstream.clone())
            async with downstream, upstream:
                async for finished in upstream:
                    await score_record(finished.record, self.scorers)
                    if self.judge is not None:
                        await self.judge.submit(finished, downstream)
                    else:
                        await downstream.send(finished)
            if self.judge is not None:
                self.judge.close()

    def close_unstarted(self) -> None:
        """Release the channels of stage queues cancelled before they started."""
        if self.rephrase is not None:
            self.rephrase.close_unstarted()
        if self.judge is not None:
            self.judge.close_unstarted()
