"""The ``scores`` part of ``summary.json``: scores per model and per group, judges, rephrasings.

* per score, per model (``api/model_name``) and per ``group``: ``count`` (records scored), ``errors``
  (records where it is null), ``mean`` (numbers and booleans), and for booleans ``rate`` with its 95%
  Wilson interval ``ci95``; for labels, how often each was given;
* ``judges``: per judge model, replies parsed, and failures by type (``judge_parse`` included);
* ``agreement``: for a judge with several models, the share of records where all agree, and per pair
  of models their agreement and Cohen's kappa;
* ``rephrase``: per model and score, across the variants of each original prompt: how many originals
  had variants scored, the mean and largest variance, and the share where the variants disagree.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.engine._queue import Finished

Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def cohen_kappa(pairs: Counter[tuple[str, str]]) -> float | None:
    """Cohen's kappa from counts of (rater A, rater B) value pairs; None when undefined."""
    n = sum(pairs.values())
    if n == 0:
        return None
    observed = sum(count for (a, b), count in pairs.items() if a == b) / n
    first, second = Counter[str](), Counter[str]()
    for (a, b), count in pairs.items():
        first[a] += count
        second[b] += count
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


@dataclass
class _ScoreTally:
    count: int = 0
    errors: int = 0
    numbers: int = 0
    total: float = 0.0
    booleans: int = 0
    true: int = 0
    labels: Counter[str] = field(default_factory=Counter)

    def add(self, value: Any) -> None:
        if value is None:
            self.errors += 1
            return
        self.count += 1
        if isinstance(value, bool):
            self.booleans += 1
            self.true += value
            self.numbers += 1
            self.total += float(value)
        elif isinstance(value, int | float):
            self.numbers += 1
            self.total += float(value)
        else:
            self.labels[str(value)] += 1

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"count": self.count, "errors": self.errors}
        if self.numbers:
            result["mean"] = round(self.total / self.numbers, 6)
        if self.booleans and self.booleans == self.count:
            low, high = wilson_interval(self.true, self.booleans)
            result |= {"rate": round(self.true / self.booleans, 6), "ci95": [round(low, 6), round(high, 6)]}
        if self.labels:
            result["labels"] = dict(self.labels.most_common())
        return result


class ScoreSummary:
    """Feed it every written record (:meth:`add`); :meth:`as_dict` is the summary's ``scores``."""

    def __init__(self, judge_keys: Mapping[str, Sequence[str]] | None = None) -> None:
        """``judge_keys``: each judge's score keys (one per judge model)."""
        self._judge_keys = {name: list(keys) for name, keys in (judge_keys or {}).items()}
        self._models: dict[str, dict[str, _ScoreTally]] = defaultdict(lambda: defaultdict(_ScoreTally))
        self._groups: dict[str, dict[str, _ScoreTally]] = defaultdict(lambda: defaultdict(_ScoreTally))
        self._judges: dict[str, Counter[str]] = defaultdict(Counter)
        self._agreement: dict[str, Counter[bool]] = defaultdict(Counter)
        self._pairs: dict[tuple[str, str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
        self._variants: dict[tuple[str, str, str], list[Any]] = defaultdict(list)

    def add(self, finished: Finished) -> None:
        """Count the scores and judgements of one record."""
        self.add_record(finished.record)

    def add_record(self, record: Mapping[str, Any]) -> None:
        """Count the scores and judgements of one record."""
        scores = record.get("scores")
        if not scores:
            return
        model = f"{record.get('api')}/{record.get('model_name')}"
        group = record.get("group")
        for name, value in scores.items():
            self._models[model][name].add(value)
            if group is not None:
                self._groups[str(group)][name].add(value)
            if "rephrase_of" in record and value is not None:
                self._variants[(model, name, str(record["rephrase_of"]))].append(value)
        for key, judgement in (record.get("judgements") or {}).items():
            error = judgement.get("error")
            self._judges[key]["ok" if error is None else f"failed:{error.get('type')}"] += 1
        for judge, keys in self._judge_keys.items():
            values = [scores.get(key) for key in keys]
            if len(keys) < 2 or any(value is None for value in values):
                continue
            self._agreement[judge][len({repr(v) for v in values}) == 1] += 1
            for (i, a), (j, b) in itertools.combinations(enumerate(keys), 2):
                self._pairs[(judge, a, b)][(repr(values[i]), repr(values[j]))] += 1

    def as_dict(self) -> dict[str, Any]:
        """The ``scores`` section of the summary."""
        result: dict[str, Any] = {
            "models": {
                m: {n: t.as_dict() for n, t in sorted(s.items())} for m, s in sorted(self._models.items())
            },
            "groups": {
                g: {n: t.as_dict() for n, t in sorted(s.items())} for g, s in sorted(self._groups.items())
            },
        }
        if self._judges:
            result["judges"] = {
                key: self._judge_counts(counts) for key, counts in sorted(self._judges.items())
            }
        if self._agreement:
            result["agreement"] = {judge: self._agreement_of(judge) for judge in sorted(self._agreement)}
        if self._variants:
            result["rephrase"] = self._rephrase_variance()
        return result

    @staticmethod
    def _judge_counts(counts: Counter[str]) -> dict[str, Any]:
        failed = {key.removeprefix("failed:"): n for key, n in sorted(counts.items()) if key != "ok"}
        return {"ok": counts["ok"], "failed": sum(failed.values()), "failed_by_type": failed}

    def _agreement_of(self, judge: str) -> dict[str, Any]:
        counts = self._agreement[judge]
        records = counts[True] + counts[False]
        pairwise = {}
        for (name, a, b), pairs in sorted(self._pairs.items()):
            if name != judge:
                continue
            agree = sum(n for (x, y), n in pairs.items() if x == y)
            kappa = cohen_kappa(pairs)
            pairwise[f"{a} vs {b}"] = {
                "agreement": round(agree / records, 6) if records else None,
                "kappa": None if kappa is None else round(kappa, 6),
            }
        return {
            "records": records,
            "unanimous": round(counts[True] / records, 6) if records else None,
            "pairwise": pairwise,
        }

    def _rephrase_variance(self) -> dict[str, Any]:
        per: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
        for (model, name, _), values in self._variants.items():
            if len(values) > 1:
                per[(model, name)].append(values)
        result: dict[str, dict[str, Any]] = defaultdict(dict)
        for (model, name), groups in sorted(per.items()):
            numeric = [
                [float(v) for v in values]
                for values in groups
                if all(isinstance(v, int | float) for v in values)
            ]
            variances = [statistics.pvariance(values) for values in numeric]
            result[model][name] = {
                "prompts": len(groups),
                "inconsistent": round(sum(len({repr(v) for v in g}) > 1 for g in groups) / len(groups), 6),
                "mean_variance": round(statistics.fmean(variances), 6) if variances else None,
                "max_variance": round(max(variances), 6) if variances else None,
            }
        return dict(result)


def attach_scores(summary: dict[str, Any], scores: Mapping[str, Any]) -> None:
    """Copy each model's and group's score tallies into its row of the summary, where tables read them."""
    for level in ("models", "groups"):
        for key, by_name in (scores.get(level) or {}).items():
            row = summary.get(level, {}).get(key)
            if row is not None:
                row["scores"] = by_name
