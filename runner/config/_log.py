"""The runner's logger, named once, and the mark of the records that tell how a run ended.

Every step logs to :data:`LOGGER_NAME`; run.log, the pipeline's console and the secret filter attach to
it (users configure it by this name too).
"""

from __future__ import annotations

import logging

LOGGER_NAME = "prompto_run"

OUTCOME = {"run_outcome": True}
"""``extra=`` of a record that tells how a run ended (its prompt file was empty, or changed after it was
validated). run.log keeps it; a command that prints the outcome itself leaves it off its console, so
that the user reads it once."""


def is_outcome(record: logging.LogRecord) -> bool:
    """Whether ``record`` was logged with :data:`OUTCOME`."""
    return bool(getattr(record, "run_outcome", False))
