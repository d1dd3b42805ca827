"""The report's signals section: bounce, complaint and engagement rates per day of send, as charts against
the guardrail lines and as a table; a day too young for its opens to be judged shows none yet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from orchestrator.charts.svg import (
    Frame,
    Key,
    count,
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
    y_axis,
)
from orchestrator.core.guardrails import COMPLAINT_PCT, HARD_BOUNCE_PCT, OPEN_HOLD_PCT
from orchestrator.core.quality import HOUR_S, LATE, SETTLE_S
from orchestrator.simulation.report.model import ReportData, SignalRow
from orchestrator.simulation.report.signals import SIGNAL_NAMES

HOLD = "#d97706"
PAUSE = "#dc2626"
#: The report's fields the guardrails judge only on mail old enough for them to have arrived (opens, clicks).
LATE_FIELDS = frozenset(SIGNAL_NAMES[m] for m in LATE)
UNSETTLED_TIP = "mail this young at the end of the run: its opens are still arriving, no guardrail judged them yet"


def _ratio(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def day_rates(rows: Sequence[SignalRow | None], field: str) -> list[float | None]:
    """`field`'s rate per row as the guardrails count it: per delivered mail for opens and clicks, per
    accepted mail otherwise; None with nothing to divide by, or for a late field on a day not settled."""
    per = "delivered" if field in LATE_FIELDS else "accepted"
    return [
        None if r is None or (field in LATE_FIELDS and not r.settled) else _ratio(getattr(r, field), getattr(r, per))
        for r in rows
    ]


def signals(data: ReportData) -> str:
    """Bounce, complaint and engagement rates per day against the guardrails of spec/warmup.md section 7."""
    by_day = {r.day: r for r in data.signals}
    rows = [by_day.get(d) for d in data.dates]
    out = ['<section id="signals" class="card chart-section"><h2>Signals</h2>']
    out.append(
        '<p class="lead">Rates are per day of send over all identities: bounces, complaints and unsubscribes'
        " in percent of the mail Tencent accepted, opens and clicks in percent of the mail delivered, as the"
        f" guardrails count them. They judge opens only on mail at least {SETTLE_S // HOUR_S} hours old (or"
        " their window, when longer): a day of send with younger mail when the run stopped has no open or click"
        " rate yet (not settled), and its complaint rate is a lower bound (*), complaints still arriving."
        " The guardrails judge each identity over its rolling window on a confidence"
        " bound, so a day's rate above a line does not by itself hold or pause."
        f" Guardrails: hard bounces hold the step above {pct(HARD_BOUNCE_PCT[0])}"
        f" and pause above {pct(HARD_BOUNCE_PCT[1])}; complaints hold above {pct(COMPLAINT_PCT[0])}"
        f" and pause above {pct(COMPLAINT_PCT[1])}; marketing mail opening below {pct(OPEN_HOLD_PCT)}"
        " holds the step.</p>"
    )
    titles = ("Hard and soft bounces", "Complaints and unsubscribes", "Opens and clicks")
    settling = any(r is not None and not r.settled and r.delivered for r in rows)
    panels = _signal_panels(data.dates, lambda field: day_rates(rows, field), settling)
    out.append('<div class="panels">')
    out.extend(f"<div><h3>{t}</h3>{p}</div>" for t, p in zip(titles, panels, strict=True))
    out.append("</div>")
    out.append(_signal_table(data))
    out.append("</section>")
    return "".join(out)


def _signal_panels(dates: list[dt.date], rates: Callable[[str], list[float | None]], settling: bool) -> list[str]:
    """The three rate charts of the signals section, each with its guardrail lines."""
    hold, pause = "hold", "pause"
    return [
        rate_chart(
            "rate-bounce",
            "Bounce rate per day",
            dates,
            [Series("hard", "#dc2626", rates("hard_bounces")), Series("soft", "#f97316", rates("soft_bounces"), True)],
            [Threshold(hold, HARD_BOUNCE_PCT[0], HOLD), Threshold(pause, HARD_BOUNCE_PCT[1], PAUSE)],
            per="accepted",
        ),
        rate_chart(
            "rate-complaint",
            "Complaint rate per day",
            dates,
            [
                Series("complaints", "#7c3aed", rates("complaints")),
                Series("unsubscribes", "#64748b", rates("unsubscribes"), dashed=True),
            ],
            [Threshold(hold, COMPLAINT_PCT[0], HOLD), Threshold(pause, COMPLAINT_PCT[1], PAUSE)],
            per="accepted",
        ),
        rate_chart(
            "rate-open",
            "Open rate per day",
            dates,
            [Series("opens", "#16a34a", rates("opens")), Series("clicks", "#0891b2", rates("clicks"), dashed=True)],
            [Threshold(hold + " below", OPEN_HOLD_PCT, HOLD)],
            empty="No mail old enough to judge its opens yet" if settling else "No deliveries to measure",
        ),
    ]


def _rate_cell(
    part: int, whole: int, hold: float | None, pause: float | None, below: bool = False, mark: str = ""
) -> str:
    rate = _ratio(part, whole)
    if rate is None:
        return '<td class="n">–</td>'
    crossed_pause = pause is not None and rate > pause
    crossed_hold = hold is not None and (rate < hold if below else rate > hold)
    tone = " bad" if crossed_pause else " warn" if crossed_hold else ""
    return f'<td class="n{tone}">{pct(rate)}{mark}</td>'


def _rate_cells(r: SignalRow) -> str:
    """A day's hard bounce, complaint and open rates; a day not settled has no open rate yet, and its
    complaint rate is marked a lower bound (*)."""
    cells = _rate_cell(r.hard_bounces, r.accepted, *HARD_BOUNCE_PCT)
    cells += _rate_cell(r.complaints, r.accepted, *COMPLAINT_PCT, mark="" if r.settled else "*")
    if not r.settled and r.delivered:
        return cells + f'<td class="n" title="{escape(UNSETTLED_TIP)}">not settled</td>'
    return cells + _rate_cell(r.opens, r.delivered, OPEN_HOLD_PCT, None, below=True)


def _signal_table(data: ReportData) -> str:
    if not data.signals:
        return '<p class="empty-note">No delivery signals recorded.</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Date",
            "Accepted",
            "Delivered",
            "Hard",
            "Soft",
            "Complaints",
            "Opens",
            "Clicks",
            "Unsubscribes",
            "Hard %",
            "Complaint %",
            "Open %",
        )
    )
    body = []
    for r in sorted(data.signals, key=lambda r: r.day):
        counts = (
            r.accepted,
            r.delivered,
            r.hard_bounces,
            r.soft_bounces,
            r.complaints,
            r.opens,
            r.clicks,
            r.unsubscribes,
        )
        body.append(
            f"<tr><td>{r.day.isoformat()}</td>"
            + "".join(f'<td class="n">{count(c)}</td>' for c in counts)
            + _rate_cells(r)
            + "</tr>"
        )
    note = ""
    if any(not r.settled for r in data.signals):
        note = (
            f'<p class="empty-note">Not settled: mail sent less than {SETTLE_S // HOUR_S} hours before the run'
            " stopped (or the guardrails' longer window); its opens and clicks so far are counted, but no rate is"
            " shown, as no guardrail judged them yet. * Complaints on it are still arriving: a lower bound.</p>"
        )
    return (
        f"<details><summary>Daily signals table ({len(data.signals)} days)</summary>"
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{note}</details>'
    )


@dataclass(frozen=True, slots=True)
class Series:
    """A line of percentages, one per date (None where there was nothing to divide by)."""

    label: str
    color: str
    values: Sequence[float | None]
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Threshold:
    """A guardrail line (spec/warmup.md section 7) drawn across a rate chart."""

    label: str
    value: float
    color: str


def rate_chart(
    chart_id: str,
    title: str,
    dates: Sequence[dt.date],
    series: Sequence[Series],
    thresholds: Sequence[Threshold],
    per: str = "delivered",
    empty: str = "No deliveries to measure",
) -> str:
    """Daily rates in percent as lines with markers, each guardrail as a labelled dashed line."""
    width = 372
    keys = [Key(s.label, s.color, "dash" if s.dashed else "marker") for s in series]
    placed = legend_layout(keys, 60, width - 8)
    values = [v for s in series for v in s.values if v is not None]
    top = max([*values, *(t.value * 1.25 for t in thresholds)], default=1)
    ticks = nice_ticks(top, 4, integer=False)
    frame = Frame(width, 250, ticks[-1], left=60, right=10, top=legend_height(placed) + 6, bottom=40)
    desc = "; ".join(
        f"{s.label}: highest {pct(max(v for v in s.values if v is not None))}"
        for s in series
        if any(v is not None for v in s.values)
    )
    out = [open_svg(frame, chart_id, title, (desc or "no deliveries to measure") + "."), legend(placed)]
    out.append(y_axis(frame, ticks, f"% of {per}", fmt=pct))
    n = len(dates)
    for t in thresholds:
        y, right = frame.y(t.value), frame.left + frame.plot_w
        out.append(
            f'<line x1="{num(frame.left)}" x2="{num(right)}" y1="{num(y)}" y2="{num(y)}" stroke="{t.color}"'
            f' stroke-dasharray="4 3"/><text class="thr" x="{num(right - 2)}" y="{num(y - 3)}"'
            f' fill="{t.color}">{escape(t.label)} {pct(t.value)}</text>'
        )
    if not values:
        out.append(no_data(frame, empty))
    for s in series:
        points = [(frame.center(i, n), frame.y(v)) if v is not None else None for i, v in enumerate(s.values[:n])]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        out.append(f'<path class="rate" stroke="{s.color}"{dash} d="{line_path(points)}"/>')
        if not s.dashed and frame.band(n) >= 6:
            out.extend(
                f'<circle cx="{num(p[0])}" cy="{num(p[1])}" r="2" fill="{s.color}"/>' for p in points if p is not None
            )
    out.append(x_date_axis(frame, dates, "date"))
    out.append("</svg>")
    return "".join(out)
