"""Building the run's scorers from their specs, and scoring one record with all of them.

Scores land in the record's ``scores`` (``{name: value}``). A scorer that cannot score a record (its
input is missing, or it raised) leaves ``scores[name]`` null and says why in ``score_errors[name]``;
the run goes on. Records that failed (``error`` is set) are not scored.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from providers import TargetImportError, import_object
from runner.config._eval_config import ScorerSpec
from runner.config._log import LOGGER_NAME
from scorers import Scorer, ScorerInputError

logger = logging.getLogger(LOGGER_NAME)


class ScorerBuildError(ValueError):
    """A scorer's ``_target_`` cannot be imported or does not accept its arguments."""


@dataclass(frozen=True)
class NamedScorer:
    """A built scorer and the name its scores are written under."""

    name: str
    scorer: Scorer


def build_scorers(specs: Sequence[ScorerSpec]) -> list[NamedScorer]:
    """Import and build every scorer; raise :class:`ScorerBuildError` naming the one that fails."""
    built = []
    for spec in specs:
        try:
            target = import_object(spec.target)
        except TargetImportError as exc:  # its message names the target and where it was looked for
            raise ScorerBuildError(f"scorer '{spec.name}': {exc}") from None
        if not callable(target):
            raise ScorerBuildError(f"scorer '{spec.name}': '{spec.target}' is not a function or class")
        try:
            scorer = functools.partial(target, **spec.args) if spec.partial else target(**spec.args)
        except (ImportError, TypeError, ValueError) as exc:
            raise ScorerBuildError(f"scorer '{spec.name}' ({spec.target}): {exc}") from None
        if not callable(scorer):
            raise ScorerBuildError(f"scorer '{spec.name}': {spec.target}(...) did not return a function")
        built.append(NamedScorer(spec.name, scorer))
    return built


async def score_record(record: dict[str, Any], scorers: Sequence[NamedScorer]) -> None:
    """Add each scorer's score to ``record['scores']`` (answered records only)."""
    if not scorers or record.get("error") is not None:
        return
    scores: dict[str, Any] = record.setdefault("scores", {})
    for named in scorers:
        try:
            value = named.scorer(record)
            if inspect.isawaitable(value):
                value = await value
        except ScorerInputError as exc:
            _score_error(record, named.name, str(exc))
            scores[named.name] = None
            continue
        except Exception as exc:
            logger.warning("scorer %s raised on record %s: %r", named.name, record.get("id"), exc)
            _score_error(record, named.name, f"{type(exc).__name__}: {exc}")
            scores[named.name] = None
            continue
        scores[named.name] = value
        record.get("score_errors", {}).pop(named.name, None)


def _score_error(record: dict[str, Any], name: str, message: str) -> None:
    record.setdefault("score_errors", {})[name] = message
