"""Keys never reach a log: a filter on the run's logger scrubs every secret the providers hold.

The filter sits on the ``prompto_run`` logger itself, so it runs before any handler sees the record,
including the handlers Hydra installs on the root logger. It formats the message and any traceback
once, scrubs them, and hands the handlers plain text.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from providers import redact

_FORMATTER = logging.Formatter()


class SecretFilter(logging.Filter):
    """Replaces every value ``secrets()`` returns with ``***`` in a record's message and traceback."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [secret for secret in self._secrets() if secret]
        if not secrets:
            return True
        record.msg = redact(record.getMessage(), secrets)
        record.args = None
        if record.exc_info:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        return True


@asynccontextmanager
async def secrets_scrubbed(logger: logging.Logger, secrets: Callable[[], list[str]]) -> AsyncIterator[None]:
    """Scrub ``secrets()`` from everything ``logger`` emits inside the ``async with`` block."""
    secret_filter = SecretFilter(secrets)
    logger.addFilter(secret_filter)
    try:
        yield
    finally:
        logger.removeFilter(secret_filter)
