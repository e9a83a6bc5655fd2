"""Reading fields of a vendor's JSON reply defensively: a missing, ``null`` or mistyped field is
"absent", never an exception in the middle of parsing a reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JsonObject = dict[str, Any]


def token_count(value: Any) -> int | None:
    """A usage count as an ``int``, or ``None`` when the server left it out or sent garbage."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def object_at(payload: Mapping[str, Any], name: str) -> JsonObject:
    """``payload[name]`` if it is a JSON object, else an empty one (the field is missing or ``null``)."""
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def list_at(payload: Mapping[str, Any], name: str) -> list[Any]:
    """``payload[name]`` if it is a JSON array, else an empty one."""
    value = payload.get(name)
    return value if isinstance(value, list) else []


def str_at(payload: Mapping[str, Any], name: str) -> str | None:
    """``payload[name]`` if it is a string, else ``None``."""
    value = payload.get(name)
    return value if isinstance(value, str) else None
