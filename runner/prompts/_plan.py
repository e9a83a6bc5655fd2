"""The validation pass: read the whole prompt file once, report every problem, plan the queues.

Nothing is sent until this pass finds no problem. What it keeps is small: per queue, where its prompts
are in a normalised JSONL file (4 bytes a prompt), and, while it reads, one hash per id to find
duplicates (:class:`~runner.prompts._id_set.IdSet`).
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from providers import ChatRequest, Provider, ProviderContext, UnknownApiError
from runner.config._config import QueueLimit, RunConfig
from runner.config._errors import UserError
from runner.config._shard import job_limit
from runner.prompts._conversation import PromptError, media_problems
from runner.prompts._id_set import IdSet
from runner.prompts._prompt_file import FileState, changed_since_read, count_lines, read_prompt_lines
from runner.prompts._resolve import ResolvedPrompt, derived_id, provider_type, resolve_prompt
from runner.prompts._routing import QueueKey, queue_limit

MAX_PROBLEMS_SHOWN = 50
MAX_GAP = 2**32 - 1
INCOMPLETE_INPUT = "incomplete_input"
"""The summary's status when the prompt file changed after it was validated (see
:meth:`Plan.input_changed_warning`)."""


@dataclass
class QueuePlan:
    """One queue: its pacing and where its prompts are."""

    key: QueueKey
    limit: QueueLimit
    prompt_tokens: int = 0
    """Estimated prompt tokens (characters / 4), for the pre-flight plan."""
    _gaps: array[int] = field(default_factory=lambda: array("I"), repr=False)
    """Bytes from the previous prompt of this queue to the next: 4 bytes a prompt (8 if a gap does not
    fit in 32 bits, i.e. other queues' prompts in between exceed 4 GB)."""
    _last_offset: int = field(default=0, repr=False)

    @property
    def count(self) -> int:
        """How many prompts wait in this queue."""
        return len(self._gaps)

    def add_offset(self, offset: int) -> None:
        """The next prompt of this queue starts at byte ``offset`` of the prompts file."""
        gap = offset - self._last_offset
        if gap > MAX_GAP and self._gaps.typecode == "I":
            self._gaps = array("q", self._gaps)
        self._gaps.append(gap)
        self._last_offset = offset

    def offsets(self) -> Iterator[int]:
        """Where each prompt of this queue starts, in order."""
        offset = 0
        for gap in self._gaps:
            offset += gap
            yield offset


@dataclass
class Plan:
    """The validated experiment: queues, the endpoints they use, and any problems found."""

    prompt_file: Path
    """The normalised JSONL file the queues' offsets point into."""
    source: Path | None = None
    """The prompt file validated."""
    source_read: FileState | None = None
    """``source`` as it was when validation read its last line (see :meth:`input_changed_warning`)."""
    queues: dict[QueueKey, QueuePlan] = field(default_factory=dict)
    endpoints: set[tuple[str, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    skipped: int = 0
    """Prompts left out by the caller's filter (already answered, another shard's)."""

    @property
    def total(self) -> int:
        """Prompts to send."""
        return sum(queue.count for queue in self.queues.values())

    def input_changed_warning(self) -> str | None:
        """A warning if the prompt file is no longer what was validated, else None.

        A file taken while its writer had only paused goes on growing in the run folder: the lines
        written after validation read it were neither checked nor sent.
        """
        if self.source is None or self.source_read is None:
            return None
        change = changed_since_read(self.source, self.source_read)
        if change is None:
            return None
        return (
            f"incomplete input: {self.source} is not the file that was validated ({change}); what was "
            "written to it since was not sent. To send the whole file, move it back into input/ (every "
            "prompt is sent again). Write prompt files elsewhere (or as *.tmp / *.part) and move them "
            "into input/ once complete."
        )

    def add_problem(self, line_no: int | None, message: str) -> None:
        """Record a problem (the first :data:`MAX_PROBLEMS_SHOWN` are kept verbatim)."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(f"line {line_no}: {message}" if line_no is not None else message)


class ValidationFailed(UserError):
    """The experiment has problems; nothing was sent."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        more = plan.problem_count - len(plan.problems)
        lines = [*plan.problems, *([f"... and {more} more"] if more else [])]
        super().__init__(f"{plan.problem_count} problem(s) in the experiment:\n  " + "\n  ".join(lines))


def build_plan(
    config: RunConfig,
    source: Path,
    normalized: IO[bytes],
    *,
    include: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] | None = None,
    observe: Callable[[ResolvedPrompt], None] | None = None,
) -> Plan:
    """Validate ``source`` and write its prompts, ids filled in, to ``normalized`` (JSONL).

    ``normalized`` is written from its start; the queues' offsets count the bytes written, so any
    writable stream serves (the check writes to ``os.devnull``, whose ``tell()`` means nothing).
    ``include`` (given an id) leaves prompts out of the plan without it being a problem: resume and
    sharding use it. ``observe`` is given each prompt of the plan as it is read (the cost estimate).
    """
    plan = Plan(prompt_file=Path(getattr(normalized, "name", "")), source=source)
    seen_ids = IdSet(expected=count_lines(source))
    checked_apis: dict[str, type[Provider] | None] = {}
    written = 0
    lines = read_prompt_lines(source)
    for line in lines:
        if line.data is None:
            plan.add_problem(line.line_no, line.problem or "unreadable")
            continue
        data = line.data
        if "id" not in data:
            data = {"id": _free_id(derived_id(data), seen_ids), **data}
        elif not isinstance(data["id"], str | int) or isinstance(data["id"], bool):
            plan.add_problem(line.line_no, "'id' must be a string or an integer")
            continue
        prompt_id = str(data["id"])
        if not seen_ids.add(prompt_id):
            plan.add_problem(line.line_no, f"duplicate id {prompt_id!r}")
            continue
        try:
            prompt = resolve_prompt(data, config)
        except PromptError as exc:
            plan.add_problem(line.line_no, str(exc))
            continue
        if media := media_problems(prompt.conversation):
            for problem in media:
                plan.add_problem(line.line_no, problem)
            continue
        cls = _checked_provider(config, prompt.api, prompt.model_name, checked_apis, plan, line.line_no)
        if cls is None:
            continue
        request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
        for problem in _request_problems(cls, request, prompt.api):
            plan.add_problem(line.line_no, problem)
        if include is not None and not include(prompt_id):
            plan.skipped += 1
            continue
        queue = plan.queues.get(prompt.queue)
        if queue is None:
            limit = job_limit(queue_limit(config, prompt.queue), config.shard, config.shard_rate)
            queue = plan.queues[prompt.queue] = QueuePlan(prompt.queue, limit)
        queue.add_offset(written)
        encoded = json.dumps(data, ensure_ascii=False).encode() + b"\n"
        normalized.write(encoded)
        written += len(encoded)
        queue.prompt_tokens += len(json.dumps(data["prompt"], ensure_ascii=False)) // 4
        plan.endpoints.add((prompt.api, prompt.model_name))
        if observe is not None:
            observe(prompt)
    normalized.flush()
    plan.source_read = lines.read
    _check_endpoints(config, plan, environ if environ is not None else os.environ)
    return plan


def _checked_provider(
    config: RunConfig,
    api: str,
    model_name: str,
    cache: dict[str, type[Provider] | None],
    plan: Plan,
    line_no: int,
) -> type[Provider] | None:
    key = f"{api}\0{config.provider_target(api, model_name) or ''}"
    if key not in cache:
        try:
            cache[key] = provider_type(config, api, model_name)
        except (UnknownApiError, ImportError) as exc:
            cache[key] = None
            plan.add_problem(line_no, str(exc))
            return None
    return cache[key]


def _request_problems(cls: type[Provider], request: ChatRequest, api: str) -> list[str]:
    """The API's objections to one request. A check that raises (a value of a type it did not expect,
    or a bug in a user's own provider) is a problem of that line, not a crash of the whole check."""
    try:
        return cls.check_request(request)
    except Exception as exc:
        return [f"api '{api}' could not check this prompt's values ({type(exc).__name__}: {exc})"]


def _check_endpoints(config: RunConfig, plan: Plan, environ: Mapping[str, str]) -> None:
    for api, model_name in sorted(plan.endpoints):
        context = ProviderContext(
            model_name, config.endpoint_for(api, model_name), environ, data_folder=config.data_folder
        )
        for problem in provider_type(config, api, model_name).check_config(context):
            plan.add_problem(None, f"api '{api}', model '{model_name}': {problem}")


def _free_id(candidate: str, seen: IdSet) -> str:
    """``candidate``, or ``candidate-2``, ``-3``... for identical lines repeated on purpose."""
    suffix, free = 1, candidate
    while free in seen:
        suffix += 1
        free = f"{candidate}-{suffix}"
    return free
