"""Hydra command-line overrides built from Python values, for commands that translate flags.

Every override is parsed back with Hydra's own grammar before it is used: a value Hydra would read
differently (a dict key such as ``true``, or a character its grammar cannot carry) is a
:class:`ConfigError` naming it, never a silently different config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from runner.config._compose import ConfigError

Value = str | int | float | bool | None | Sequence["Value"] | Mapping[str, "Value"]

_KEY_ESCAPES = str.maketrans({char: "\\" + char for char in "\\()[]{}:=, \t"})


def override(key: str, value: Value, *, prefix: str = "") -> str:
    """``key=value`` in Hydra's override grammar (``prefix`` is ``+`` or ``++`` to add a key)."""
    text = f"{prefix}{key}={_format(value)}"
    try:
        parsed = OverridesParser.create().parse_override(text).value()
    except HydraException as exc:
        raise ConfigError(f"{key} cannot be given as a Hydra override: {exc}") from None
    if parsed != _plain(value):
        raise ConfigError(f"{key}: Hydra would read {value!r} as {parsed!r}; rename the key or value")
    return text


def _format(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = re.sub(r"(\\+)(?='|$)", lambda match: match.group(1) * 2, value).replace("'", "\\'")
        return f"'{escaped}'"
    if isinstance(value, Mapping):
        return (
            "{" + ",".join(f"{str(k).translate(_KEY_ESCAPES)}:{_format(v)}" for k, v in value.items()) + "}"
        )
    return "[" + ",".join(_format(item) for item in value) + "]"


def _plain(value: Value) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


FREE_FORM_MAPPINGS = (
    "experiment.parameters",
    "model.parameters",
    "model.endpoint.options",
    "endpoints",
    "prices",
    "providers",
    "rate_limits.apis",
    "rate_limits.groups",
)
"""Settings whose keys are the user's own (a model's parameters, an api's endpoint...): Hydra's struct
mode refuses ``experiment.parameters={max_tokens: 24}`` because ``max_tokens`` is not in the defaults."""


def with_mapping_overrides(argv: Sequence[str]) -> list[str]:
    """``argv`` with each ``KEY={...}`` of a free-form mapping given as ``++KEY={...}`` (replace it, new
    keys and all), which is what a user writing it means."""
    return [f"++{argument}" if _assigns_mapping(argument) else argument for argument in argv]


def _assigns_mapping(argument: str) -> bool:
    key, equals, value = argument.partition("=")
    if not equals or key.startswith(("+", "~", "-")) or not value.lstrip().startswith("{"):
        return False
    return any(key == name or key.startswith(f"{name}.") for name in FREE_FORM_MAPPINGS)
