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
from runner.costs._spending import Spending
from runner.engine._batching import Batching
from runner.engine._prompt_source import PlannedPrompts, PromptSource
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import RunnableQueue
from runner.evaluation._judging import JudgeStage
from runner.evaluation._rephrasing import RephraseStage
from runner.evaluation._scoring import build_scorers, score_record
from runner.evaluation._stage_queue import StageFile
from runner.prompts._plan import Plan, QueuePlan
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
        batching: Batching | None = None,
        spending: Spending | None = None,
    ) -> None:
        self._config = config
        self._prompt_file = plan.prompt_file
        self.scorers = build_scorers(config.scorers)
        self.judge = (
            JudgeStage(config.judges, config, providers, StageFile(folder.judge, secrets), batching, spending)
            if config.judges
            else None
        )
        self.rephrase = (
            RephraseStage(
                config.rephrase,
                config,
                providers,
                plan.prompt_file,
                plan.queues.values(),
                StageFile(folder.rephrase, secrets),
                batching,
                spending,
            )
            if config.rephrase is not None
            else None
        )

    def prompt_source(self, queue: QueuePlan) -> PromptSource:
        """Where an experiment queue takes its prompts: the rephrasing's output, or the prompt file."""
        if self.rephrase is not None:
            return self.rephrase.source(queue.key)
        return PlannedPrompts(queue, self._prompt_file, self._config)

    @property
    def queues(self) -> list[RunnableQueue]:
        """The stage queues, to run beside the experiment's."""
        return [*(self.rephrase.queues if self.rephrase else []), *(self.judge.queues if self.judge else [])]

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
