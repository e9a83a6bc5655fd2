"""Keys and URL credentials never reach a log: one filter scrubs every record a run's outputs receive.

While a run goes, a :class:`SecretFilter` sits in two kinds of place:

* on the loggers whose records carry keys and URLs, ``prompto_run`` and ``httpx`` (which logs the full
  URL of every request, user info and query included): a logger's filter runs before any handler sees
  its records, wherever the handler was installed and whenever;
* on every handler of the root logger and of ``prompto_run``: Hydra's console and ``run.log`` handlers,
  the run's own file handler. A handler's filter also sees the records of every other logger that
  reach it (httpcore, trio, a provider's own logger).

It formats the message and any traceback once, masks the user info and query values of every URL in
them, scrubs every form of every secret the providers hold, and hands the handlers plain text.
Several runs in one process (the pipeline) each add their own filter: a record is scrubbed of all
their secrets.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from providers import mask_url_credentials, redact

_FORMATTER = logging.Formatter()
URL_LOGGERS = ("httpx",)
"""Libraries that log request URLs (httpx: ``HTTP Request: POST https://user:pass@host/...?key=...``)."""


class SecretFilter(logging.Filter):
    """Masks URL credentials, and replaces every value ``secrets()`` returns with ``***``, in a record's
    message and traceback."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        done: tuple[SecretFilter, ...] = record.__dict__.get("_scrubbed_by", ())
        if self in done:  # a record meets the same filter on its logger and on each handler: scrub once
            return True
        record._scrubbed_by = (*done, self)
        secrets = [secret for secret in self._secrets() if secret]
        record.msg = self._scrub(record.getMessage(), secrets)
        record.args = None
        if record.exc_info:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text, secrets)
        return True

    @staticmethod
    def _scrub(text: str, secrets: Iterable[str]) -> str:
        return redact(mask_url_credentials(text), secrets)


@asynccontextmanager
async def secrets_scrubbed(logger: logging.Logger, secrets: Callable[[], list[str]]) -> AsyncIterator[None]:
    """Scrub ``secrets()`` and URL credentials from every record ``logger``, httpx and every handler of
    ``logger`` and of the root logger pass on inside the ``async with`` block."""
    secret_filter = SecretFilter(secrets)
    loggers = [logger, *map(logging.getLogger, URL_LOGGERS)]
    handlers = {*logging.getLogger().handlers, *logger.handlers}
    filtered: list[logging.Filterer] = [*loggers, *handlers]
    for filterer in filtered:
        filterer.addFilter(secret_filter)
    try:
        yield
    finally:
        for filterer in filtered:
            filterer.removeFilter(secret_filter)
