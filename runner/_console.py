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
    lines.append(f"records: {run_dir}/completed.jsonl")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
