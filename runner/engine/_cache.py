"""The opt-in response cache: reuse a reply already paid for when the very same request comes again.

One SQLite file (``<cache.dir>/responses.sqlite``) in WAL mode, so that several runs (a sweep, a judge
re-run in another terminal) can read and write it at once. The key is a SHA-256 of the api, the
endpoint the provider actually sends to (:attr:`providers.Provider.endpoint_url`: from the config, an
env var or the API's default), the model, the prompt as written and the parameters; media files named
by the prompt are keyed by name, size and modification time, so an edited image is a miss.

Only deterministic requests are cached unless ``cache.sampled`` is set: a prompt whose ``temperature``
(at the top of ``parameters`` or one level down, e.g. Gemini's ``generation_config``) is 0. A prompt
that sets no temperature samples at the API's default, so it is not cached by default either.

A reply that a retry might improve (cut off by the token limit, or empty) is neither stored nor served
unless ``cache.keep_incomplete`` is set. A cache file that cannot be opened, read or written (locked
for good, corrupt, truncated, on a full disk) is given up with one warning naming it: the run goes on
without it, sending every prompt.

SQLite calls run in a worker thread (``trio.to_thread``), one at a time, never on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from providers import MediaPart, Usage
from runner.config._config import CacheConfig
from runner.config._log import LOGGER_NAME
from runner.prompts._resolve import ResolvedPrompt

logger = logging.getLogger(LOGGER_NAME)

FILE_NAME = "responses.sqlite"
TOKEN_LIMIT_REASONS = frozenset({"length", "max_tokens", "model_context_window_exceeded"})
"""Finish reasons (lower-cased) of a reply cut off by a token limit: OpenAI's and every OpenAI-style
server's ``length``, Anthropic's ``max_tokens``, Gemini's ``MAX_TOKENS``, Ollama's ``length``."""
BUSY_TIMEOUT_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


@dataclass(frozen=True, slots=True)
class CachedReply:
    """What a finished prompt's record needs from its reply."""

    response: str | list[str]
    finish_reason: str | None
    usage: Usage
    served_model: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "response": self.response,
                "finish_reason": self.finish_reason,
                "usage": self.usage.as_record(),
                "served_model": self.served_model,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CachedReply:
        """A stored reply; raise :class:`ValueError` for anything this module did not write."""
        value = json.loads(text)
        if not isinstance(value, dict) or not isinstance(value.get("response"), str | list):
            raise ValueError(f"not a stored reply: {text[:80]!r}")
        usage = value.get("usage") or {}
        try:
            return cls(
                value["response"], value.get("finish_reason"), Usage(**usage), value.get("served_model")
            )
        except TypeError as exc:
            raise ValueError(f"not a stored reply: {text[:80]!r}") from exc

    @property
    def incomplete(self) -> bool:
        """Whether a retry might improve the reply: cut off by the token limit, or a turn left empty."""
        truncated = (self.finish_reason or "").lower() in TOKEN_LIMIT_REASONS
        turns = [self.response] if isinstance(self.response, str) else self.response
        return truncated or not turns or any(not turn.strip() for turn in turns)


def is_deterministic(parameters: Mapping[str, Any]) -> bool:
    """Whether the parameters ask for temperature 0 (where they set one at all)."""
    for scope in (parameters, *(v for v in parameters.values() if isinstance(v, Mapping))):
        if "temperature" in scope:
            temperature = scope["temperature"]
            return isinstance(temperature, int | float) and temperature == 0
    return False


def cache_key(prompt: ResolvedPrompt, endpoint_url: str | None) -> str:
    """The request's identity: api, endpoint, model, prompt, parameters (and media files' versions).

    ``endpoint_url`` is where the provider sends (``Provider.endpoint_url``), however it was set.
    """
    media = []
    for message in prompt.conversation.messages:
        for part in () if isinstance(message.content, str) else message.content:
            if isinstance(part, MediaPart) and part.path is not None:
                stat = part.path.stat()
                media.append([str(part.path), stat.st_size, stat.st_mtime_ns])
    identity = {
        "api": prompt.api,
        "base_url": endpoint_url,
        "model": prompt.model_name,
        "prompt": prompt.data["prompt"],
        "parameters": prompt.parameters,
        "media": media,
    }
    canonical = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """Look up and store replies; open with :func:`open_cache`.

    The first SQLite failure (or a stored row it cannot read) turns the cache off for the rest of the
    run, with one warning: every later lookup is a miss and nothing more is stored.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path, *, config: CacheConfig) -> None:
        self._connection = connection
        self.path = path
        self._sampled = config.sampled
        self._keep_incomplete = config.keep_incomplete
        self._one_at_a_time = trio.CapacityLimiter(1)
        self._usable = True

    def applies_to(self, prompt: ResolvedPrompt) -> bool:
        """Whether this prompt's reply may be reused (deterministic, or ``sampled`` set)."""
        return self._sampled or is_deterministic(prompt.parameters)

    async def get(self, key: str) -> CachedReply | None:
        """The stored reply for ``key``, if any (and if it is one worth serving)."""
        if not self._usable:
            return None
        try:
            row = await trio.to_thread.run_sync(self._select, key, limiter=self._one_at_a_time)
            reply = None if row is None else CachedReply.from_json(row)
        except (sqlite3.Error, ValueError) as exc:
            self._give_up("read", exc)
            return None
        if reply is None or not self._worth_keeping(reply):
            return None
        return reply

    async def put(self, key: str, reply: CachedReply) -> None:
        """Store a reply worth reusing; a cache that cannot be written never fails the run."""
        if not self._usable or not self._worth_keeping(reply):
            return
        try:
            await trio.to_thread.run_sync(self._insert, key, reply.to_json(), limiter=self._one_at_a_time)
        except sqlite3.Error as exc:
            self._give_up("written", exc)

    def _worth_keeping(self, reply: CachedReply) -> bool:
        # Serving an incomplete reply again would pin it: the next run could not get the whole answer.
        return self._keep_incomplete or not reply.incomplete

    def _give_up(self, action: str, exc: Exception) -> None:
        if self._usable:  # lookups in flight may fail together: one warning
            self._usable = False
            _warn_unusable(self.path, action, exc)

    def _select(self, key: str) -> str | None:
        row = self._connection.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _insert(self, key: str, reply: str) -> None:
        self._connection.execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", (key, reply))


def _warn_unusable(path: Path, action: str, exc: Exception) -> None:
    logger.warning(
        "response cache %s cannot be %s (%s: %s); the run goes on without it, sending every prompt",
        *(path, action, type(exc).__name__, exc),
    )


def _connect(path: Path) -> sqlite3.Connection:
    """Open (creating) the cache in WAL mode; runs in a worker thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    # Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once,
    # without waiting out the busy timeout, while another job of a sweep does the same: retry.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            return connection
        except sqlite3.Error as exc:
            locked = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
            if not locked or time.monotonic() > deadline:
                connection.close()
                raise
            time.sleep(0.02)


@asynccontextmanager
async def open_cache(config: CacheConfig) -> AsyncIterator[ResponseCache | None]:
    """The run's cache, or ``None`` when ``cache.enabled`` is false or the file cannot be opened."""
    if not config.enabled:
        yield None
        return
    path = config.dir / FILE_NAME
    try:
        connection = await trio.to_thread.run_sync(_connect, path)
    except (sqlite3.Error, OSError) as exc:  # not a database, unreadable, a folder it cannot create
        _warn_unusable(path, "opened", exc)
        yield None
        return
    try:
        yield ResponseCache(connection, path, config=config)
    finally:
        connection.close()
