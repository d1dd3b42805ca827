"""The live page's inline SVG charts: a campaign's progress bar and its identities' use of their caps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.charts.svg import (
    Frame,
    Key,
    bars_path,
    count,
    label_step,
    legend,
    legend_height,
    legend_layout,
    nice_ticks,
    no_data,
    num,
    open_svg,
    pct,
    x_title,
    y_axis,
)
from orchestrator.core.text import html_text as escape

#: The progress bar's parts, in order, with their colours (the report's outcome colours).
PROGRESS_PARTS = (
    ("accepted", "#16a34a"),
    ("failed", "#dc2626"),
    ("suppressed", "#7c3aed"),
    ("in_doubt", "#f59e0b"),
    ("in_flight", "#3b82f6"),
    ("pending", "#cbd5e1"),
)
TODAY = "#3b82f6"
HOUR = "#f59e0b"
CHART_W = 720


def progress_bar(chart_id: str, progress: dict[str, int]) -> str:
    """One stacked bar of the campaign's recipients by outcome, with a legend of the counts."""
    total = sum(progress.get(name, 0) for name, _ in PROGRESS_PARTS)
    keys = [Key(f"{name.replace('_', ' ')} {count(progress.get(name, 0))}", color) for name, color in PROGRESS_PARTS]
    placed = legend_layout(keys, 8, CHART_W - 8)
    top = legend_height(placed) + 4
    frame = Frame(CHART_W, top + 30, 1, left=8, right=8, top=top, bottom=8)
    desc = ", ".join(f"{name}: {progress.get(name, 0)}" for name, _ in PROGRESS_PARTS)
    parts = [open_svg(frame, chart_id, "Recipients by outcome", desc), legend(placed)]
    x = frame.left
    for name, color in PROGRESS_PARTS:
        n = progress.get(name, 0)
        if n <= 0 or total <= 0:
            continue
        w = frame.plot_w * n / total
        parts.append(
            f'<rect x="{num(x)}" y="{num(frame.top)}" width="{num(w)}" height="{num(frame.plot_h)}" fill="{color}">'
            f"<title>{escape(name)}: {count(n)}</title></rect>"
        )
        x += w
    if total <= 0:
        parts.append(no_data(frame, "No recipients"))
    parts.append("</svg>")
    return "".join(parts)


def _share(used: int, cap: int) -> float:
    """`used` as a percentage of `cap`; a zero cap used not at all is 0 %, used at all 100 %."""
    if cap <= 0:
        return 100.0 if used > 0 else 0.0
    return 100.0 * used / cap


def usage_chart(chart_id: str, identities: Sequence[dict[str, Any]]) -> str:
    """Per identity, today's sends as a share of its daily cap and the last 60 minutes' of its hourly cap."""
    keys = [Key("today / daily cap", TODAY), Key("last 60 min / hourly cap", HOUR)]
    placed = legend_layout(keys, 64, CHART_W - 20)
    shares = [
        (_share(i["sent_today"], i["daily_cap"]), _share(i["sent_last_hour"], i["hourly_cap"])) for i in identities
    ]
    top_value = max([100.0, *(max(pair) for pair in shares)])
    ticks = nice_ticks(top_value, 4)
    frame = Frame(CHART_W, 250, ticks[-1], top=legend_height(placed) + 6, bottom=52)
    desc = "; ".join(
        f"{i['id']}: {i['sent_today']} of {i['daily_cap']} today, {i['sent_last_hour']} of {i['hourly_cap']} last hour"
        for i in identities
    )
    parts = [open_svg(frame, chart_id, "Identities: use of their caps", desc or "no identity"), legend(placed)]
    parts.append(y_axis(frame, ticks, "% of cap", lambda v: f"{v:g}%"))
    n = len(identities)
    band = frame.band(n)
    bar_w = min(band * 0.36, 60)
    today_bars = [(frame.center(k, n) - bar_w, bar_w, s[0]) for k, s in enumerate(shares)]
    hour_bars = [(frame.center(k, n), bar_w, s[1]) for k, s in enumerate(shares)]
    parts.append(f'<path fill="{TODAY}" d="{bars_path(frame, today_bars)}"/>')
    parts.append(f'<path fill="{HOUR}" d="{bars_path(frame, hour_bars)}"/>')
    cap_y = num(frame.y(100))
    parts.append(
        f'<line class="cap" x1="{num(frame.left)}" x2="{num(frame.left + frame.plot_w)}" y1="{cap_y}" y2="{cap_y}"/>'
    )
    step = label_step(band, 90)
    for k, ident in enumerate(identities):
        if k % step == 0:
            label = escape(_clip(str(ident["id"]), 22))
            shown = f"{pct(shares[k][0])} / {pct(shares[k][1])}"
            x = num(frame.center(k, n))
            parts.append(f'<text class="tx" x="{x}" y="{num(frame.base + 15)}">{label}</text>')
            parts.append(f'<text class="tx" x="{x}" y="{num(frame.base + 29)}">{escape(shown)}</text>')
    if not identities:
        parts.append(no_data(frame, "No identity"))
    parts.append(x_title(frame, "identity (today / last 60 min)"))
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
