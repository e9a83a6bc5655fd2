"""Which queue a prompt waits in, and how fast that queue may send.

As in prompto: without ``parallel`` every prompt shares one queue paced at ``max_queries``. With it,
a prompt's ``group`` names its queue; otherwise its ``api`` does, split per model when
``rate_limits`` (or the selected model config) names that model.
"""

from __future__ import annotations

from runner.config._config import ApiLimit, QueueLimit, RunConfig

DEFAULT_QUEUE = "default"


def queue_key(config: RunConfig, api: str, model_name: str, group: str | None) -> str:
    """The name of the queue a prompt is routed to."""
    if not config.parallel:
        return DEFAULT_QUEUE
    if group is not None:
        return f"group:{group}"
    if model_name in _api_limit(config, api).models:
        return f"{api}/{model_name}"
    return api


def queue_limit(config: RunConfig, key: str) -> QueueLimit:
    """The pacing of queue ``key``, with ``max_queries`` filled in from the most specific setting."""
    if key.startswith("group:"):
        limit = config.rate_limits.groups.get(key.removeprefix("group:"), QueueLimit())
    elif "/" in key:
        api, model_name = key.split("/", 1)
        api_limit = _api_limit(config, api)
        model_limit = api_limit.models[model_name]
        rate = model_limit.max_queries or api_limit.max_queries
        limit = model_limit.model_copy(update={"max_queries": rate})
    elif key == DEFAULT_QUEUE:
        limit = QueueLimit()
    else:
        limit = QueueLimit(**_api_limit(config, key).model_dump(exclude={"models"}))
    return limit if limit.max_queries else limit.model_copy(update={"max_queries": config.max_queries})


def _api_limit(config: RunConfig, api: str) -> ApiLimit:
    limit = config.rate_limits.apis.get(api, ApiLimit())
    model = config.model
    if model is not None and model.api == api and model.rate_limit is not None:
        models = {**limit.models, model.model_name: model.rate_limit}
        limit = limit.model_copy(update={"models": models})
    return limit
