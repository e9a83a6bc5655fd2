"""The progress task: a live rich table on a terminal, a periodic plain line anywhere else.

The engine starts :func:`show_progress` in the run's nursery; it samples the queues' statistics on a
timer and never blocks the loop for longer than one short write. ``mode: auto`` picks the live table
only when the stream is an interactive terminal, so CI logs, SLURM ``.out`` files and ``nohup`` get one
readable line every ``interval_s`` instead of a flood of cursor movements. The last state is always
shown once more when the queues end (or are interrupted).

Given ``spent`` (what the run has spent so far, in USD), both modes also show the money: the plain line
ends with ``spent $0.12, projected $1.23`` and the live table has it as its title. The projection is
the spend so far scaled to every prompt (spent × prompts / prompts done): an estimate that assumes the
prompts left cost what the finished ones did.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import trio
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from runner.config._config import ProgressConfig
from runner.config._log import LOGGER_NAME
from runner.display._cost import spend_text
from runner.display._progress import (
    ProgressTracker,
    QueueProgress,
    Watched,
    duration,
    overall,
    plain_line,
    rate,
)

LIVE_REFRESH_S = 0.5


def resolve_mode(settings: ProgressConfig, stream: TextIO) -> str:
    """``rich``, ``plain`` or ``off``: ``auto`` is ``rich`` on an interactive terminal only."""
    if settings.mode != "auto":
        return settings.mode
    console = Console(file=stream)
    return "rich" if console.is_terminal and not console.is_dumb_terminal else "plain"


Spent = Callable[[], float]
"""What the run has spent so far, in USD (asked at every refresh)."""


async def show_progress(
    queues: Sequence[Watched],
    settings: ProgressConfig,
    stream: TextIO | None = None,
    spent: Spent | None = None,
) -> None:
    """Show the queues' progress on ``stream`` (``sys.stderr``) until cancelled; with ``spent``, the
    money spent so far and the projected total too."""
    stream = sys.stderr if stream is None else stream
    mode = resolve_mode(settings, stream)
    if mode == "off" or not queues:
        return
    tracker = ProgressTracker(queues)
    if mode == "plain":
        await _plain(tracker, stream, settings.interval_s, spent)
    else:
        await _live(tracker, stream, spent)


def money(lines: Sequence[QueueProgress], spent: Spent | None) -> str | None:
    """``spent $0.12, projected $1.23`` over every queue; ``None`` without ``spent``, or while nothing has
    cost anything (a run of free local models shows no money)."""
    if spent is None or (so_far := spent()) <= 0:
        return None
    total = overall(lines)
    return spend_text(so_far, total.done, total.total)


async def _plain(tracker: ProgressTracker, stream: TextIO, interval_s: float, spent: Spent | None) -> None:
    tracker.sample()  # the first sample anchors the rates
    next_at = tracker.started_at + interval_s
    try:
        while True:
            await trio.sleep_until(next_at)
            next_at += interval_s
            _write_plain(tracker, stream, spent)
    finally:  # the final state, also when interrupted
        _write_plain(tracker, stream, spent)


def _write_plain(tracker: ProgressTracker, stream: TextIO, spent: Spent | None = None) -> None:
    lines = tracker.sample()
    elapsed = duration(trio.current_time() - tracker.started_at)
    cost = money(lines, spent)
    text = f"[progress {elapsed}] {plain_line(overall(lines))}{'' if cost is None else ', ' + cost}\n"
    if len(lines) > 1:
        text += "".join(f"  queue {line.key}: {plain_line(line)}\n" for line in lines)
    stream.write(text)
    stream.flush()


async def _live(tracker: ProgressTracker, stream: TextIO, spent: Spent | None) -> None:
    console = Console(file=stream)

    def table() -> Table:
        lines = tracker.sample()
        return render(lines, money(lines, spent))

    with Live(table(), console=console, auto_refresh=False) as live, _logs_above(live):
        try:
            while True:
                await trio.sleep(LIVE_REFRESH_S)
                live.update(table(), refresh=True)
        finally:
            live.update(table(), refresh=True)


def render(lines: Sequence[QueueProgress], spending: str | None = None) -> Table:
    """The live table: one row per queue, then the overall row; ``spending`` (what :func:`money`
    says) is its title."""
    table = Table(
        title=spending, title_justify="left", box=None, pad_edge=False, show_edge=False, header_style="bold"
    )
    for name, justify in (
        ("queue", "left"),
        ("", "left"),
        ("done", "right"),
        ("ok", "right"),
        ("failed", "right"),
        ("retrying", "right"),
        ("rate (achieved/configured)", "right"),
        ("state", "left"),
        ("ETA", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = [*lines, overall(lines)] if len(lines) > 1 else list(lines)
    for index, line in enumerate(rows):
        is_total = len(lines) > 1 and index == len(rows) - 1
        table.add_row(
            "all" if is_total else escape(line.key),
            ProgressBar(total=max(line.total, 1), completed=line.done, width=24),
            f"{line.done}/{line.total}",
            f"[green]{line.ok}[/]",
            f"[red]{line.failed}[/]" if line.failed else "0",
            f"[yellow]{line.retrying}[/]" if line.retrying else "0",
            rate(line),
            _styled_state(line.state),
            duration(line.eta_s),
            end_section=len(lines) > 1 and index == len(lines) - 1,
            style="bold" if is_total else None,
        )
    return table


def _styled_state(state: str) -> str:
    if state.startswith("stopped"):
        return f"[red]{state}[/]"
    if state.startswith(("paused", "slowed")):
        return f"[yellow]{state}[/]"
    return state


@contextmanager
def _logs_above(live: Live) -> Iterator[None]:
    """Route console log handlers through the live display (its stdout/stderr proxies), so that log
    lines print above the table instead of tearing it."""
    del live  # entered: sys.stdout and sys.stderr are now its proxies
    proxies = {id(sys.__stdout__): sys.stdout, id(sys.__stderr__): sys.stderr}
    swapped: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
    for logger in (logging.getLogger(), logging.getLogger(LOGGER_NAME)):
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and id(handler.stream) in proxies:
                swapped.append((handler, handler.stream))
                handler.setStream(proxies[id(handler.stream)])
    try:
        yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)
