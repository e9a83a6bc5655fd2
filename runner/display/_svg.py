"""Small inline-SVG charts for the HTML reports: no plotting library, no network, text stays text.

Three chart kinds cover what a run report needs: horizontal bars with 95% intervals (a score per
model, a score per sweep job), small-multiple histograms with median and p95 marks (latency per
model, from counts binned as they were read: a million latencies cost no more than ten), and stacked
bars with a legend (failures by type per model). Every chart has a ``<title>`` and axis labels, and
its numbers are printed beside the bars so that nothing depends on reading pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Protocol

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
BAR_COLOR = PALETTE[0]
CHAR_W = 7.6
"""Approximate width of one character of the 12 px label font, to fit the label column to its labels."""
PLOT_W = 420
ROW_H = 26
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT}><title>{escape(title)}</title>'
        f'<text x="4" y="16" font-weight="bold" font-size="13">{escape(title)}</text>{"".join(body)}</svg>'
    )


def _label_width(labels: Iterable[str]) -> int:
    return int(min(600, max(120, CHAR_W * max((len(label) for label in labels), default=0) + 16)))


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _axis(x0: int, y: int, top: int, upper: float, ticks: int = 4, unit: str = "") -> list[str]:
    parts = [f'<line x1="{x0}" y1="{y}" x2="{x0 + PLOT_W}" y2="{y}" stroke="#444"/>']
    for i in range(ticks + 1):
        x = x0 + PLOT_W * i / ticks
        value = upper * i / ticks
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{y}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle">{value:.3g}{unit}</text>')
    return parts


def interval_bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    intervals: Sequence[tuple[float, float] | None],
    *,
    upper: float | None = None,
) -> str:
    """One horizontal bar per label with its 95% interval as a whisker; the value printed beside it."""
    known = [v for v in values if v is not None] + [hi for iv in intervals if iv for hi in iv]
    top_value = upper if upper is not None else _nice_max(max(known, default=1.0))
    top, x0 = 28, _label_width(labels)
    height = top + ROW_H * len(labels) + 24
    body = []
    for row, (label, value, interval) in enumerate(zip(labels, values, intervals, strict=True)):
        y = top + row * ROW_H
        body.append(f'<text x="{x0 - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            body.append(f'<text x="{x0 + 4}" y="{y + 16}" fill="#888">no value</text>')
            continue
        width = PLOT_W * max(0.0, value) / top_value
        body.append(
            f'<rect class="bar" x="{x0}" y="{y + 5}" width="{width:.1f}" height="{ROW_H - 10}" '
            f'fill="{BAR_COLOR}"><title>{escape(label)}: {value:.4g}</title></rect>'
        )
        text_x = x0 + width + 6
        if interval is not None:
            lo, hi = (x0 + PLOT_W * max(0.0, v) / top_value for v in interval)
            mid = y + ROW_H / 2
            body.append(
                f'<path class="whisker" d="M{lo:.1f},{mid}H{hi:.1f}M{lo:.1f},{mid - 5}V{mid + 5}'
                f'M{hi:.1f},{mid - 5}V{mid + 5}" stroke="#222" stroke-width="1.5" fill="none"/>'
            )
            text_x = max(text_x, hi + 6)
            shown = f"{value:.3g} [{interval[0]:.3g}, {interval[1]:.3g}]"
        else:
            shown = f"{value:.3g}"
        body.append(f'<text x="{text_x:.1f}" y="{y + 16}">{escape(shown)}</text>')
    body += _axis(x0, top + ROW_H * len(labels), top, top_value)
    return _svg(x0 + PLOT_W + 140, height, title, body)


class Distribution(Protocol):
    """Counted values, as a histogram panel reads them (the report's latencies: binned as read)."""

    @property
    def count(self) -> int: ...
    @property
    def maximum(self) -> float: ...
    def at_rank(self, rank: int) -> float: ...
    def binned(self, bins: int, upper: float) -> list[int]: ...
    def above(self, upper: float) -> int: ...


def histograms(
    title: str,
    samples: Mapping[str, Distribution],
    *,
    marks: Mapping[str, tuple[float, float]] | None = None,
    bins: int = 30,
    unit: str = "s",
) -> str:
    """Small-multiple histograms on one shared axis, one per label, with median and p95 marked
    (``marks``' where it has the label's, else read from the distribution). The axis ends past the
    largest 99.5th percentile, not the largest value: at 10^6 latencies one outlier would otherwise
    squeeze the rest into a bar or two; the few above are drawn in the last bar and counted beside it."""
    upper = _nice_max(
        max(
            (d.at_rank(min(d.count - 1, int(0.995 * d.count))) for d in samples.values() if d.count),
            default=1.0,
        )
    )
    panel_h, top, x0 = 54, 28, _label_width(samples)
    body = []
    for row, (label, values) in enumerate(samples.items()):
        y = top + row * panel_h
        color = PALETTE[row % len(PALETTE)]
        body.append(f'<text x="{x0 - 6}" y="{y + panel_h / 2 + 4}" text-anchor="end">{escape(label)}</text>')
        body.append(
            f'<line x1="{x0}" y1="{y + panel_h - 4}" x2="{x0 + PLOT_W}" y2="{y + panel_h - 4}" '
            'stroke="#bbb"/>'
        )
        if not values.count:
            body.append(f'<text x="{x0 + 4}" y="{y + panel_h / 2 + 4}" fill="#888">no latencies</text>')
            continue
        counts = values.binned(bins, upper)
        peak = max(counts)
        bar_w = PLOT_W / bins
        for index, count in enumerate(counts):
            if count:
                h = (panel_h - 10) * count / peak
                body.append(
                    f'<rect class="bar" x="{x0 + index * bar_w:.1f}" y="{y + panel_h - 4 - h:.1f}" '
                    f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{color}"/>'
                )
        n = values.count
        found = (marks or {}).get(label)
        median, p95 = found if found else (values.at_rank(n // 2), values.at_rank(min(n - 1, int(0.95 * n))))
        for name, mark, dash in (("median", median, ""), ("p95", p95, ' stroke-dasharray="4 3"')):
            x = x0 + PLOT_W * min(mark, upper) / upper
            body.append(
                f'<line x1="{x:.1f}" y1="{y + 2}" x2="{x:.1f}" y2="{y + panel_h - 4}" stroke="#222"{dash}>'
                f"<title>{name} {mark:.3g} {unit}</title></line>"
            )
        above = values.above(upper)
        beyond = f"; {above:,} above {upper:.3g} {unit}, in the last bar" if above else ""
        body.append(
            f'<text x="{x0 + PLOT_W + 8}" y="{y + panel_h / 2 + 4}">median {median:.3g} {unit}, '
            f"p95 {p95:.3g} {unit} (n={n}{beyond})</text>"
        )
    body += _axis(x0, top + panel_h * len(samples), top, upper, unit=f" {unit}")
    return _svg(x0 + PLOT_W + 260, top + panel_h * len(samples) + 24, title, body)


def stacked_bars(title: str, rows: Mapping[str, Mapping[str, int]]) -> str:
    """One horizontal bar per row, split by category (e.g. error type), with a legend."""
    categories = sorted({name for parts in rows.values() for name in parts})
    colors = {name: PALETTE[(i + 3) % len(PALETTE)] for i, name in enumerate(categories)}
    upper = _nice_max(max((sum(parts.values()) for parts in rows.values()), default=1))
    top, x0 = 48, _label_width(rows)
    body = []
    x = 4
    for name in categories:
        body.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{colors[name]}"/>')
        body.append(f'<text x="{x + 14}" y="33">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    for row, (label, parts) in enumerate(rows.items()):
        y = top + row * ROW_H
        body.append(f'<text x="{x0 - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>')
        start = float(x0)
        for name in categories:
            count = parts.get(name, 0)
            if count:
                width = PLOT_W * count / upper
                body.append(
                    f'<rect class="bar" x="{start:.1f}" y="{y + 5}" width="{width:.1f}" '
                    f'height="{ROW_H - 10}" fill="{colors[name]}">'
                    f"<title>{escape(name)}: {count}</title></rect>"
                )
                start += width
        total = sum(parts.values())
        body.append(f'<text x="{start + 6:.1f}" y="{y + 16}">{total}</text>')
    ticks = int(upper) if upper <= 10 else 4  # counts: whole-number ticks
    body += _axis(x0, top + ROW_H * len(rows), top, upper, ticks=ticks)
    return _svg(max(x0 + PLOT_W + 80, x + 10), top + ROW_H * len(rows) + 24, title, body)
