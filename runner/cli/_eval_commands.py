"""``prompto-score RUN_DIR [scorers=[...]]`` and ``prompto-judge RUN_DIR [judges=[...]]``.

Both read a finished run folder, apply ``key=value`` overrides to its saved config, and write a new
records file and summary next to the old ones; neither sends anything to the run's own models. A
completed file prompto made is read too (:mod:`runner.cli._prompto_completed`).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from runner._rescore import RescoreResult, rejudge_run, rescore_run
from runner.cli._exit import NOTHING_SENT, exit_status
from runner.cli._prompto_completed import completed_file_config
from runner.config._config import RunConfig
from runner.results._exit_status import ExitStatus
from runner.run_folder._saved_config import load_run_config

USAGE = "usage: {prog} RUN_DIR|COMPLETED.jsonl [{key}=[name,...]] [other.key=value ...]"


def score_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``prompto-score``."""
    sys.exit(rescore_main("prompto-score", "scorers", rescore_run, sys.argv[1:] if argv is None else argv))


def judge_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``prompto-judge``."""
    sys.exit(rescore_main("prompto-judge", "judges", rejudge_run, sys.argv[1:] if argv is None else argv))


def rescore_main(
    prog: str, key: str, action: Callable[[RunConfig], Awaitable[RescoreResult]], argv: Sequence[str]
) -> int:
    """``prog RUN_DIR [key=[...]] ...``: ``action`` on the run folder's saved config; returns the status."""
    if not argv or argv[0] in ("-h", "--help") or "=" in argv[0]:
        print(USAGE.format(prog=prog, key=key), file=sys.stderr)
        return ExitStatus.USER_ERROR if not argv or "=" in argv[0] else ExitStatus.OK
    return exit_status(prog, lambda: _rescore(action, argv), aftermath=NOTHING_SENT)


def _rescore(action: Callable[[RunConfig], Awaitable[RescoreResult]], argv: Sequence[str]) -> int:
    target = Path(argv[0])
    config = (
        completed_file_config(target, argv[1:]) if target.is_file() else load_run_config(target, argv[1:])
    )
    result = trio.run(action, config)
    print("\n".join(score_lines(result.summary["scores"])))
    print(f"records: {result.records_file}\nsummary: {result.summary_file}")
    return ExitStatus.OK


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
