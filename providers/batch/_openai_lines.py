"""One line of an OpenAI (or Azure OpenAI) batch results file, as the record it would have been live.

An answered line carries ``response.status_code`` and ``response.body`` (the live reply, parsed by the
provider's own parser); a line never run carries only ``error.code``: ``batch_expired``,
``batch_cancelled``, or a reason we do not know (worth another batch).
"""

from __future__ import annotations

import json

from providers._errors import MalformedReply, ProviderError, excerpt
from providers._json_api import JsonApiProvider, JsonObject
from providers._json_fields import object_at, str_at
from providers.batch._api import BatchCancelled, BatchExpired, BatchNotRun, BatchResult


def parsed_result(provider: JsonApiProvider, line: str) -> BatchResult | None:
    """The result a non-blank line holds; ``None`` if it names no ``custom_id``."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    custom_id = str_at(record, "custom_id") if isinstance(record, dict) else None
    if custom_id is None:
        return None
    response = record.get("response")
    if isinstance(response, dict):
        status = response.get("status_code")
        if not isinstance(status, int) or isinstance(status, bool):
            return BatchResult(custom_id, error=_malformed("a response without a status_code", line))
        try:
            return BatchResult(custom_id, completion=provider.outcome(status, response.get("body")))
        except ProviderError as error:
            return BatchResult(custom_id, error=error)
    return BatchResult(custom_id, error=_not_run(object_at(record, "error"), line))


def _not_run(error: JsonObject, line: str) -> ProviderError:
    """A line without a response: expired (``batch_expired``), cancelled, or not run for a reason we
    do not know (worth another batch)."""
    code, message = str_at(error, "code"), str_at(error, "message") or "no message"
    if code == "batch_expired":
        return BatchExpired(f"batch_expired: {excerpt(message)}")
    if code == "batch_cancelled":
        return BatchCancelled(f"batch_cancelled: {excerpt(message)}")
    if code is None:
        return _malformed("a line with neither a response nor an error code", line)
    return BatchNotRun(f"{code}: {excerpt(message)}")


def _malformed(what: str, line: str) -> MalformedReply:
    return MalformedReply(f"batch result is {what}: {excerpt(line)!r}")
