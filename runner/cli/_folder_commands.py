"""``prompto-report``, ``prompto-export`` and ``prompto-merge``: commands that read finished run folders.

Each parses its command line and calls the step that does the work (:mod:`runner.display._report`,
:mod:`runner.results._export`, :mod:`runner.results._merge`); each returns its exit status.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from runner.cli._exit import exit_status
from runner.display._report import write_report
from runner.results._exit_status import ExitStatus
from runner.results._export import FORMATS, export
from runner.results._merge import merge_sweep
from runner.run_folder._files import RunFolder


def report_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``prompto-report``."""
    parser = argparse.ArgumentParser(prog="prompto-report", description="Write report.html for a run folder.")
    parser.add_argument("run_dir", type=Path, help="a folder prompto-run wrote (holds summary.json)")
    parser.add_argument("--samples", type=int, default=200, help="records per model in the sample table")
    parser.add_argument("-o", "--output", type=Path, help="where to write (default: RUN_DIR/report.html)")
    args = parser.parse_args(argv)
    if args.samples < 0:
        parser.error("--samples must be 0 or more")
    return exit_status(
        "prompto-report", lambda: _print_written(write_report(args.run_dir, args.samples, args.output))
    )


def export_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``prompto-export``."""
    parser = argparse.ArgumentParser(prog="prompto-export", description="Flatten a run's records to a table.")
    parser.add_argument("run_dir", type=Path, help="a folder prompto-run wrote (holds completed.jsonl)")
    parser.add_argument("--format", choices=FORMATS, default="csv", help="output format (default: csv)")
    parser.add_argument("-o", "--output", type=Path, help="where to write (default: RUN_DIR/records.FORMAT)")
    args = parser.parse_args(argv)
    return exit_status(
        "prompto-export", lambda: _print_written(export(args.run_dir, args.format, args.output))
    )


def merge_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``prompto-merge`` command."""
    parser = argparse.ArgumentParser(
        prog="prompto-merge",
        description="Join a sharded sweep's records into one completed.jsonl with its summary.json.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep folder (Hydra's multirun_... folder)")
    args = parser.parse_args(argv)
    return exit_status("prompto-merge", lambda: _merge(args.sweep_dir), aftermath="Nothing was written.")


def _print_written(written: Path) -> int:
    print(written)
    return ExitStatus.OK


def _merge(sweep_dir: Path) -> int:
    for out_dir, summary in merge_sweep(sweep_dir):
        print(
            f"{summary['experiment']}: {summary['finished']} records from {summary['shards']} shards "
            f"({summary['ok']} ok, {summary['failed']} failed) -> {RunFolder(out_dir).completed}"
        )
    return ExitStatus.OK
