"""The report's sections as HTML fragments, each a heading, its charts and its tables."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from html import escape

from orchestrator.charts.svg import count, day_label, pct
from orchestrator.core.plan import SKIP_WARMUP_MAX_DAILY
from orchestrator.simulation.report import charts
from orchestrator.simulation.report.model import DayRow, EventRow, ReportData, as_time

#: Past this many events the table shows the first ones and says how many it left out.
MAX_EVENTS = 2000
EVENT_TONES = {
    "day_advanced": "good",
    "day_held": "warn",
    "campaign_paused": "bad",
    "campaign_resumed": "good",
}


def _time_text(value: str, zone: dt.tzinfo) -> str:
    at = as_time(value)
    return escape(value) if at is None else f"{at.astimezone(zone):%Y-%m-%d %H:%M}"


def date_ranges(dates: Sequence[dt.date]) -> str:
    """Dates as short runs: "Dec 5, Dec 9 – Dec 12"."""
    runs: list[list[dt.date]] = []
    for day in sorted(dates):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(day_label(r[0]) if len(r) == 1 else f"{day_label(r[0])} – {day_label(r[-1])}" for r in runs)


def header(data: ReportData) -> str:
    """The note (first, when there is one), the title and the period."""
    out = [f'<p class="note" role="note">{escape(data.note)}</p>'] if data.note else []
    period = (
        f"{day_label(data.dates[0])} {data.dates[0].year} – {day_label(data.dates[-1])} {data.dates[-1].year}"
        if data.dates
        else "no days simulated"
    )
    if data.unused_days:
        why = (
            "the campaign paused, and nothing resumes a simulation"
            if data.state == "paused"
            else ("the campaign had nothing left to do")
        )
        period += f" ({why}: {data.unused_days} of the days asked for left unused)"
    out.append(f"<header><h1>{escape(data.campaign) or 'Campaign'}</h1>")
    out.append(
        f'<p class="sub">Simulation report · {escape(period)}'
        f" · time zone {escape(data.timezone) or 'not set'} · {len(data.identities)} sending identities</p></header>"
    )
    return "".join(out)


def navigation(data: ReportData) -> str:
    links = [("summary", "Summary")]
    links += [(f"identity-{i}", f"Identity {name}") for i, name in enumerate(data.identities)]
    links += [("pool", "Pool"), ("domains", "Domain mix"), ("outcomes", "Outcomes"), ("signals", "Signals")]
    links += [("guardrails", "Guardrails and shaping"), ("events", "Events")]
    items = "".join(f'<a href="#{anchor}">{escape(label)}</a>' for anchor, label in links)
    return f'<nav aria-label="Sections">{items}</nav>'


def summary(data: ReportData) -> str:
    """Totals and outcomes at a glance."""
    s = data.summary
    share = f"{pct(100 * s.sent / s.total)} of {count(s.total)}" if s.total else "nothing to send"
    tiles = [
        ("Recipients", count(s.total), "in the campaign"),
        ("Sent", count(s.sent), share),
        (
            "Days simulated",
            count(len(data.dates)),
            f"{_time_text(data.start, data.zone)} → {_time_text(data.end, data.zone)}"
            f" ({s.days_simulated:,.2f} days of virtual time)"
            + (f"; {count(data.unused_days)} more days asked for, left unused" if data.unused_days else ""),
        ),
        ("Identities", count(len(data.identities)), escape(", ".join(data.identities)) or "none"),
        ("Wall time", f"{s.wall_seconds:,.1f} s", "to simulate the period"),
    ]
    out = ['<section id="summary" class="card"><h2>Summary</h2><div class="tiles">']
    out.extend(
        f'<div class="tile"><div class="k">{k}</div><div class="v">{v}</div><div class="d">{d}</div></div>'
        for k, v, d in tiles
    )
    out.append("</div>")
    width = min(100.0, 100 * s.sent / s.total) if s.total else 0.0
    out.append(
        f'<div class="progress" role="img" aria-label="{width:.0f}% of recipients sent">'
        f'<div style="width:{width:.1f}%"></div></div>'
    )
    total = sum(data.outcomes.values())
    out.append('<div class="outcomes">')
    out.extend(
        f'<span class="pill o-{escape(k)}"><b>{count(v)}</b> {escape(k.replace("_", " "))}'
        f"{f' ({pct(100 * v / total)})' if total else ''}</span>"
        for k, v in data.outcomes.items()
    )
    out.append("</div></section>")
    return "".join(out)


def identity(data: ReportData, index: int, name: str) -> str:
    """One identity's sends per day against its daily cap, per hour against its hourly plan, and its steps."""
    rows = [r for r in data.days if r.identity == name]
    sent = {r.day: r.sent for r in rows}
    caps = {r.day: r.daily_cap for r in rows}
    statuses = {r.day: charts.Status(r.status, r.warmup_day) for r in rows}
    hours = [r for r in data.hours if r.identity == name]
    title = escape(name)
    out = [f'<section id="identity-{index}" class="card chart-section"><h2>Identity <code>{title}</code></h2>']
    out.append(f"<h3>Sent per day against the daily cap: {title}</h3>")
    out.append(
        charts.daily_chart(
            f"day-{index}",
            f"{name}: messages sent per day and the daily cap",
            data.dates,
            sent,
            caps,
            limit_label="daily cap (planned)",
            y_label="sent per day",
            statuses=statuses,
            marks=[m for m in data.marks if m.identity in ("", name)],
            zone=data.zone,
        )
    )
    out.append(_steps_list(rows))
    out.append(f"<h3>Sent per hour against the hourly plan: {title}</h3>")
    midnights = [data.midnight(d) for d in data.dates]
    if data.dates:
        midnights.append(data.midnight(data.dates[-1] + dt.timedelta(days=1)))
    out.append(
        charts.hourly_chart(
            f"hour-{index}",
            f"{name}: messages sent per hour and the hourly plan",
            midnights,
            hours,
            [m for m in data.marks if m.identity in ("", name)],
        )
    )
    out.append("</section>")
    return "".join(out)


