"""The plain-text summary printed at the end of a run."""

from __future__ import annotations

from typing import Any


def format_summary(summary: dict[str, Any], run_dir: str) -> str:
    """A short table per model: prompts, ok, failed (by type), retried, latency and tokens."""
    lines = [
        f"{summary['experiment']}: {summary['status']}, {summary['finished']}/{summary['prompts']} prompts "
        f"({summary['ok']} ok, {summary['failed']} failed) in {summary['wall_time_s']:.1f} s",
        f"{'model':<40} {'prompts':>7} {'ok':>6} {'failed':>6} {'retried':>7} {'p50 s':>7} {'p95 s':>7}",
    ]
    for model, tally in summary["models"].items():
        latency = tally["latency_s"]
        lines.append(
            f"{model:<40} {tally['prompts']:>7} {tally['ok']:>6} {tally['failed']:>6} {tally['retried']:>7} "
            f"{_seconds(latency['median']):>7} {_seconds(latency['p95']):>7}"
        )
        for error_type, count in tally["failed_by_type"].items():
            lines.append(f"  {error_type}: {count}")
    lines += score_lines(summary.get("scores"))
    lines.append(f"records: {run_dir}/completed.jsonl")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def score_lines(scores: dict[str, Any] | None) -> list[str]:
    """One line per model and score: the rate and its 95% interval, or the mean, or the top labels."""
    if not scores:
        return []
    lines = ["scores (n scored; null where a scorer or judge could not score)"]
    for model, by_name in scores["models"].items():
        for name, tally in by_name.items():
            if "rate" in tally:
                low, high = tally["ci95"]
                value = f"{tally['rate']:.3f} [{low:.3f}, {high:.3f}]"
            elif "mean" in tally:
                value = f"mean {tally['mean']:.3f}"
            else:
                value = ", ".join(f"{label} {n}" for label, n in list(tally.get("labels", {}).items())[:3])
            lines.append(f"  {model} {name}: {value} (n={tally['count']}, null {tally['errors']})")
    return lines
