"""Splitting one prompt file across jobs: ``shard=i/n`` keeps the i-th of n disjoint, stable parts.

A prompt belongs to shard ``blake2b(id) mod n`` (8-byte digest, big-endian). The hash depends only on
the id string, so the split is the same in every process, on every machine and in every Python
version (unlike :func:`hash`, which is salted per process). Shards are numbered from 0, like
``range(n)``, ``${hydra.job.num}`` and SLURM's ``--array=0-3``::

    prompto-run -m +experiment=big shard=0/4,1/4,2/4,3/4
    prompto-merge outputs/big/multirun_...      # one completed.jsonl, every prompt exactly once

Each shard sends at ``1/n`` of every queue's rate (``shard_rate: split``, the default), so that n jobs
together stay within the limits the config names; ``shard_rate: full`` gives each job the whole rate
(for jobs on different API keys, or when ``rate_limits.shared`` coordinates them).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

if TYPE_CHECKING:
    from runner.config._config import QueueLimit

ShardRate = Literal["split", "full"]

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(prompt_id: str, count: int) -> int:
    """The shard (``0 <= shard < count``) that prompt ``prompt_id`` belongs to."""
    digest = hashlib.blake2b(prompt_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


class Shard(BaseModel):
    """``index/count``: this job's part of the prompt file (0-based). Written ``shard=1/4``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    count: int

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _SHARD.match(value)
            if match is None:
                raise ValueError(
                    f"expected i/n, the i-th of n shards counted from 0 (e.g. shard=0/4 ... shard=3/4), "
                    f"not {value!r}"
                )
            return {"index": int(match[1]), "count": int(match[2])}
        return value

    @model_validator(mode="after")
    def _in_range(self) -> Shard:
        if self.count < 1:
            raise ValueError(f"the number of shards must be at least 1, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard {self.index}/{self.count} does not exist: shards are counted from 0, "
                f"so with {self.count} shards use 0/{self.count} ... {self.count - 1}/{self.count}"
            )
        return self

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def includes(self, prompt_id: str) -> bool:
        """Whether prompt ``prompt_id`` is this shard's."""
        return shard_of(prompt_id, self.count) == self.index


def job_limit(limit: QueueLimit, shard: Shard | None, shard_rate: ShardRate) -> QueueLimit:
    """A queue's pacing in this job: its configured rates divided among the shards if they split them.

    ``max_queries`` and ``max_tokens_per_minute`` are divided by n; ``max_in_flight`` too, rounded up
    (each job may keep at least one request in flight).
    """
    if shard is None or shard_rate == "full" or shard.count == 1:
        return limit
    count = shard.count
    return limit.model_copy(
        update={
            "max_queries": None if limit.max_queries is None else limit.max_queries / count,
            "max_tokens_per_minute": None
            if limit.max_tokens_per_minute is None
            else max(1, limit.max_tokens_per_minute // count),
            "max_in_flight": None if limit.max_in_flight is None else math.ceil(limit.max_in_flight / count),
        }
    )
