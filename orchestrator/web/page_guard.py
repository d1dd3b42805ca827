"""The live page's guardrail and shaping timeline: the last days' held days, pauses, resumes and domain backoffs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from orchestrator.charts.marks import MARK_COLORS, mark_keys, marks_layer
from orchestrator.charts.svg import Frame, legend, legend_height, legend_layout, no_data, num, open_svg, x_title
from orchestrator.core.text import html_text as escape
from orchestrator.core.timeline import KINDS, Mark

#: The timeline shows this much of the past.
WINDOW_S = 48 * 3600.0
#: The table lists at most this many marks, newest first.
MARK_ROWS = 40
CHART_W = 720


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return "?"


def timeline_chart(chart_id: str, marks: Sequence[Mark], now: float, window_s: float = WINDOW_S) -> str:
    """The last `window_s` seconds as a strip: a line per held day, pause and resume, a band per backoff."""
    start = now - window_s
    placed = legend_layout(mark_keys(marks), 8, CHART_W - 8)
    frame = Frame(CHART_W, legend_height(placed) + 70, 1, left=8, right=8, top=legend_height(placed) + 4, bottom=36)

    def x_of(t: float) -> float | None:
        if not start <= t <= now:
            return None
        return frame.left + frame.plot_w * (t - start) / window_s

    shown = [m for m in marks if m.t <= now and (m.end if m.end is not None else m.t) >= start]
    desc = ", ".join(f"{sum(m.kind == k for m in shown)} {label}" for k, label in KINDS.items())
    out = [open_svg(frame, chart_id, "Guardrail and shaping events, last 48 hours (UTC)", desc), legend(placed)]
    base = num(frame.base)
    out.append(
        f'<line class="axis" x1="{num(frame.left)}" x2="{num(frame.left + frame.plot_w)}" y1="{base}" y2="{base}"/>'
    )
    for hours_ago in range(0, int(window_s // 3600) + 1, 12):
        t = now - hours_ago * 3600
        x = x_of(t)
        if x is not None:
            out.append(f'<text class="tx" x="{num(x)}" y="{num(frame.base + 14)}">{escape(_when(t)[5:])}</text>')
    out.append(marks_layer(frame, x_of, shown, dt.UTC))
    if not shown:
        out.append(no_data(frame, "No day held, pause or backoff in the last 48 hours"))
    out.append(x_title(frame, "time (UTC)"))
    out.append("</svg>")
    return "".join(out)


def guard_section(marks: Sequence[Mark], now: float) -> str:
    """The timeline and the newest marks as a table (each value escaped)."""
    rows = []
    for m in sorted(marks, key=lambda m: m.t, reverse=True)[:MARK_ROWS]:
        color = MARK_COLORS.get(m.kind, "#6b7280")
        rows.append(
            f'<tr data-kind="{escape(m.kind)}"><td>{escape(_when(m.t))}</td><td>{escape(_when(m.end))}</td>'
            f'<td><span style="color:{color}">&#9632;</span> {escape(KINDS.get(m.kind, m.kind))}</td>'
            f"<td>{escape(m.identity or f'campaign {m.campaign}')}</td><td>{escape(m.subject)}</td>"
            f'<td class="detail">{escape(m.text)}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="6" class="empty-note">no day held, pause or backoff yet</td></tr>')
    head = (
        "<tr><th>time (UTC)</th><th>until</th><th>event</th><th>identity or campaign</th><th>metric or group</th>"
        "<th>detail</th></tr>"
    )
    return (
        '<section id="guardrails"><h2>Guardrails and shaping</h2>'
        f"{timeline_chart('guard-timeline', marks, now)}"
        f'<div class="scroll"><table>{head}{"".join(rows)}</table></div></section>'
    )
