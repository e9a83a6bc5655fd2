"""One way to feed a queue: an async source of prompts, which owns how many it is planned to bring.

A :class:`~runner.engine._queue.QueueRunner` sends what its source yields and ends once the source is
exhausted and every prompt it took is finished. There are two sources:

* :class:`PlannedPrompts`: an experiment queue's prompts, read one at a time from the normalised prompt
  file at the plan's offsets (nothing holds every prompt);
* :class:`ChannelPrompts`: prompts made while the run goes on, handed over through a memory channel: a
  judge's and a rephraser's requests, and the experiment's prompts once rephrased.

:attr:`PromptSource.planned` is the one count of the prompts a queue is to send. The progress line
shows it as the queue's total until the source is exhausted (then what it brought); ``summary.json``
shows :attr:`~PromptSource.expected` as the queue's ``planned``: the planned prompts less those that
will never exist (a rephrasing whose request failed: :meth:`~PromptSource.lose`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from pathlib import Path

import trio

from runner.config._config import RunConfig
from runner.prompts._plan import QueuePlan
from runner.prompts._prompt_file import read_dict_at
from runner.prompts._resolve import ResolvedPrompt, resolve_prompt


class PromptSource(ABC):
    """What one queue sends, and how many prompts that is to be."""

    def __init__(self, planned: int) -> None:
        self.planned = planned
        """Prompts the source is planned to bring."""
        self.lost = 0
        """Planned prompts that will never exist (see :meth:`lose`)."""

    @property
    def expected(self) -> int:
        """Planned prompts that exist or may yet: those the summary counts as planned."""
        return self.planned - self.lost

    def lose(self, count: int) -> None:
        """``count`` planned prompts will never be made (a rephrasing whose request failed)."""
        self.lost += count

    @abstractmethod
    def prompts(self) -> AsyncGenerator[ResolvedPrompt, None]:
        """The prompts, in the order they are to be sent (the queue closes the generator when done)."""


class PlannedPrompts(PromptSource):
    """An experiment queue's prompts from the normalised prompt file, resolved as the queue takes them."""

    def __init__(self, queue: QueuePlan, prompt_file: Path, config: RunConfig) -> None:
        super().__init__(queue.count)
        self._queue = queue
        self._prompt_file = prompt_file
        self._config = config

    async def prompts(self) -> AsyncGenerator[ResolvedPrompt, None]:
        with self._prompt_file.open("rb") as file:
            for offset in self._queue.offsets():
                yield resolve_prompt(read_dict_at(file, offset), self._config)


class ChannelPrompts(PromptSource):
    """Prompts handed over through ``channel``; exhausted when every sender has closed it."""

    def __init__(self, channel: trio.MemoryReceiveChannel[ResolvedPrompt], planned: int = 0) -> None:
        super().__init__(planned)
        self._channel = channel

    async def prompts(self) -> AsyncGenerator[ResolvedPrompt, None]:
        async with self._channel:
            async for prompt in self._channel:
                yield prompt

    def close(self) -> None:
        """Release the channel of a queue cancelled before it started (idempotent)."""
        self._channel.close()


class NoPrompts(PromptSource):
    """A queue with nothing to send: one that only collects batches of an earlier session."""

    def __init__(self) -> None:
        super().__init__(0)

    async def prompts(self) -> AsyncGenerator[ResolvedPrompt, None]:
        return
        yield  # an async generator that yields nothing
