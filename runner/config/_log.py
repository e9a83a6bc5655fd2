"""The runner's logger, named once: every step logs to it, and run.log, the pipeline's console and the
secret filter attach to it (users configure it by this name too)."""

from __future__ import annotations

LOGGER_NAME = "prompto_run"
