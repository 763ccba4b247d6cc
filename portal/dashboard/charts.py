"""Charts drawn on the server as SVG: no JavaScript, nothing from a CDN.

Pure functions: figures in, markup out. Each chart has a ``viewBox`` and no fixed size, so
it scales to the width of its box (CSS keeps it readable from a 390 px phone to a meeting
room screen); the geometry is drawn for a box about 400 units wide, so text stays at least
~13 px on a phone. Every chart carries ``<title>`` and ``<desc>`` (the desc states the
numbers), and the page shows the same numbers in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 400
FONT = 14
SMALL = 12


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown (e.g. "72.5")
    highlight: bool = False  # drawn in the warning colour (bottom of the ranking)
    note: str = ""  # a word after the label, e.g. 排名靠后


def _head(uid: str, title: str, desc: str, height: float) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp  # pragma: no cover


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def ranking_bars(uid: str, title: str, bars: Sequence[Bar], maximum: float = 100.0) -> Markup:
    """Horizontal bars, one row per zone, best first; the value printed at the bar's end."""
    row, top, label_w, value_w, font = 38, 8, 112, 118, 17
    height = top * 2 + row * max(len(bars), 1)
    desc = "；".join(f"{b.label} {b.text}{('（' + b.note + '）') if b.note else ''}" for b in bars)
    parts = [_head(uid, title, desc, height)]
    span = WIDTH - label_w - value_w
    for i, b in enumerate(bars):
        y = top + i * row
        w = 0 if maximum <= 0 else max(span * min(b.value / maximum, 1.0), 0)
        cls = "dash-bar dash-bar-low" if b.highlight else "dash-bar"
        base = y + row / 2 + 6
        parts.append(
            f'<text class="chart-label" x="{label_w - 8}" y="{base:.1f}" '
            f'text-anchor="end" font-size="{font}">{escape(b.label)}</text>'
            f'<rect class="{cls}" x="{label_w}" y="{y + 6}" width="{w:.1f}" '
            f'height="{row - 12}" rx="3"/>'
            f'<text class="chart-value" x="{label_w + w + 6:.1f}" y="{base:.1f}" '
            f'font-size="{font}">{escape(b.text)}'
        )
        if b.note:
            parts.append(
                f'<tspan class="chart-note" font-size="{FONT}" dx="6">{escape(b.note)}</tspan>'
            )
        parts.append("</text>")
    parts.append("</svg>")
    # Numbers and escape()d labels only.
    return Markup("".join(parts))  # nosec B704


def weekly_columns(
    uid: str, title: str, labels: Sequence[str], values: Sequence[float], unit: str = ""
) -> Markup:
    """Columns per week with a light grid; x labels thinned so they never overlap."""
    n = max(len(values), 1)
    left, right, top, bottom = 40, 8, 22, 30
    height = 220
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_value = _nice_max(max(values, default=0))
    desc = "；".join(f"{lab} {_fmt(v)}{unit}" for lab, v in zip(labels, values, strict=False))
    parts = [_head(uid, title, desc, height)]
    for k in range(3):  # grid lines at 0, half and the top
        v = top_value * k / 2
        y = top + plot_h - plot_h * k / 2
        parts.append(
            f'<line class="dash-grid" x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="chart-axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="{SMALL}">{_fmt(v)}</text>'
        )
    slot = plot_w / n
    every = max(1, math.ceil(n / 7))  # at most 7 x labels
    show_values = n <= 10
    for i, v in enumerate(values):
        h = plot_h * (v / top_value) if top_value else 0
        x = left + i * slot + slot * 0.15
        y = top + plot_h - h
        parts.append(
            f'<rect class="dash-column" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" rx="2"/>'
        )
        if show_values:
            parts.append(
                f'<text class="chart-value" x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" '
                f'text-anchor="middle" font-size="{SMALL}">{_fmt(v)}</text>'
            )
        if i % every == 0 or i == n - 1 and n - 1 - i >= every:
            parts.append(
                f'<text class="chart-axis" x="{x + slot * 0.35:.1f}" y="{height - 10}" '
                f'text-anchor="middle" font-size="{SMALL}">{escape(labels[i])}</text>'
            )
    parts.append("</svg>")
    # Numbers and escape()d labels only.
    return Markup("".join(parts))  # nosec B704
