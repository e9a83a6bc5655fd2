"""prompto's ``--max-queries-json`` file as this project's ``rate_limits``.

prompto's file maps names to rates; a name is an API or a group (prompto looks for a prompt's
``group`` first, then its ``api``), and its value is queries per minute, or a mapping of model names
to rates where ``default`` is the rate of the API's (or group's) other prompts::

    {"openai": {"default": 20, "gpt-4o": 10}, "gemini": 30, "judges": 5}

becomes::

    rate_limits:
      apis: {openai: {max_queries: 20, models: {gpt-4o: 10}}, gemini: 30, judges: 5}
      groups: {openai: 20, gemini: 30, judges: 5}

A name is kept under both, as prompto applies it to whichever the prompts use. Per-model rates
inside a *group* have no queue of their own here (a group is one queue); they are reported.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from runner.config._compose import ConfigError
from runner.config._log import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)

RateLimitsDict = dict[str, dict[str, Any]]


def load_max_queries_json(path: Path) -> RateLimitsDict:
    """Read prompto's max-queries JSON file and return the ``rate_limits`` mapping it means."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--max-queries-json: file '{path}' not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--max-queries-json: '{path}' is not a readable JSON file: {exc}") from None
    return translate_max_queries(loaded, source=str(path))


def translate_max_queries(max_queries: Any, *, source: str = "max_queries_dict") -> RateLimitsDict:
    """prompto's ``max_queries_dict`` as ``{apis: {...}, groups: {...}}``."""
    if not isinstance(max_queries, dict):
        raise ConfigError(f"{source}: must be a JSON object of API or group names, not {max_queries!r}")
    apis: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    for name, value in max_queries.items():
        if isinstance(value, dict):
            models = {model: _rate(rate, f"{source}: {name}.{model}") for model, rate in value.items()}
            default = models.pop("default", None)
            apis[name] = {"max_queries": default, "models": models}
            if default is not None:
                groups[name] = default
            if models:
                logger.info(
                    "%s: %s's model rates apply when %s is an api; as a group it is one queue",
                    source,
                    name,
                    name,
                )
        else:
            apis[name] = groups[name] = _rate(value, f"{source}: {name}")
    return {"apis": apis, "groups": groups}


def _rate(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: a rate must be a positive number of queries per minute, not {value!r}")
    return value
