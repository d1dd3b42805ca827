"""The live status page: server-rendered HTML from the data `status --json` prints, every value escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.charts.svg import CHART_CSS, pct
from orchestrator.core.text import html_text as escape
from orchestrator.core.timeline import Mark
from orchestrator.store.events import Event
from orchestrator.web.page_charts import progress_bar, usage_chart
from orchestrator.web.page_guard import guard_section

#: The page reloads itself this often.
REFRESH_S = 5
#: The page lists this many of the newest events.
EVENT_ROWS = 30
#: An event's details are cut to this many characters.
DETAIL_CHARS = 160

PROGRESS_LABELS = (
    ("total", "recipients"),
    ("accepted", "accepted"),
    ("pending", "pending"),
    ("in_flight", "in flight"),
    ("failed", "failed"),
    ("suppressed", "suppressed"),
    ("in_doubt", "in doubt"),
)

STYLE = """
:root { --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827;
  background: #f9fafb; }
header, main { max-width: 1100px; margin: 0 auto; padding: 12px 16px; }
header h1 { margin: 0; font-size: 1.4rem; }
.meta { color: var(--muted); font-size: .85rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 12px 0; }
h2 { font-size: 1.15rem; margin: 0 0 4px; overflow-wrap: anywhere; }
h3 { font-size: 1rem; margin: 14px 0 4px; }
.cid { color: var(--muted); font-weight: normal; font-size: .85rem; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .8rem; background: #e5e7eb; }
.state-running { background: #dcfce7; } .state-paused { background: #fef3c7; }
.state-completed { background: #cffafe; } .state-cancelled, .state-unreadable { background: #fee2e2; }
.reason { margin: 4px 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 6px 0; }
.figures div { min-width: 90px; } .figures b { display: block; font-size: 1.1rem; }
.detail { overflow-wrap: anywhere; color: #374151; min-width: 14em; }
svg.chart { display: block; width: 100%; height: auto; max-width: 760px; }
svg.chart .grid { stroke: #eef0f3; }
svg.chart .cap { stroke: #1f2937; stroke-dasharray: 5 3; }
@media (max-width: 600px) { body { font-size: 14px; } section { padding: 10px; } th, td { padding: 3px 4px; } }
"""


@dataclass(frozen=True, slots=True)
class PageData:
    """What one rendering shows: the status list (as `status --json`), the newest events, the clock."""

    statuses: list[dict[str, Any]]
    events: list[Event]
    now: float
    pacer_tick_age_s: float | None
    marks: list[Mark] = field(default_factory=list)  # guardrail and shaping events (core/timeline.py)
    finished_left_out: int = 0  # older finished campaigns not shown (`orchestrate status --all` lists them)


def render_page(data: PageData) -> str:
    """The whole page: a self-refreshing, self-contained HTML document (no external asset, no script)."""
    body = [campaign_section(n, st) for n, st in enumerate(data.statuses)]
    if not data.statuses:
        body.append(
            '<section><p class="empty-note">No campaigns yet: <code>orchestrate submit FILE</code>.</p></section>'
        )
    if data.finished_left_out:
        body.append(
            f'<section><p class="empty-note">{data.finished_left_out:,} campaigns that finished earlier are not shown: '
            "<code>orchestrate status --all</code> lists them.</p></section>"
        )
    body.append(guard_section(data.marks, data.now))
    body.append(events_section(data.events))
    tick = "never" if data.pacer_tick_age_s is None else f"{data.pacer_tick_age_s:.1f} s ago"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        f"<title>Warm-up status</title><style>{STYLE}{CHART_CSS}</style></head><body>"
        f'<header><h1>Warm-up status</h1><p class="meta">as of <time>{escape(_when(data.now))}</time> · '
        f"pacer's last tick: {escape(tick)} · refreshes every {REFRESH_S} s</p></header>"
        f"<main>{''.join(body)}</main></body></html>"
    )


def _when(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return "unknown"


def _n(key: str, value: object) -> str:
    """A number with its key and raw value as data attributes (the page test reads them)."""
    shown = f"{value:,}" if isinstance(value, int) else "-" if value is None else str(value)
    return f'<span data-k="{escape(key)}" data-v="{escape(str(value))}">{escape(shown)}</span>'


def campaign_section(n: int, st: dict[str, Any]) -> str:
    """One campaign: its state (and why), progress, identities against their caps, quality."""
    state = str(st["state"])
    head = (
        f'<section class="campaign" data-campaign="{escape(str(st["id"]))}">'
        f'<h2>{escape(str(st["name"]))} <span class="cid">[{escape(str(st["id"]))}]</span> '
        f'<span class="state state-{escape(state)}" data-k="state" data-v="{escape(state)}">{escape(state)}</span></h2>'
    )
    if st.get("reason") and state != "running":
        by = f", by {st['paused_by']}" if st.get("paused_by") else ""
        head += f'<p class="reason" data-k="reason">{escape(str(st["reason"]) + by)}</p>'
    if state == "unreadable":
        return head + "<p>Skipped by the pacer and workers until its stored record is fixed.</p></section>"
    progress = st["progress"]
    figures = "".join(f"<div>{escape(label)}<b>{_n(key, progress[key])}</b></div>" for key, label in PROGRESS_LABELS)
    total = max(progress["total"], 1)
    share = pct(100 * progress["accepted"] / total)
    eta = st.get("estimated_completion") or "-"
    if st.get("compacted_at"):  # its summary only: its identities' figures are their other campaigns'
        done = f"per-recipient data compacted {st['compacted_at']}: trace and export no longer answer"
        meta = f'<p class="meta">accepted {escape(share)} · {escape(done)}</p>'
        return f'{head}<div class="figures">{figures}</div>{meta}{progress_bar(f"p{n}", progress)}</section>'
    extra = (
        f'<p class="meta">accepted {escape(share)} · estimated completion'
        f"{' if resumed now' if state == 'paused' else ''} {escape(eta)}"
        f" · pool today {_n('pool_daily_cap', st.get('pool_daily_cap', 0))}/day,"
        f" {_n('pool_hourly_cap', st.get('pool_hourly_cap', 0))}/hour"
        f"{'' if st.get('window_open', True) else ' · outside the sending window'}</p>"
    )
    parts = [head, f'<div class="figures">{figures}</div>', extra, progress_bar(f"p{n}", progress)]
    parts.append(identities_table(st.get("identities", [])))
    if st.get("identities"):
        parts.append(usage_chart(f"u{n}", st["identities"]))
    if st.get("quality"):
        parts.append(quality_table("Quality (campaign)", st["quality"]))
    for ident in st.get("identities", []):
        if ident.get("quality"):
            parts.append(quality_table(f"Quality ({ident['id']})", ident["quality"]))
    parts.append("</section>")
    return "".join(parts)


def identities_table(identities: Sequence[dict[str, Any]]) -> str:
    rows = []
    for i in identities:
        note = f"stopped until {i['stopped_until']}" if i.get("stopped_until") else ""
        rows.append(
            f'<tr data-identity="{escape(str(i["id"]))}"><td>{escape(str(i["id"]))}</td>'
            f'<td class="detail">{escape(str(i["from_address"]))}</td>'
            f'<td class="n">{_n("warmup_day", i["warmup_day"])}</td>'
            f'<td class="n">{_n("sent_today", i["sent_today"])} / {_n("daily_cap", i["daily_cap"])}</td>'
            f'<td class="n">{_n("sent_last_hour", i["sent_last_hour"])} / {_n("hourly_cap", i["hourly_cap"])}</td>'
            f"<td>{escape(i.get('next_slot') or '-')}</td><td>{escape(note)}</td></tr>"
        )
    head = (
        "<tr><th>identity</th><th>from</th><th class=n>day</th><th class=n>today / cap</th>"
        "<th class=n>last 60 min / cap</th><th>next send</th><th>note</th></tr>"
    )
    return f'<h3>Identities</h3><div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _rate(value: object) -> str:
    return "-" if not isinstance(value, int | float) else pct(100 * float(value))


def quality_table(title: str, quality: dict[str, Any]) -> str:
    """The `quality` object of `status --json`: each metric's count, sample, rate and guardrail thresholds."""
    window_h = int(quality.get("window_s", 0)) // 3600
    rows = []
    # The settled figures (complaints on sends a day old, judged by the guardrails too) after the current ones.
    settled = {f"{name} (settled)": m for name, m in (quality.get("settled") or {}).items()}
    for name, m in {**(quality.get("metrics") or {}), **settled}.items():
        rows.append(
            f'<tr data-metric="{escape(str(name))}"><td>{escape(str(name).replace("_", " "))}</td>'
            f'<td class="n">{_n("count", m.get("count"))}</td><td class="n">{_n("sample", m.get("sample"))}</td>'
            f'<td class="n">{escape(_rate(m.get("rate")))}</td><td class="n">{escape(_rate(m.get("hold")))}</td>'
            f'<td class="n">{escape(_rate(m.get("pause")))}</td></tr>'
        )
    head = (
        "<tr><th>metric</th><th class=n>count</th><th class=n>sample</th><th class=n>rate</th>"
        "<th class=n>hold at</th><th class=n>pause at</th></tr>"
    )
    accepted = _n("accepted", quality.get("accepted"))
    return (
        f'<h3>{escape(title)}</h3><p class="meta">last {window_h} h · accepted {accepted}</p>'
        f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'
    )


def events_section(recent: Sequence[Event]) -> str:
    rows = []
    for e in recent:
        details = e.unreadable or ", ".join(f"{k}={v}" for k, v in e.data.items())
        if len(details) > DETAIL_CHARS:
            details = details[: DETAIL_CHARS - 1] + "…"
        rows.append(
            f"<tr><td>{escape(_when(e.t) if not e.unreadable else '?')}</td><td>{escape(e.type)}</td>"
            f"<td>{escape(e.campaign)}</td><td>{escape(e.identity)}</td>"
            f'<td class="detail">{escape(details)}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="5" class="empty-note">no event yet</td></tr>')
    head = "<tr><th>time (UTC)</th><th>event</th><th>campaign</th><th>identity</th><th>details</th></tr>"
    return f'<section><h2>Recent events</h2><div class="scroll"><table>{head}{"".join(rows)}</table></div></section>'
