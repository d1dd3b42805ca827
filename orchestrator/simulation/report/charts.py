"""The report's charts as inline SVG: daily bars with a cap line, hourly sends, stacked mix, outcomes, rates."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from orchestrator.charts.marks import day_x, mark_keys, marks_layer
from orchestrator.charts.svg import (
    FULL_WIDTH,
    Frame,
    Key,
    bars_path,
    count,
    day_label,
    label_step,
    legend,
    legend_height,
    legend_layout,
    line_path,
    nice_ticks,
    no_data,
    num,
    open_svg,
    pct,
    x_date_axis,
    x_title,
    y_axis,
)
from orchestrator.core.timeline import Mark
from orchestrator.simulation.report.model import DomainRow, HourRow

SENT = "#3b82f6"
OVER = "#dc2626"
LIMIT = "#1f2937"
#: A second line on a daily chart, that the bars are not judged against.
ALSO = "#64748b"
STATUS_COLORS = {
    "advanced": "#16a34a",
    "held": "#f59e0b",
    "idle": "#9ca3af",
    "stepped_back": "#dc2626",
    "open_advance": "#86efac",
    "open_held": "#fcd34d",
    "open": "#e5e7eb",
}
STATUS_LABELS = {
    "advanced": "step advanced",
    "held": "step held",
    "idle": "idle",
    "stepped_back": "stepped back",
    "open_advance": "still open at the end (its sends so far would advance it)",
    "open_held": "still open at the end (its sends so far would hold it)",
    "open": "still open at the end, nothing sent",
}
#: Tableau 10: distinct for up to ten recipient-domain groups, readable for common colour blindness.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHER_COLOR = "#bab0ac"
OUTCOME_COLORS = {
    "accepted": "#16a34a",
    "failed": "#dc2626",
    "suppressed": "#7c3aed",
    "invalid": "#ea580c",
    "in_doubt": "#f59e0b",
    "pending": "#64748b",
}


@dataclass(frozen=True, slots=True)
class Status:
    """A day's warm-up step: what happened and the warm-up day it happened on."""

    status: str
    warmup_day: int


def _scale(values: Sequence[float]) -> list[float]:
    return nice_ticks(max(values, default=0))


def daily_chart(
    chart_id: str,
    title: str,
    dates: Sequence[dt.date],
    sent: dict[dt.date, int],
    limit: dict[dt.date, int],
    *,
    limit_label: str,
    y_label: str,
    statuses: dict[dt.date, Status] | None = None,
    marks: Sequence[Mark] = (),
    zone: dt.tzinfo = dt.UTC,
    also: tuple[str, dict[dt.date, int]] | None = None,
) -> str:
    """Bars sent per day, the day's limit as a line, a strip of warm-up steps, and `marks` at their time of day;
    `also` is a second line (label, value per day), dashed, that the bars are not judged against."""
    n = len(dates)
    over = any(sent.get(d, 0) > limit[d] for d in dates if d in limit)
    keys = [Key("sent", SENT), *([Key("over the limit", OVER)] if over else []), Key(limit_label, LIMIT, "marker")]
    keys += [Key(also[0], ALSO, "dash")] if also else []
    if statuses:
        present = {s.status for s in statuses.values()}
        keys += [Key(label, STATUS_COLORS[s]) for s, label in STATUS_LABELS.items() if s in present]
    keys += mark_keys(marks)
    ticks = _scale([*sent.values(), *limit.values(), *(also[1].values() if also else ())])
    placed = legend_layout(keys, 64, FULL_WIDTH - 20)
    strip = 20 if statuses else 0
    frame = Frame(FULL_WIDTH, 250 + strip, ticks[-1], top=legend_height(placed) + 4, bottom=46 + strip)
    total, days_over = sum(sent.get(d, 0) for d in dates), sum(sent.get(d, 0) > limit.get(d, 1 << 62) for d in dates)
    desc = f"{count(total)} sent over {n} days; {days_over} days above the limit."
    out = [open_svg(frame, chart_id, title, desc), legend(placed), y_axis(frame, ticks, y_label)]
    if not n or not (sent or limit):
        return "".join([*out, x_date_axis(frame, dates, "date"), no_data(frame), "</svg>"])
    lines = [(limit_label, limit), *([also] if also else [])]
    out.extend(_day_bars(frame, dates, sent, lines, statuses or {}))
    points = [(frame.center(i, n), frame.y(limit[d])) if d in limit else None for i, d in enumerate(dates)]
    if also:
        dashed = [(frame.center(i, n), frame.y(also[1][d])) if d in also[1] else None for i, d in enumerate(dates)]
        out.append(f'<path class="rate" stroke="{ALSO}" stroke-dasharray="5 3" d="{line_path(dashed)}"/>')
    out.append(f'<path class="limit" d="{line_path(points)}"/>')
    if frame.band(n) >= 7:
        out.extend(f'<circle class="mark" cx="{num(p[0])}" cy="{num(p[1])}" r="2.6"/>' for p in points if p is not None)
    if marks:
        out.append(marks_layer(frame, day_x(frame, dates, zone), marks, zone))
    if statuses:
        out.append(_status_strip(frame, dates, statuses))
    out.append(x_date_axis(frame, dates, "date", label_dy=16 + strip))
    out.append("</svg>")
    return "".join(out)


