"""SVG building blocks for the report's and the live page's charts: number formats, scales, axes, legends, paths."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from orchestrator.core.text import html_text as escape

#: viewBox width of a full-width chart; the page scales it to the column.
FULL_WIDTH = 1140
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Rough width of one character of the 11-12 px chart font, to lay legends out without measuring text.
CHAR_PX = 6.6


def num(value: float) -> str:
    """A coordinate with one decimal at most: small output, sub-pixel accurate enough."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def count(value: int) -> str:
    return f"{value:,}"


def short(value: float) -> str:
    """A tick label: 0, 250, 1.5k, 12k, 2M."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def pct(value: float) -> str:
    """A percentage given in percent (5.0 is "5%"), with as many decimals as small values need."""
    if value == 0:
        return "0%"
    if abs(value) < 0.01:
        return "<0.01%" if value > 0 else "-<0.01%"
    decimals = 2 if abs(value) < 1 else 1 if abs(value) < 10 else 0
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def day_label(day: dt.date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}"


def nice_ticks(top: float, count: int = 5, integer: bool = True) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0 or not math.isfinite(top):
        top = 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


@dataclass(frozen=True, slots=True)
class Frame:
    """A chart's canvas: its size, the margins around the plot area, and the y scale's top value."""

    width: float
    height: float
    y_max: float
    left: float = 64
    right: float = 20
    top: float = 34
    bottom: float = 46

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def base(self) -> float:
        return self.top + self.plot_h

    def y(self, value: float) -> float:
        return self.top + self.plot_h * (1 - min(value, self.y_max) / self.y_max)

    def band(self, n: int) -> float:
        return self.plot_w / max(n, 1)

    def center(self, i: int, n: int) -> float:
        return self.left + self.band(n) * (i + 0.5)


def open_svg(frame: Frame, chart_id: str, title: str, desc: str) -> str:
    """The opening tag with the accessible name (`<title>`) and description (`<desc>`)."""
    return (
        f'<svg class="chart" viewBox="0 0 {num(frame.width)} {num(frame.height)}" role="img"'
        f' aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
    )


def no_data(frame: Frame, message: str = "No data for this period") -> str:
    x, y = frame.left + frame.plot_w / 2, frame.top + frame.plot_h / 2
    return f'<text class="empty" x="{num(x)}" y="{num(y)}">{escape(message)}</text>'


def y_axis(frame: Frame, ticks: Sequence[float], label: str, fmt: Callable[[float], str] = short) -> str:
    """Horizontal grid lines with their values, and the axis title turned along the axis."""
    right = num(frame.left + frame.plot_w)
    parts = []
    for tick in ticks:
        y = num(frame.y(tick))
        parts.append(
            f'<line class="grid" x1="{num(frame.left)}" x2="{right}" y1="{y}" y2="{y}"/>'
            f'<text class="ty" x="{num(frame.left - 6)}" y="{y}">{escape(fmt(tick))}</text>'
        )
    mid = num(frame.top + frame.plot_h / 2)
    parts.append(f'<text class="al" transform="translate(13 {mid}) rotate(-90)">{escape(label)}</text>')
    return "".join(parts)


def label_step(band_px: float, min_gap_px: float = 46) -> int:
    """Show every n-th label so neighbouring labels stay `min_gap_px` apart."""
    return max(1, math.ceil(min_gap_px / max(band_px, 0.01)))


def x_date_axis(frame: Frame, dates: Sequence[dt.date], label: str, label_dy: float = 16) -> str:
    """The baseline, a date under every n-th band, and the axis title under the plot."""
    n = len(dates)
    step = label_step(frame.band(n))
    base = num(frame.base)
    parts = [
        f'<line class="axis" x1="{num(frame.left)}" x2="{num(frame.left + frame.plot_w)}" y1="{base}" y2="{base}"/>'
    ]
    parts.extend(
        f'<text class="tx" x="{num(frame.center(i, n))}" y="{num(frame.base + label_dy)}">{day_label(day)}</text>'
        for i, day in enumerate(dates)
        if i % step == 0
    )
    parts.append(x_title(frame, label))
    return "".join(parts)


def x_title(frame: Frame, label: str) -> str:
    x = num(frame.left + frame.plot_w / 2)
    return f'<text class="al" x="{x}" y="{num(frame.height - 6)}">{escape(label)}</text>'


@dataclass(frozen=True, slots=True)
class Key:
    """One legend entry: `kind` is box, line, dash (a dashed line) or marker (a line with a dot)."""

    label: str
    color: str
    kind: str = "box"


def legend_layout(keys: Sequence[Key], x: float, max_x: float, y: float = 16) -> list[tuple[Key, float, float]]:
    """Where each legend entry goes: in rows from (`x`, `y`), wrapping before `max_x`."""
    placed = []
    left = x
    for key in keys:
        width = 19 + CHAR_PX * len(key.label)
        if x > left and x + width > max_x:
            x, y = left, y + 18
        placed.append((key, x, y))
        x += width + 18
    return placed


def legend(placed: Iterable[tuple[Key, float, float]]) -> str:
    """The legend entries laid out by `legend_layout`, each a swatch and its label."""
    parts = ['<g class="legend">']
    for key, x, y in placed:
        color = escape(key.color)
        if key.kind == "box":
            parts.append(f'<rect x="{num(x)}" y="{num(y - 9)}" width="12" height="12" rx="2" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if key.kind == "dash" else ""
            parts.append(
                f'<line x1="{num(x - 1)}" x2="{num(x + 15)}" y1="{num(y - 3)}" y2="{num(y - 3)}"'
                f' stroke="{color}" stroke-width="2"{dash}/>'
            )
            if key.kind == "marker":
                parts.append(f'<circle cx="{num(x + 7)}" cy="{num(y - 3)}" r="3" fill="#fff" stroke="{color}"/>')
        parts.append(f'<text x="{num(x + 19)}" y="{num(y + 1)}">{escape(key.label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def legend_height(placed: Sequence[tuple[Key, float, float]]) -> float:
    """The top margin a chart needs above its plot for this legend."""
    return (placed[-1][2] if placed else 16) + 16


def line_path(points: Iterable[tuple[float, float] | None]) -> str:
    """Path data through the points; a None leaves a gap."""
    out: list[str] = []
    pen_down = False
    for point in points:
        if point is None:
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{num(point[0])} {num(point[1])}")
        pen_down = True
    return "".join(out)


def bars_path(frame: Frame, bars: Iterable[tuple[float, float, float]]) -> str:
    """One path of many bars, each (x, width, value): far smaller than a rect per bar."""
    base = num(frame.base)
    return "".join(
        f"M{num(x)} {base}V{num(frame.y(value))}h{num(width)}V{base}z" for x, width, value in bars if value > 0
    )


#: The text styles every chart of this module needs, shared by the report and the live page.
CHART_CSS = """\
svg.chart text { font-size: 11px; fill: #4b5563; }
svg.chart .legend text { font-size: 12px; fill: #1f2937; }
svg.chart .ty { text-anchor: end; dominant-baseline: central; }
svg.chart .tx { text-anchor: middle; }
svg.chart .al { text-anchor: middle; font-size: 12px; fill: #374151; font-weight: 600; }
svg.chart .empty { text-anchor: middle; font-size: 14px; fill: #9ca3af; }
"""
