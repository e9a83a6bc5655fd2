"""Rephrasing: every prompt is rewritten by a rephrasing model before the experiment's models see it.

::

    prompts.jsonl ──▶ feed ──▶ queue "rephrase:<name>/<model>" ──▶ collect ──▶ the experiment's queues
                                                                    (the original, then each rephrasing)

Each template gives ``n`` rephrasings: ``n`` requests whose replies are one each (``parse: single``),
or one request whose reply is a numbered list (``parse: list``). Once every request of a prompt is back
the original and its rephrasings are queued; each carries ``rephrase_of`` (the original's id),
``rephrase_template`` (the template's index, null for the original) and ``rephrase_index`` (0 for the
original). A failed request or an unreadable list costs those rephrasings, never the original.
With ``keep_original: false`` (prompto's ``--remove-original``) only the rephrasings are queued.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from runner.config._config import RunConfig
from runner.config._eval_config import RephraseSpec
from runner.costs._spending import Spending
from runner.engine._batching import Batching
from runner.engine._prompt_source import ChannelPrompts
from runner.engine._provider_set import ProviderSet
from runner.engine._queue import RunnableQueue
from runner.evaluation._stage_queue import StageFile, open_stage_queue, stage_prompt
from runner.evaluation._templates import Template
from runner.prompts._plan import QueuePlan
from runner.prompts._resolve import ResolvedPrompt, resolve_prompt
from runner.prompts._routing import QueueKey, stage_queue_key
from runner.run_folder._records import Finished

REPLY_BUFFER = 256
QUERY_BUFFER = 16
_LIST_ITEM = re.compile(r"^\s*(?:\(?\d+[.):]|[-*\u2022])\s+(.+?)\s*$")
_QUOTES = "\"'\u201c\u201d"


class RephraseParseError(ValueError):
    """A reply that holds no rephrasing."""


def parse_rephrasings(reply: str, mode: str, n: int) -> list[str]:
    """The rephrasings in one reply: the whole reply (``single``) or up to ``n`` list items (``list``)."""
    if mode == "single":
        text = reply.strip().strip(_QUOTES).strip()
        if not text:
            raise RephraseParseError("the reply is empty")
        return [text]
    items = [m.group(1).strip(_QUOTES).strip() for m in map(_LIST_ITEM.match, reply.splitlines()) if m]
    items = [item for item in items if item]
    if not items:
        raise RephraseParseError("the reply holds no numbered or bulleted list")
    return items[:n]


@dataclass
class _Pending:
    data: dict[str, Any]
    waiting: int
    variants: dict[tuple[int, int], str] = field(default_factory=dict)


class RephraseStage:
    """Feeds the rephraser from the prompt file and the experiment's queues from its replies."""

    def __init__(
        self,
        spec: RephraseSpec,
        config: RunConfig,
        providers: ProviderSet,
        prompt_file: Path,
        experiment_queues: Iterable[QueuePlan],
        stage_file: StageFile,
        batching: Batching | None = None,
        spending: Spending | None = None,
    ) -> None:
        self._spec = spec
        self._config = config
        self._prompt_file = prompt_file
        self._file = stage_file
        self.templates = [
            Template(text, where=f"rephrase '{spec.name}' template {index}")
            for index, text in enumerate(spec.templates)
        ]
        self._send_replies, self._receive_replies = trio.open_memory_channel[Finished](REPLY_BUFFER)
        key = stage_queue_key("rephrase", spec.name, spec.model)
        self.queue = open_stage_queue(
            key, spec.model, config, providers, self._send_replies, batching, spending
        )
        self._send_queries: dict[QueueKey, trio.MemorySendChannel[ResolvedPrompt]] = {}
        self._sources: dict[QueueKey, ChannelPrompts] = {}
        """Each experiment queue's prompts: planned as its originals times the variants of each, less
        the rephrasings never made (a failed request, a short list)."""
        for queue in experiment_queues:
            send, receive = trio.open_memory_channel[ResolvedPrompt](QUERY_BUFFER)
            self._send_queries[queue.key] = send
            self._sources[queue.key] = ChannelPrompts(receive, planned=queue.count * self.variants_per_prompt)
        self._pending: dict[str, _Pending] = {}

    @property
    def requests_per_template(self) -> int:
        """Requests sent per prompt and template."""
        return self._spec.n if self._spec.parse == "single" else 1

    @property
    def rephrasings_per_prompt(self) -> int:
        """Rephrasings made of each original when every request succeeds."""
        return self._spec.n * len(self.templates)

    @property
    def variants_per_prompt(self) -> int:
        """Prompts sent to the experiment's models per original (when every rephrasing succeeds)."""
        return int(self._spec.keep_original) + self.rephrasings_per_prompt

    def source(self, key: QueueKey) -> ChannelPrompts:
        """Where the experiment's queue ``key`` takes its prompts from."""
        return self._sources[key]

    @property
    def queues(self) -> list[RunnableQueue]:
        """The rephraser's queue."""
        return [self.queue.runner]

    async def feed(self) -> None:
        """Send every prompt of the prompt file through each template."""
        model = self._spec.model
        try:
            with self._prompt_file.open("rb") as file:
                for line in file:
                    data = json.loads(line)
                    prompt_id = str(data["id"])
                    self._pending[prompt_id] = _Pending(
                        data, len(self.templates) * self.requests_per_template
                    )
                    for t_index, template in enumerate(self.templates):
                        text = template.render(data, n=self._spec.n)
                        for r_index in range(self.requests_per_template):
                            request = {
                                "id": f"{prompt_id}/rephrase:{t_index}.{r_index}",
                                "prompt": text,
                                "rephrase_source": prompt_id,
                                "rephrase_template": t_index,
                                "request_index": r_index,
                            }
                            await self.queue.send_prompts.send(
                                stage_prompt(request, model, self.queue.runner.key, self._config)
                            )
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the rephrase queue was cancelled (Ctrl-C): collect sends what was already rephrased
        finally:
            self.queue.close()

    async def collect(self) -> None:
        """Parse each reply; queue a prompt and its rephrasings once all its replies are in."""
        async with self._receive_replies:
            try:
                async for finished in self._receive_replies:
                    await self._apply(finished.record)
            finally:
                self._file.close()
                for send in self._send_queries.values():
                    send.close()

    def close_unstarted(self) -> None:
        """Release channels of queues cancelled before they started."""
        self.queue.close()
        self._send_replies.close()
        for send in self._send_queries.values():
            send.close()
        for source in self._sources.values():
            source.close()

    async def _apply(self, record: Mapping[str, Any]) -> None:
        stage_record = dict(record)
        source_id = str(record["rephrase_source"])
        pending = self._pending[source_id]
        pending.waiting -= 1
        if record.get("error") is None:
            try:
                texts = parse_rephrasings(str(record["response"]), self._spec.parse, self._spec.n)
            except RephraseParseError as exc:
                stage_record["rephrase_error"] = str(exc)
            else:
                t_index = int(record["rephrase_template"])
                start = int(record["request_index"])
                for offset, text in enumerate(texts):
                    pending.variants[(t_index, start + offset)] = text
        self._file.write(stage_record)
        if pending.waiting == 0:
            del self._pending[source_id]
            if lost := self.rephrasings_per_prompt - len(pending.variants):
                self._sources[resolve_prompt(pending.data, self._config).queue].lose(lost)
            original = {
                **pending.data,
                "rephrase_of": source_id,
                "rephrase_template": None,
                "rephrase_index": 0,
            }
            if self._spec.keep_original:
                await self._send_prompt(original)
            for index, ((t_index, _), text) in enumerate(sorted(pending.variants.items()), start=1):
                variant = {
                    **pending.data,
                    "id": f"{source_id}-r{index}",
                    "prompt": text,
                    "rephrase_of": source_id,
                    "rephrase_template": t_index,
                    "rephrase_index": index,
                }
                await self._send_prompt(variant)

    async def _send_prompt(self, data: dict[str, Any]) -> None:
        prompt = resolve_prompt(data, self._config)
        # An experiment queue cancelled by Ctrl-C takes no more prompts: this one is simply not sent.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._send_queries[prompt.queue].send(prompt)