def _day_bars(
    frame: Frame,
    dates: Sequence[dt.date],
    sent: dict[dt.date, int],
    lines: Sequence[tuple[str, dict[dt.date, int]]],
    statuses: dict[dt.date, Status],
) -> list[str]:
    """A bar per day with sends, red above the first of `lines` (the limit), its tip naming each line's value."""
    n = len(dates)
    band = frame.band(n)
    width = band * 0.72
    out = []
    for i, day in enumerate(dates):
        value = sent.get(day, 0)
        if value <= 0:
            continue
        cap = lines[0][1].get(day)
        cls = "bar over" if cap is not None and value > cap else "bar"
        y = frame.y(value)
        tip = f"{day_label(day)}: {count(value)} sent"
        tip += "".join(f", {label} {count(per_day[day])}" for label, per_day in lines if day in per_day)
        if day in statuses:
            step = statuses[day]
            tip += f" (warm-up day {step.warmup_day}, {STATUS_LABELS.get(step.status, step.status)})"
        out.append(
            f'<rect class="{cls}" x="{num(frame.left + band * i + (band - width) / 2)}" y="{num(y)}"'
            f' width="{num(width)}" height="{num(frame.base - y)}"><title>{escape(tip)}</title></rect>'
        )
    return out


def _status_strip(frame: Frame, dates: Sequence[dt.date], statuses: dict[dt.date, Status]) -> str:
    """A coloured cell under each day's bar for its warm-up step, with the warm-up day inside when it fits."""
    band = frame.band(len(dates))
    out = ['<g class="strip">']
    for i, day in enumerate(dates):
        if day not in statuses:
            continue
        s = statuses[day]
        x = frame.left + band * i
        color = STATUS_COLORS.get(s.status, "#6b7280")
        tip = f"{day_label(day)}: warm-up day {s.warmup_day}, {STATUS_LABELS.get(s.status, s.status)}"
        out.append(
            f'<rect x="{num(x + 0.5)}" y="{num(frame.base + 4)}" width="{num(max(band - 1, 0.5))}" height="14"'
            f' fill="{color}"><title>{escape(tip)}</title></rect>'
        )
        if band >= 15:
            out.append(f'<text x="{num(x + band / 2)}" y="{num(frame.base + 14.5)}">{s.warmup_day}</text>')
    out.append("</g>")
    return "".join(out)


