"""The report's guardrail and shaping section: each day held, pause, resume and domain backoff, in time order."""

from __future__ import annotations

import datetime as dt
from html import escape

from orchestrator.charts.marks import MARK_COLORS
from orchestrator.core.timeline import KINDS, Mark
from orchestrator.simulation.report.model import ReportData


def _when(t: float | None, zone: dt.tzinfo) -> str:
    return "–" if t is None else f"{dt.datetime.fromtimestamp(t, tz=zone):%Y-%m-%d %H:%M}"


def _row(m: Mark, zone: dt.tzinfo) -> str:
    color = MARK_COLORS.get(m.kind, "#6b7280")
    return (
        f'<tr data-kind="{escape(m.kind)}"><td>{_when(m.t, zone)}</td><td>{_when(m.end, zone)}</td>'
        f'<td><span class="dot" style="background:{color}"></span>{escape(KINDS.get(m.kind, m.kind))}</td>'
        f"<td>{escape(m.identity) or 'campaign'}</td><td>{escape(m.subject)}</td><td>{escape(m.text)}</td></tr>"
    )


def guard_events(data: ReportData) -> str:
    """The marks drawn on the daily charts, as a table: when, until when, what, who, and why."""
    out = ['<section id="guardrails" class="card"><h2>Guardrails and shaping</h2>']
    counts = {kind: sum(m.kind == kind for m in data.marks) for kind in KINDS}
    out.append(
        '<p class="lead">Drawn on the daily charts above: '
        + ", ".join(f"{n} {escape(label)}" for label, n in ((KINDS[k], counts[k]) for k in KINDS))
        + ". A backoff spans from the block until its rate is fully restored.</p>"
    )
    if not data.marks:
        out.append('<p class="empty-note">No day held, no pause and no domain backoff.</p></section>')
        return "".join(out)
    rows = "".join(_row(m, data.zone) for m in data.marks)
    out.append(
        '<table class="data marks"><thead><tr><th>Time</th><th>Until</th><th>Event</th><th>Identity</th>'
        f"<th>Metric or group</th><th>Detail</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
    return "".join(out)
