"""Which queue a prompt waits in, and how fast that queue may send.

As in prompto: without ``parallel`` every prompt shares one queue paced at ``max_queries``. With it,
a prompt's ``group`` names its queue; otherwise its ``api`` does, split per model when
``rate_limits`` (or the selected model config) names that model. A judge or rephrasing model has a
queue of its own, paced by its api's limit unless the stage sets its own.

Every queue key is built here, as a :class:`QueueKey`; its text (``str()``) names the queue in
``summary.json``, the progress lines, the logs and the shared limiter's Redis bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.config._config import ApiLimit, QueueLimit, RunConfig
from runner.config._eval_config import StageModel

DEFAULT_QUEUE = "default"


@dataclass(frozen=True, slots=True)
class QueueKey:
    """One queue: what it is bound to. Build it with the functions below, never from its text.

    ``str()`` gives the queue's name: ``default``, ``group:<group>``, ``<api>``, ``<api>/<model>``,
    or, for a stage's queue, ``<stage>/<model>`` (``judge:<judge>/<model>``).
    """

    api: str | None = None
    """The api whose limit paces the queue (None: the ``default`` queue or a group's)."""
    model: str | None = None
    """Set when the queue holds one model's prompts only."""
    group: str | None = None
    """The prompts' ``group``, which names the queue."""
    stage: str | None = None
    """The evaluation stage that feeds the queue (``judge:<judge>``, ``rephrase:<name>``)."""

    def __str__(self) -> str:
        if self.stage is not None:
            return self.stage if self.model is None else f"{self.stage}/{self.model}"
        if self.group is not None:
            return f"group:{self.group}"
        if self.api is None:
            return DEFAULT_QUEUE
        return self.api if self.model is None else f"{self.api}/{self.model}"


def queue_key(config: RunConfig, api: str, model_name: str, group: str | None) -> QueueKey:
    """The queue an experiment's prompt is routed to."""
    if not config.parallel:
        return QueueKey()
    if group is not None:
        return QueueKey(group=group)
    if model_name in _api_limit(config, api).models:
        return QueueKey(api, model_name)
    return QueueKey(api)


def record_queue(config: RunConfig, record: Mapping[str, Any]) -> QueueKey:
    """The queue a record of ``completed.jsonl`` was sent from (its prompt's, routed again)."""
    group = record.get("group")
    api, model_name = str(record.get("api")), str(record.get("model_name"))
    return queue_key(config, api, model_name, None if group is None else str(group))


STAGE_KINDS = ("judge", "rephrase")


def is_stage_queue(name: str) -> bool:
    """Whether a queue's name (``str(QueueKey)``) is an evaluation stage's."""
    return name.startswith(tuple(f"{kind}:" for kind in STAGE_KINDS))


def stage_queue_key(kind: str, name: str, model: StageModel) -> QueueKey:
    """The queue of one model of an evaluation stage: ``kind`` ``judge`` or ``rephrase``, ``name`` the
    judge's or the rephrasing's."""
    return QueueKey(model.api, model.model_name, stage=f"{kind}:{name}")


def queue_limit(config: RunConfig, key: QueueKey) -> QueueLimit:
    """The pacing of queue ``key``, with ``max_queries`` filled in from the most specific setting."""
    if key.group is not None:
        limit = config.rate_limits.groups.get(key.group, QueueLimit())
    elif key.api is None:
        limit = QueueLimit()
    elif key.model is not None and key.stage is None:
        api_limit = _api_limit(config, key.api)
        model_limit = api_limit.models[key.model]
        rate = model_limit.max_queries or api_limit.max_queries
        limit = model_limit.model_copy(
            update={"max_queries": rate, "mode": model_limit.mode or api_limit.mode}
        )
    else:  # an api's queue, or a stage's: paced by the api's limit
        limit = QueueLimit(**_api_limit(config, key.api).model_dump(exclude={"models"}))
    return limit if limit.max_queries else limit.model_copy(update={"max_queries": config.max_queries})


def batches_configured(config: RunConfig) -> bool:
    """Whether any queue may batch: ``batch.enabled``, ``batch.apis``, or a queue whose mode is batch."""
    limits = config.rate_limits
    modes = [
        *(limit.mode for limit in limits.apis.values()),
        *(model.mode for limit in limits.apis.values() for model in limit.models.values()),
        *(limit.mode for limit in limits.groups.values()),
        config.model.rate_limit.mode if config.model is not None and config.model.rate_limit else None,
    ]
    return config.batch.enabled or config.batch.apis is not None or "batch" in modes


def batch_wanted(config: RunConfig, key: QueueKey, api: str) -> bool:
    """Whether the prompts of ``api`` in queue ``key`` are to go through the API's batch API (where it
    has one): the queue's ``mode`` if its limit sets one (in a shared queue, the api's limit), else the
    run's ``batch`` settings."""
    mode = queue_limit(config, key).mode
    if mode is None and key.api is None:  # the default queue or a group's: the prompt's api may say
        mode = _api_limit(config, api).mode
    return config.batch.wanted_for(api, mode)


def _api_limit(config: RunConfig, api: str) -> ApiLimit:
    limit = config.rate_limits.apis.get(api, ApiLimit())
    model = config.model
    if model is not None and model.api == api and model.rate_limit is not None:
        models = {**limit.models, model.model_name: model.rate_limit}
        limit = limit.model_copy(update={"models": models})
    return limit