def _steps_list(rows: Sequence[DayRow]) -> str:
    """The warm-up days reached and the dates of each kind of step, as runs of dates."""
    if not rows:
        return '<p class="steps">No days recorded for this identity.</p>'
    by_status: dict[str, list[dt.date]] = defaultdict(list)
    for r in rows:
        by_status[r.status].append(r.day)
    ordered = sorted(by_status, key=lambda s: list(charts.STATUS_LABELS).index(s) if s in charts.STATUS_LABELS else 9)
    ordered_rows = sorted(rows, key=lambda r: r.day)
    items = [f"<li>Warm-up day {ordered_rows[0].warmup_day} → {ordered_rows[-1].warmup_day}</li>"]
    items += [
        f'<li><span class="dot" style="background:{charts.STATUS_COLORS.get(s, "#6b7280")}"></span>'
        f"{escape(charts.STATUS_LABELS.get(s, s))} ({len(by_status[s])}): {escape(date_ranges(by_status[s]))}</li>"
        for s in ordered
    ]
    return f'<ul class="steps">{"".join(items)}</ul>'


def pool(data: ReportData) -> str:
    """What the pool of identities sent each day against its ceiling (5 x the plan by default), and what its
    identities could send together (their caps: fair shares of the ceiling, Tencent's quotas included)."""
    out = ['<section id="pool" class="card chart-section"><h2>Pool</h2>']
    out.append("<h3>Sent per day by all identities against the pool ceiling</h3>")
    out.append(
        '<p class="lead">The pool ceiling is the pool multiplier (5 by default) times the plan\'s daily cap on'
        " the most advanced identity's warm-up day; in shared and skip-warmup modes, which have no plan, it is"
        f" the identities' caps together (skip-warmup's at most {count(SKIP_WARMUP_MAX_DAILY)})."
        " The dashed line is what the identities could send together: the sum of their daily caps (each its own,"
        " or its fair share of the ceiling when that binds, or Tencent's quota when lower).</p>"
    )
    sent = {r.day: r.sent for r in data.pool}
    ceiling = {r.day: r.ceiling for r in data.pool}
    together = {r.day: r.identities_cap for r in data.pool if r.identities_cap is not None}
    out.append(
        charts.daily_chart(
            "pool-chart",
            "Pool: messages sent per day, the pool ceiling and the identities' caps together",
            data.dates,
            sent,
            ceiling,
            limit_label="pool ceiling",
            y_label="sent per day",
            marks=data.marks,
            zone=data.zone,
            also=("identities' daily caps together", together) if together else None,
        )
    )
    out.append("</section>")
    return "".join(out)


def domains(data: ReportData) -> str:
    out = ['<section id="domains" class="card chart-section"><h2>Recipient-domain mix</h2>']
    out.append("<h3>Sent per day by recipient-domain group</h3>")
    out.append(
        charts.stacked_chart(
            "domain-chart", "Messages sent per day, stacked by recipient-domain group", data.dates, data.domains
        )
    )
    out.append("</section>")
    return "".join(out)


def outcomes(data: ReportData) -> str:
    out = ['<section id="outcomes" class="card chart-section"><h2>Outcomes</h2>']
    out.append("<h3>Where every recipient ended up</h3>")
    out.append(charts.outcomes_chart("outcome-chart", "Recipients by outcome", data.outcomes))
    out.append("</section>")
    return "".join(out)


def events(data: ReportData) -> str:
    """Every event of the simulation in order: warm-up steps, pauses, resumes."""
    out = ['<section id="events" class="card"><h2>Events</h2>']
    if not data.events:
        out.append('<p class="empty-note">No events recorded.</p></section>')
        return "".join(out)
    shown: Sequence[EventRow] = data.events[:MAX_EVENTS]
    if len(data.events) > MAX_EVENTS:
        out.append(f'<p class="lead">Showing the first {count(MAX_EVENTS)} of {count(len(data.events))} events.</p>')
    rows = "".join(
        f"<tr><td>{_time_text(e.at, data.zone)}</td>"
        f'<td><span class="tag {EVENT_TONES.get(e.type, "")}">{escape(e.type)}</span></td>'
        f"<td>{escape(e.identity)}</td><td>{escape(e.detail)}</td></tr>"
        for e in shown
    )
    out.append(
        '<table class="data events"><thead><tr><th>Time</th><th>Event</th><th>Identity</th><th>Detail</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )
    return "".join(out)