def hourly_chart(
    chart_id: str, title: str, midnights: Sequence[dt.datetime], rows: Sequence[HourRow], marks: Sequence[Mark] = ()
) -> str:
    """Sends in every hour as thin bars, the hour's planned cap as a step line, `marks` at their time;
    `midnights` are the starts of the local days and the end of the last one (a day is not always 24 hours)."""
    origin = midnights[0] if midnights else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    # Differences taken in UTC: two times of one zone object subtract as wall-clock times.
    utc_origin = origin.astimezone(dt.UTC)
    starts_h = [(m.astimezone(dt.UTC) - utc_origin).total_seconds() / 3600 for m in midnights]
    span_h = starts_h[-1] if starts_h else 0
    over = any(r.actual > r.planned for r in rows)
    keys = [Key("sent in the hour", SENT), *([Key("over the plan", OVER)] if over else [])]
    keys.append(Key("planned for the hour (hourly cap)", LIMIT, "line"))
    keys += mark_keys(marks)
    placed = legend_layout(keys, 64, FULL_WIDTH - 20)
    ticks = _scale([v for r in rows for v in (r.planned, r.actual)])
    frame = Frame(FULL_WIDTH, 220, ticks[-1], top=legend_height(placed) + 4, bottom=40)
    busiest = max(rows, key=lambda r: r.actual, default=None)
    desc = f"{sum(1 for r in rows if r.actual)} hours with sends"
    if busiest is not None and busiest.actual:
        desc += f"; busiest hour {busiest.at.astimezone(origin.tzinfo):%Y-%m-%d %H:%M} with {count(busiest.actual)}"
    out = [open_svg(frame, chart_id, title, desc + "."), legend(placed), y_axis(frame, ticks, "per hour")]
    out.append(_day_grid(frame, midnights, starts_h))
    if not span_h or not rows:
        return "".join([*out, no_data(frame), "</svg>"])
    hour_w = frame.plot_w / span_h
    placed_rows = sorted(
        ((r.at - utc_origin).total_seconds() / 3600, r)
        for r in rows
        if 0 <= (r.at - utc_origin).total_seconds() < span_h * 3600
    )
    fits = [(frame.left + h * hour_w, hour_w, r.actual) for h, r in placed_rows if r.actual <= r.planned]
    overs = [(frame.left + h * hour_w, hour_w, r.actual) for h, r in placed_rows if r.actual > r.planned]
    out.append(f'<path class="bar" d="{bars_path(frame, fits)}"/>')
    if overs:
        out.append(f'<path class="bar over" d="{bars_path(frame, overs)}"/>')
    out.append(f'<path class="limit" d="{_steps(frame, hour_w, placed_rows)}"/>')
    if marks:
        origin_s = utc_origin.timestamp()

        def x_of(t: float) -> float | None:
            hours = (t - origin_s) / 3600
            return frame.left + hours * hour_w if 0 <= hours <= span_h else None

        out.append(marks_layer(frame, x_of, marks, origin.tzinfo or dt.UTC))
    out.append("</svg>")
    return "".join(out)


def _day_grid(frame: Frame, midnights: Sequence[dt.datetime], starts_h: Sequence[float]) -> str:
    """A faint line at each midnight and the date under every n-th day."""
    span_h = starts_h[-1] if starts_h else 0

    def x(hour: float) -> float:
        return frame.left + frame.plot_w * hour / span_h if span_h else frame.left

    step = label_step(frame.band(len(midnights) - 1))
    out = [f'<line class="axis" x1="{num(frame.left)}" x2="{num(frame.left + frame.plot_w)}"']
    out.append(f' y1="{num(frame.base)}" y2="{num(frame.base)}"/>')
    grid = "".join(f"M{num(x(h))} {num(frame.top)}V{num(frame.base)}" for h in starts_h[1:-1])
    if grid:
        out.append(f'<path class="vgrid" d="{grid}"/>')
    out.extend(
        f'<text class="tx" x="{num(x((starts_h[i] + starts_h[i + 1]) / 2))}" y="{num(frame.base + 16)}">'
        f"{day_label(midnights[i].date())}</text>"
        for i in range(0, len(midnights) - 1, step)
    )
    out.append(x_title(frame, "local date, one column per hour"))
    return "".join(out)


def _steps(frame: Frame, hour_w: float, placed_rows: Sequence[tuple[float, HourRow]]) -> str:
    """A step line at each hour's plan; consecutive hours join, missing hours leave a gap."""
    out: list[str] = []
    end_h: float | None = None
    last_y: float | None = None
    for h, row in placed_rows:
        y = frame.y(row.planned)
        if end_h is not None and abs(h - end_h) < 1e-6:
            if y != last_y:
                out.append(f"V{num(y)}")
        else:
            out.append(f"M{num(frame.left + h * hour_w)} {num(y)}")
        out.append(f"H{num(frame.left + (h + 1) * hour_w)}")
        end_h, last_y = h + 1, y
    return "".join(out)


