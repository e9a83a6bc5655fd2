"""What a Gemini batch says went wrong, as the errors a live request would have raised.

A result's ``error`` is a ``google.rpc.Status`` (its ``code`` an RPC code, not an HTTP status): it is
turned back into the HTTP status and ``{"error": ...}`` body a live reply had, for the provider's own
error classifier. A request an ended batch reports nothing for did not run: expired, cancelled, or
the batch failed.
"""

from __future__ import annotations

from providers._errors import ProviderError
from providers._json_api import JsonObject
from providers._json_fields import str_at
from providers.batch._api import BatchCancelled, BatchExpired, BatchNotRun

RPC_TO_HTTP = {
    1: (499, "CANCELLED"),
    2: (500, "UNKNOWN"),
    3: (400, "INVALID_ARGUMENT"),
    4: (504, "DEADLINE_EXCEEDED"),
    5: (404, "NOT_FOUND"),
    6: (409, "ALREADY_EXISTS"),
    7: (403, "PERMISSION_DENIED"),
    8: (429, "RESOURCE_EXHAUSTED"),
    9: (400, "FAILED_PRECONDITION"),
    10: (409, "ABORTED"),
    11: (400, "OUT_OF_RANGE"),
    12: (501, "UNIMPLEMENTED"),
    13: (500, "INTERNAL"),
    14: (503, "UNAVAILABLE"),
    15: (500, "DATA_LOSS"),
    16: (401, "UNAUTHENTICATED"),
}
"""``google.rpc.Code`` (what a result's ``error.code`` holds) and the HTTP status a live reply had."""


def live_error(error: JsonObject) -> tuple[int, JsonObject]:
    """A result's ``google.rpc.Status`` as the HTTP status and ``{"error": ...}`` body sent live."""
    code = error.get("code")
    if isinstance(code, int) and code >= 400:  # already an HTTP status
        status, name = code, str_at(error, "status") or ""
    else:
        status, name = RPC_TO_HTTP.get(code if isinstance(code, int) else 2, (500, "UNKNOWN"))
    body = {"code": status, "message": str(error.get("message") or ""), "status": name}
    if isinstance(error.get("details"), list):
        body["details"] = error["details"]
    return status, {"error": body}


def not_run(state: str, message: str | None) -> ProviderError:
    """Why a request of an ended batch has no result: expired, cancelled, or the batch failed."""
    why = f"batch {state}" + (f": {message}" if message else "")
    if state == "BATCH_STATE_EXPIRED":
        return BatchExpired(f"{why}: the request did not run before the batch expired")
    if state == "BATCH_STATE_CANCELLED":
        return BatchCancelled(f"{why}: the request did not run before the batch was cancelled")
    return BatchNotRun(f"{why}: the batch reported no result for the request")
