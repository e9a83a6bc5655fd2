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
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, Any, cast

import orjson

from providers import ChatRequest, Message, Provider, ProviderContext, UnknownApiError
from runner.config._config import QueueLimit, RunConfig
from runner.config._errors import UserError
from runner.config._shard import job_limit
from runner.prompts._conversation import PromptError, media_problems
from runner.prompts._id_set import IdSet
from runner.prompts._prompt_file import (
    MAX_NESTING,
    FileState,
    PromptLine,
    changed_since_read,
    count_lines,
    parse_json_line,
    read_prompt_lines,
)
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
    text_counter: Callable[[ResolvedPrompt], Callable[[str], None] | None] | None = None,
) -> Plan:
    """Validate ``source`` and write its prompts, ids filled in, to ``normalized`` (JSONL).

    ``normalized`` is written from its start; the queues' offsets count the bytes written, so any
    writable stream serves (the check writes to ``os.devnull``, whose ``tell()`` means nothing).
    ``include`` (given an id) leaves prompts out of the plan without it being a problem: resume and
    sharding use it. ``observe`` is given each prompt of the plan as it is read (the cost estimate);
    ``text_counter``, if given, may offer for a prompt of one text turn a function that observes the
    next prompts like it given only their text (:meth:`~runner.costs._estimate.Estimator.text_counter`).

    The common line (an id, a text prompt, api, model, group and parameters seen before) takes a fast
    path (:class:`_FastPath`); any other line, and any line it would not decide exactly as the full
    path does, is read again with every check.
    """
    plan = Plan(prompt_file=Path(getattr(normalized, "name", "")), source=source)
    seen_ids = IdSet(expected=count_lines(source))
    checked_apis: dict[str, type[Provider] | None] = {}
    fast = _FastPath(config, plan, seen_ids, normalized, include, observe, text_counter)
    lines = read_prompt_lines(source)
    for item in lines.raw():
        if type(item) is tuple:
            line_no, raw = item
            if fast.take(line_no, raw):
                continue
            line = parse_json_line(raw, line_no)
        else:
            line = cast(PromptLine, item)
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
        queue = fast.queue(prompt.queue)
        encoded = json.dumps(data, ensure_ascii=False).encode() + b"\n"
        fast.write(queue, encoded, len(json.dumps(data["prompt"], ensure_ascii=False)) // 4)
        plan.endpoints.add((prompt.api, prompt.model_name))
        if observe is not None:
            observe(prompt)
    normalized.flush()
    plan.source_read = lines.read
    _check_endpoints(config, plan, environ if environ is not None else os.environ)
    return plan


_ABSENT = object()
_HUGE = float(2**63)
"""orjson reads an integer past 64 bits as a float: a line whose parameters hold a float this large
goes the full path, which reads it with :mod:`json` (exact integers)."""


@dataclass(slots=True)
class _Route:
    """What every line of one (api, model, group, parameters) shares, worked out once."""

    key: QueueKey
    endpoint: tuple[str, str]
    prompt: ResolvedPrompt
    """The first line's, resolved (the others differ from it only by id and text)."""
    problems: list[str]
    """The API's objections to the request (the same for each line: a shipped provider's checks read
    the parameters, the model and the messages' kinds, never a text prompt's words)."""
    check: type[Provider] | None
    """A user's own provider, whose :meth:`~providers.Provider.check_request` is asked of each line."""
    counter: Callable[[str], None] | None
    """Adds a line to the estimate, given its text."""
    queue: QueuePlan | None = None
    """Made when the first line is planned (not before: every line may be left out)."""


class _FastPath:
    """The validation of the common line: parsed with orjson (several times faster than json), its
    target resolved once per (api, model, group, parameters), its bytes written through unchanged.

    :meth:`take` returns False for any line it does not decide exactly as :func:`build_plan`'s full
    path would: no ``id``, a prompt that is not a string, ``safety_filter``, a ``response_schema``,
    parameters holding a float past 64 bits (an integer orjson would round), a target that does not
    resolve or whose provider cannot be loaded, JSON orjson refuses (the full path says why), nesting
    deeper than the limit. The full path then reads it again, with :mod:`json`.
    """

    def __init__(
        self,
        config: RunConfig,
        plan: Plan,
        seen_ids: IdSet,
        normalized: IO[bytes],
        include: Callable[[str], bool] | None,
        observe: Callable[[ResolvedPrompt], None] | None,
        text_counter: Callable[[ResolvedPrompt], Callable[[str], None] | None] | None,
    ) -> None:
        self.config = config
        self.plan = plan
        self.seen_ids = seen_ids
        self.normalized = normalized
        self.include = include
        self.observe = observe
        self.text_counter = text_counter
        self.written = 0
        self.routes: dict[tuple[Any, ...], _Route | None] = {}
        self.providers: dict[str, type[Provider] | None] = {}

    def queue(self, key: QueueKey) -> QueuePlan:
        """The plan's queue ``key``, made on first use."""
        queue = self.plan.queues.get(key)
        if queue is None:
            limit = job_limit(queue_limit(self.config, key), self.config.shard, self.config.shard_rate)
            queue = self.plan.queues[key] = QueuePlan(key, limit)
        return queue

    def write(self, queue: QueuePlan, encoded: bytes, prompt_tokens: int) -> None:
        """Write one prompt's normalised line, and add it to ``queue``."""
        queue.add_offset(self.written)
        self.normalized.write(encoded)
        self.written += len(encoded)
        queue.prompt_tokens += prompt_tokens

    def take(self, line_no: int, raw: bytes) -> bool:
        """Decide the line, or return False for the full path to."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False
        if type(data) is not dict or raw.count(b"{") + raw.count(b"[") > MAX_NESTING:
            return False
        prompt_id = data.get("id")
        if type(prompt_id) is not str:
            if type(prompt_id) is not int:
                return False
            prompt_id = str(prompt_id)
        text = data.get("prompt")
        if type(text) is not str or "safety_filter" in data:
            return False
        api, model_name, group = data.get("api"), data.get("model_name"), data.get("group")
        # str or None only: hashable, and a group of 1 and one of True are two queues, not one key
        if (
            (api is not None and type(api) is not str)
            or (model_name is not None and type(model_name) is not str)
            or (group is not None and type(group) is not str)
        ):
            return False
        parameters = data.get("parameters", _ABSENT)
        if parameters is _ABSENT:
            shape: bytes | None = None
        elif type(parameters) is dict:
            shape = orjson.dumps(parameters)
        else:
            return False
        key = (api, model_name, group, shape)
        route = self.routes.get(key, _ABSENT)
        if route is _ABSENT:
            route = self.routes[key] = self._route(data)
        if route is None:
            return False
        route = cast(_Route, route)
        plan = self.plan
        if not self.seen_ids.add(prompt_id):
            plan.add_problem(line_no, f"duplicate id {prompt_id!r}")
            return True
        problems = route.problems
        if route.check is not None:
            problems = _request_problems(route.check, _text_request(route.prompt, text), route.prompt.api)
        for problem in problems:
            plan.add_problem(line_no, problem)
        if self.include is not None and not self.include(prompt_id):
            plan.skipped += 1
            return True
        if not raw.endswith(b"\n"):
            raw += b"\n"
        queue = route.queue
        if queue is None:
            queue = route.queue = self.queue(route.key)
            plan.endpoints.add(route.endpoint)
        queue.add_offset(self.written)
        self.normalized.write(raw)
        self.written += len(raw)
        queue.prompt_tokens += len(encode_basestring(text)) // 4  # json.dumps(text)'s length, as above
        if route.counter is not None:
            route.counter(text)
        return True

    def _route(self, data: dict[str, Any]) -> _Route | None:
        """The route of the lines like ``data``, or None if they take the full path."""
        parameters = data.get("parameters")
        if parameters is not None and (_holds_huge_float(parameters) or "response_schema" in parameters):
            return None
        try:
            prompt = resolve_prompt(data, self.config)
        except PromptError:
            return None
        cls = self._provider(prompt.api, prompt.model_name)
        if cls is None:
            return None
        own = not cls.__module__.startswith("providers.")
        request = _text_request(prompt, prompt.conversation.messages[0].text)
        problems = [] if own else _request_problems(cls, request, prompt.api)
        counter = None
        if self.observe is not None:  # the estimate: by text, else each line goes the full path
            counter = self.text_counter(prompt) if self.text_counter is not None else None
            if counter is None:
                return None
        endpoint = (prompt.api, prompt.model_name)
        return _Route(prompt.queue, endpoint, prompt, problems, cls if own else None, counter)

    def _provider(self, api: str, model_name: str) -> type[Provider] | None:
        key = f"{api}\0{self.config.provider_target(api, model_name) or ''}"
        if key not in self.providers:
            try:
                self.providers[key] = provider_type(self.config, api, model_name)
            except (UnknownApiError, ImportError):
                self.providers[key] = None  # the full path reports it, on each line
        return self.providers[key]


def _text_request(prompt: ResolvedPrompt, text: str) -> ChatRequest:
    return ChatRequest(prompt.model_name, (Message("user", text),), prompt.parameters, text)


def _holds_huge_float(value: Any) -> bool:
    if type(value) is float:
        return abs(value) >= _HUGE
    if type(value) is dict:
        return any(_holds_huge_float(item) for item in value.values())
    if type(value) is list:
        return any(_holds_huge_float(item) for item in value)
    return False


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