def stacked_chart(chart_id: str, title: str, dates: Sequence[dt.date], rows: Sequence[DomainRow]) -> str:
    """Bars per day stacked by recipient-domain group; the nine largest groups by name, the rest as "other"."""
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[r.group] += r.sent
    ranked = sorted((g for g in totals if g != "other"), key=lambda g: (-totals[g], g))
    named = ranked[: len(PALETTE)]
    folded = set(ranked[len(PALETTE) :])
    colors = dict(zip(named, PALETTE, strict=False))
    groups = named + (["other"] if folded or "other" in totals else [])
    colors["other"] = OTHER_COLOR
    per_day: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per_day[r.day]["other" if r.group in folded else r.group] += r.sent
    grand = sum(totals.values())
    keys = [Key(f"{g} {pct(100 * sum(d[g] for d in per_day.values()) / grand)}", colors[g]) for g in groups]
    if folded:
        keys[-1] = Key(f"{keys[-1].label} ({len(folded)} smaller groups)", OTHER_COLOR)
    placed = legend_layout(keys, 64, FULL_WIDTH - 20)
    ticks = _scale([sum(d.values()) for d in per_day.values()])
    frame = Frame(FULL_WIDTH, 270 + legend_height(placed), ticks[-1], top=legend_height(placed) + 4)
    desc = f"{count(grand)} sent to {len(totals)} recipient-domain groups over {len(dates)} days."
    out = [open_svg(frame, chart_id, title, desc), legend(placed), y_axis(frame, ticks, "sent per day")]
    n = len(dates)
    if not n or not grand:
        return "".join([*out, x_date_axis(frame, dates, "date"), no_data(frame), "</svg>"])
    band = frame.band(n)
    width = band * 0.72
    for i, day in enumerate(dates):
        values = per_day.get(day, {})
        day_total = sum(values.values())
        below = 0
        for g in groups:
            value = values.get(g, 0)
            if value <= 0:
                continue
            y_top, y_bottom = frame.y(below + value), frame.y(below)
            tip = f"{day_label(day)} · {g}: {count(value)} ({pct(100 * value / day_total)} of the day)"
            out.append(
                f'<rect x="{num(frame.left + band * i + (band - width) / 2)}" y="{num(y_top)}" width="{num(width)}"'
                f' height="{num(y_bottom - y_top)}" fill="{colors[g]}"><title>{escape(tip)}</title></rect>'
            )
            below += value
    out.append(x_date_axis(frame, dates, "date"))
    out.append("</svg>")
    return "".join(out)


def outcomes_chart(chart_id: str, title: str, outcomes: dict[str, int]) -> str:
    """One horizontal bar per outcome, labelled with its count and share of all outcomes."""
    total = sum(outcomes.values())
    ticks = _scale(list(outcomes.values()))
    row_h = 30
    frame = Frame(
        FULL_WIDTH, 24 + row_h * max(len(outcomes), 1) + 44, ticks[-1], left=110, right=150, top=14, bottom=44
    )
    desc = "; ".join(f"{k}: {count(v)}" for k, v in outcomes.items()) or "no outcomes"
    out = [open_svg(frame, chart_id, title, desc + ".")]

    def x(value: float) -> float:
        return frame.left + frame.plot_w * min(value, frame.y_max) / frame.y_max

    for tick in ticks:
        out.append(
            f'<line class="grid" x1="{num(x(tick))}" x2="{num(x(tick))}" y1="{num(frame.top)}" y2="{num(frame.base)}"/>'
            f'<text class="tx" x="{num(x(tick))}" y="{num(frame.base + 16)}">{count(int(tick))}</text>'
        )
    out.append(x_title(frame, "messages"))
    if not outcomes:
        return "".join([*out, no_data(frame, "No outcomes recorded"), "</svg>"])
    for i, (name, value) in enumerate(outcomes.items()):
        y = frame.top + 6 + row_h * i
        share = f" · {pct(100 * value / total)}" if total else ""
        out.append(
            f'<text class="ty" x="{num(frame.left - 8)}" y="{num(y + 9)}">{escape(name.replace("_", " "))}</text>'
            f'<rect x="{num(frame.left)}" y="{num(y)}" width="{num(max(x(value) - frame.left, 0))}" height="18" rx="2"'
            f' fill="{OUTCOME_COLORS.get(name, "#64748b")}"><title>{escape(name)}: {count(value)}</title></rect>'
            f'<text class="val" x="{num(x(value) + 6)}" y="{num(y + 13)}">{count(value)}{share}</text>'
        )
    out.append(f'<line class="axis" x1="{num(frame.left)}" x2="{num(frame.left)}" y1="{num(frame.top)}"')
    out.append(f' y2="{num(frame.base)}"/></svg>')
    return "".join(out)
