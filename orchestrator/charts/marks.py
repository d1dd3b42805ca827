"""Guardrail and shaping marks drawn over a time chart: a line per held day, pause and resume, a band per backoff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from orchestrator.charts.svg import Frame, Key, day_label, num
from orchestrator.core.text import html_text as escape
from orchestrator.core.timeline import KINDS, Mark

MARK_COLORS = {"held": "#d97706", "paused": "#dc2626", "resumed": "#16a34a", "backoff": "#7c3aed"}


def mark_keys(marks: Sequence[Mark]) -> list[Key]:
    """Legend entries for the kinds of mark present."""
    present = {m.kind for m in marks}
    return [Key(label, MARK_COLORS[kind], "dash") for kind, label in KINDS.items() if kind in present]


def day_x(frame: Frame, dates: Sequence[dt.date], zone: dt.tzinfo) -> Callable[[float], float | None]:
    """Where a Unix time falls on a chart of one band per local date (None: outside the dates)."""
    index = {d: i for i, d in enumerate(dates)}
    band = frame.band(len(dates))

    def x(t: float) -> float | None:
        local = dt.datetime.fromtimestamp(t, tz=zone)
        i = index.get(local.date())
        if i is None:
            return None
        midnight = dt.datetime.combine(local.date(), dt.time(0), tzinfo=zone)
        into = (local - midnight).total_seconds() / 86400
        return frame.left + band * (i + min(max(into, 0.0), 1.0))

    return x


def _when(t: float, zone: dt.tzinfo) -> str:
    local = dt.datetime.fromtimestamp(t, tz=zone)
    return f"{day_label(local.date())} {local:%H:%M}"


def marks_layer(frame: Frame, x_of: Callable[[float], float | None], marks: Sequence[Mark], zone: dt.tzinfo) -> str:
    """A dashed line at each instant mark and a shaded band over each backoff, each with its text as a tooltip."""
    out = ['<g class="marks">']
    right = frame.left + frame.plot_w
    for m in marks:
        x = x_of(m.t)
        color = MARK_COLORS.get(m.kind, "#6b7280")
        when = _when(m.t, zone) + (f" – {_when(m.end, zone)}" if m.end is not None else "")
        tip = f"<title>{escape(f'{when}: {m.text}')}</title>"
        if m.kind == "backoff" and m.end is not None:
            x_end = x_of(m.end)
            x0 = x if x is not None else (frame.left if x_end is not None else None)
            if x0 is None:
                continue
            x1 = x_end if x_end is not None else right
            out.append(
                f'<rect class="mark-span" data-kind="backoff" x="{num(x0)}" y="{num(frame.top)}"'
                f' width="{num(max(x1 - x0, 1.5))}" height="{num(frame.plot_h)}" fill="{color}"'
                f' fill-opacity="0.18">{tip}</rect>'
            )
            continue
        if x is None:
            continue
        out.append(
            f'<line class="mark-line" data-kind="{escape(m.kind)}" x1="{num(x)}" x2="{num(x)}" y1="{num(frame.top)}"'
            f' y2="{num(frame.base)}" stroke="{color}" stroke-width="1.5" stroke-dasharray="4 3">{tip}</line>'
        )
    out.append("</g>")
    return "".join(out)
