"""The Hydra callback that compares a sweep's jobs when a ``-m`` multirun ends.

Configured in ``conf/config.yaml`` under ``hydra.callbacks``; Hydra calls :meth:`on_multirun_end` in
the launching process after every job has finished. Like the CLI, this is an entry point: it reads
the sweep folder out of Hydra's config and hands a plain path to :mod:`runner.display._comparison`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from runner.config._log import LOGGER_NAME
from runner.display._comparison import Comparison, common_overrides, display_rows, write_comparison
from runner.display._console import print_renderable
from runner.results._exit_status import ExitStatus, ProcessStatus, exit_status_of
from runner.run_folder._files import RunFolder

logger = logging.getLogger(LOGGER_NAME)


def print_comparison(comparison: Comparison, sweep_dir: Path, file: TextIO | None = None) -> None:
    """The comparison as a table: rich on a terminal, plain text elsewhere."""
    header, cells = display_rows(comparison)

    def build(plain: bool) -> RenderableType:
        table = Table(
            title=f"sweep comparison: {sweep_dir}", title_justify="left", box=box.ASCII if plain else None
        )
        for name in header:
            table.add_column(name)
        for row in cells:
            table.add_row(*(escape(cell) for cell in row))
        written = f"written: {sweep_dir / 'comparison.csv'}, {sweep_dir / 'comparison.html'}"
        return Group(table, Text(f"same in every job: {common_overrides(comparison) or '-'}"), Text(written))

    print_renderable(build, sys.stdout if file is None else file)


class SweepComparison(Callback):
    """Writes ``comparison.csv`` and ``comparison.html`` into the sweep folder, and prints the table."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """After the last job of a multirun."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            logger.warning("sweep folder %s does not exist: no job ran, nothing to compare", sweep_dir)
            return
        comparison = write_comparison(sweep_dir)
        print_comparison(comparison, sweep_dir)
        for status in job_statuses(sweep_dir):
            ProcessStatus.report(status)


def job_statuses(sweep_dir: Path) -> list[int]:
    """Each job's exit status, from its summary; a job that wrote none did not run (a bad config)."""
    statuses = []
    for job in sorted(path for path in sweep_dir.iterdir() if path.name.isdigit() and path.is_dir()):
        summary = RunFolder(job).summary
        try:
            statuses.append(exit_status_of(json.loads(summary.read_text())))
        except (OSError, ValueError):
            statuses.append(int(ExitStatus.USER_ERROR))
    return statuses
