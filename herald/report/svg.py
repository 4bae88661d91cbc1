"""Hand-written SVG charts for the report page: pure functions returning SVG text.

No script, font or image from anywhere: the page is one file a browser shows offline.
Every drawn figure carries its numbers as data attributes (data-value, data-low,
data-high, data-points...), so a test reading the DOM can check them against the
Campaign's status, and a person's browser can too (the numbers are also written out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
FONT = "font-family:sans-serif;font-size:12px"
LABEL_WIDTH = 140
ROW = 26


@dataclass(frozen=True)
class Bar:
    """One bar: its value, and optionally an interval drawn as a whisker (same unit)."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    text: str = ""
    """What is written beside the bar; empty: the value."""


@dataclass(frozen=True)
class Series:
    """One line of a line chart: (x, y) points, x ascending."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str = ""


@dataclass(frozen=True)
class Axis:
    """Tick labels along the x axis: (x, text)."""

    ticks: Sequence[tuple[float, str]] = field(default_factory=tuple)


def attr(value: object) -> str:
    """A data attribute's value: integers without a decimal point, others to 4 places."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4f}".rstrip("0")
    return escape(str(value), quote=True)


TITLE_HEIGHT = 22


def tick(value: float) -> str:
    """An axis label: whole numbers from 10 up, one decimal below."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _svg(kind: str, title: str, width: int, height: int, body: list[str]) -> str:
    """The chart, its title written above it (and as its accessible name)."""
    height += TITLE_HEIGHT
    return (f'<svg class="chart" data-chart="{attr(kind)}"'
            f' width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
            f' style="{FONT}"><title>{escape(title)}</title>'
            f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>'
            f'<g transform="translate(0,{TITLE_HEIGHT})">{"".join(body)}</g></svg>')


def scale(value: float, top: float, length: float) -> float:
    """`value` of 0..top as a length of 0..length (0 when top is 0), clamped."""
    if top <= 0:
        return 0.0
    return max(0.0, min(length, length * value / top))


def bar_chart(kind: str, title: str, bars: Sequence[Bar], *, top: float | None = None,
              width: int = 560) -> str:
    """Horizontal bars, one a row, labelled left, their text right; `top` the value of a
    full bar (default: the largest value or interval end)."""
    plot = width - LABEL_WIDTH - 90
    top = top if top is not None else max(
        [b.high if b.high is not None else b.value for b in bars] + [0.0])
    body = []
    for i, bar in enumerate(bars):
        y = 8 + i * ROW
        length = scale(bar.value, top, plot)
        color = PALETTE[i % len(PALETTE)]
        data = f'data-label="{attr(bar.label)}" data-value="{attr(bar.value)}"'
        if bar.low is not None and bar.high is not None:
            data += f' data-low="{attr(bar.low)}" data-high="{attr(bar.high)}"'
        body.append(f'<g class="bar" {data}>'
                    f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">'
                    f'{escape(bar.label)}</text>'
                    f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{ROW - 8}"'
                    f' fill="{color}"/>')
        if bar.low is not None and bar.high is not None:
            low, high = (LABEL_WIDTH + scale(bar.low, top, plot),
                         LABEL_WIDTH + scale(bar.high, top, plot))
            mid = y + (ROW - 8) / 2
            body.append(f'<path class="interval" d="M{low:.1f} {mid - 5:.1f}v10M{low:.1f}'
                        f' {mid:.1f}H{high:.1f}M{high:.1f} {mid - 5:.1f}v10" stroke="#111"'
                        ' fill="none"/>')
        body.append(f'<text x="{LABEL_WIDTH + plot + 6}" y="{y + 14}">'
                    f'{escape(bar.text or attr(bar.value))}</text></g>')
    return _svg(kind, title, width, 16 + ROW * max(1, len(bars)), body)


def funnel(kind: str, title: str, stages: Sequence[tuple[str, int]], *,
           width: int = 560) -> str:
    """Centred bars, each as wide as its count against the first stage's, with the
    count and its share of the first written on it."""
    first = stages[0][1] if stages else 0
    plot = width - LABEL_WIDTH - 20
    body = []
    for i, (label, value) in enumerate(stages):
        y = 8 + i * (ROW + 6)
        length = max(2.0, scale(value, first, plot)) if value else 0.0
        x = LABEL_WIDTH + (plot - length) / 2
        share = f" ({100 * value / first:.1f}%)" if first and i else ""
        body.append(f'<g class="stage" data-stage="{attr(label)}" data-value="{value}">'
                    f'<text x="{LABEL_WIDTH - 6}" y="{y + 17}" text-anchor="end">'
                    f'{escape(label)}</text>'
                    f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{ROW}"'
                    f' fill="{PALETTE[i % len(PALETTE)]}" opacity="0.85"/>'
                    f'<text x="{LABEL_WIDTH + plot / 2:.1f}" y="{y + 17}" text-anchor="middle"'
                    f' fill="#000">{value:,}{share}</text></g>')
    return _svg(kind, title, width, 16 + (ROW + 6) * max(1, len(stages)), body)


def line_chart(kind: str, title: str, series: Sequence[Series], *, axis: Axis = Axis(),
               unit: str = "", width: int = 560, height: int = 220) -> str:
    """Lines over a shared x range, y from 0 to the largest y; a legend under the plot.
    Each line is a polyline carrying its point count and its largest y."""
    left, right, top_pad, bottom = 50, 10, 10, 50
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    xs = [x for s in series for x, _ in s.points]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    span = (x1 - x0) or 1.0
    y_top = max([y for s in series for _, y in s.points] + [0.0]) or 1.0

    def at(x: float, y: float) -> str:
        return (f"{left + plot_w * (x - x0) / span:.1f},"
                f"{top_pad + plot_h - scale(y, y_top, plot_h):.1f}")

    body = [f'<rect x="{left}" y="{top_pad}" width="{plot_w}" height="{plot_h}" fill="none"'
            ' stroke="#ccc"/>',
            f'<text x="{left - 4}" y="{top_pad + 10}" text-anchor="end">{tick(y_top)}</text>',
            f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end">0</text>']
    if unit:
        body.append(f'<text x="4" y="{top_pad + plot_h / 2:.0f}">{escape(unit)}</text>')
    for i, (x, text) in enumerate(axis.ticks):
        px = left + plot_w * (x - x0) / span
        anchor = ("start" if i == 0 else "end" if i == len(axis.ticks) - 1 else "middle")
        body.append(f'<text x="{px:.1f}" y="{top_pad + plot_h + 14}" text-anchor="{anchor}">'
                    f'{escape(text)}</text>')
    for i, line in enumerate(series):
        color = line.color or PALETTE[i % len(PALETTE)]
        peak = max([y for _, y in line.points] + [0.0])
        body.append(f'<polyline class="series" data-series="{attr(line.name)}"'
                    f' data-points="{len(line.points)}" data-max="{attr(peak)}"'
                    f' points="{" ".join(at(x, y) for x, y in line.points)}"'
                    f' fill="none" stroke="{color}" stroke-width="2"/>')
        lx = left + i * 150
        body.append(f'<rect x="{lx}" y="{height - 18}" width="12" height="4" fill="{color}"/>'
                    f'<text x="{lx + 16}" y="{height - 13}">{escape(line.name)}</text>')
    return _svg(kind, title, width, height, body)
