"""Pacing queues jointly across processes and machines: a token bucket per queue, kept in Redis.

Needed only when several jobs send on the same API key at once (a ``-m`` sweep of models of one
API, shards run in parallel, two users of a lab key) and splitting the rate among them by hand
(``shard_rate: split``, or a lower ``max_queries`` per job) is not enough. Off unless
``rate_limits.shared`` is set::

    rate_limits:
      shared: {url: "redis://127.0.0.1:6379/0", key_prefix: "prompto-run:"}

Every queue then also draws one token per request from the Redis bucket ``<key_prefix><queue>``,
filled at the queue's configured ``max_queries`` (the whole rate: the bucket is shared, not split).
Jobs whose queues have the same name share the bucket, so name queues after what the limit belongs
to (``parallel: true`` gives one queue per api; without it every prompt is in queue ``default``).

The bucket lives in one Lua script run with ``EVALSHA`` (atomic in Redis, on Redis's clock): it
refills ``rate * elapsed`` tokens up to ``burst``, takes one, and if the bucket was empty lets it
go into debt and returns how long the caller must wait before sending. Callers therefore queue up
in arrival order with one round trip each, and the joint rate never exceeds the configured one.

The local ticker (:mod:`runner.engine._limiter`) keeps pacing each job; Redis is consulted once per permit,
through the synchronous ``redis`` client in a worker thread (a few hundred calls a minute).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from runner.config._config import SharedLimiterSettings
from runner.config._errors import UserError

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

TOKEN_BUCKET_LUA = """
-- KEYS[1]: the bucket. ARGV[1]: tokens per second. ARGV[2]: capacity (burst).
-- Takes one token, going into debt if there is none; returns the seconds to wait before using it.
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 60000)
if tokens >= 0 then
  return '0'
end
return string.format('%.6f', -tokens / rate)
"""
"""Returns a string: Redis turns Lua numbers into integers, which would drop the fraction."""

CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 10.0


class SharedLimiterError(UserError, RuntimeError):
    """The shared limiter cannot work: the ``redis`` extra is missing or Redis cannot be reached."""


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"//[^@/]*@", "//***@", url)


class RedisBucket:
    """One queue's shared bucket; :meth:`take` returns when this process may send one request."""

    def __init__(self, script: Script, key: str, per_minute: float, burst: int, url: str) -> None:
        self.key = key
        self._script = script
        self._args = [repr(per_minute / 60.0), str(burst)]
        self._url = url

    async def take(self) -> None:
        """Reserve a token in Redis, then wait until it is due."""
        wait = await trio.to_thread.run_sync(self._reserve)
        if wait > 0:
            await trio.sleep(wait)

    def _reserve(self) -> float:
        from redis import RedisError

        try:
            reply = self._script(keys=[self.key], args=self._args)
        except RedisError as exc:
            raise SharedLimiterError(
                f"shared rate limiter: Redis at {redacted(self._url)} failed for {self.key}: {exc}"
            ) from exc
        return float(reply)


class SharedBuckets:
    """The run's connection to Redis; hands out one :class:`RedisBucket` per queue."""

    def __init__(self, client: Redis, settings: SharedLimiterSettings) -> None:
        self._settings = settings
        self._script = client.register_script(TOKEN_BUCKET_LUA)  # EVALSHA, loading it if Redis lacks it

    def bucket(self, queue: str, per_minute: float) -> RedisBucket:
        """The bucket shared by every job's queue named ``queue``, filled at ``per_minute``."""
        settings = self._settings
        return RedisBucket(
            self._script, settings.key_prefix + queue, per_minute, settings.burst, settings.url
        )


@asynccontextmanager
async def open_shared_buckets(settings: SharedLimiterSettings | None) -> AsyncIterator[SharedBuckets | None]:
    """Connect to Redis (checking it answers) if ``settings`` asks for it; yield ``None`` otherwise."""
    if settings is None:
        yield None
        return
    client = await trio.to_thread.run_sync(_connect, settings)
    try:
        yield SharedBuckets(client, settings)
    finally:
        client.close()


def _connect(settings: SharedLimiterSettings) -> Redis:
    try:
        from redis import Redis, RedisError
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry
    except ImportError:
        raise SharedLimiterError(
            "rate_limits.shared needs the redis client: pip install 'prompto-run[redis]'"
        ) from None
    try:
        client = Redis.from_url(
            settings.url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=3),
        )
        client.ping()
    except (RedisError, ValueError) as exc:
        raise SharedLimiterError(
            f"rate_limits.shared: cannot reach Redis at {redacted(settings.url)}: {exc}"
        ) from exc
    return client
