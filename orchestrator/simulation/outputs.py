"""What a simulation leaves behind: the caps it recorded each day, summary.json, sends.jsonl and report.html."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.core.addresses import parse_from_address
from orchestrator.core.budget import budget_now, day_caps
from orchestrator.core.calendar import local_time, start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.domains import address_group
from orchestrator.core.progress import ProgressRules, day_counts
from orchestrator.core.quality import HOUR_S
from orchestrator.simulation.report import render_report
from orchestrator.simulation.report.signals import recorded_signals
from orchestrator.simulation.timeline import Timeline, backoffs
from orchestrator.store import campaigns, identities
from orchestrator.store.feedback import FeedbackStore


@dataclass
class DayRecorder:
    """Per local day: the caps and warm-up day each identity started the day with."""

    spec: Campaign
    days: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # date -> identity -> info
    pool: dict[str, int] = field(default_factory=dict)  # date -> the identities' daily caps together
    ceiling: dict[str, int] = field(default_factory=dict)  # date -> the pool ceiling (multiplier x plan)

    #: Dates recorded once the pacer had closed every identity's earlier day on them (final).
    rolled: set[str] = field(default_factory=set)

    async def observe(self, redis: Any, now: float) -> None:
        """Record the day of `now` as the pacer's first tick on it left it; until that tick has closed the
        identities' earlier days (a window opening later, a campaign paused all day), record it each step
        with those days closed as `status` shows them (a guardrail's hold aside: the day's event says it)."""
        d = local_time(now, self.spec.zone).date.isoformat()
        if d in self.rolled:
            return
        ids = [i.id for i in self.spec.identities]
        states = await identities.load_rolled(redis, self.spec, now)  # open days closed, their dates kept
        if all(not st.open_date or st.open_date >= d for st in states.values()):
            self.rolled.add(d)
        _, wdays, alloc = budget_now(self.spec, states, now)
        counted = day_caps(self.spec, states, now).identities  # what each day counts against (no quota)
        self.days[d] = {
            i: {"warmup_day": wd, "daily_cap": c.daily, "hourly_cap": c.hourly, "day_cap": k.daily}
            for i, wd, c, k in zip(ids, wdays, alloc.identities, counted, strict=True)
        }
        self.pool[d] = alloc.pool.daily
        self.ceiling[d] = alloc.ceiling.daily


@dataclass
class Finished:
    """Everything a finished simulation hands to its outputs."""

    spec: Campaign
    summary: dict[str, Any]
    send_log: list[Any]
    emu_events: list[Any]
    redis: Any
    cid: str
    recorder: DayRecorder
    start: float
    end: float
    note: str
    timeline: Timeline
    stopped: float  # when the run stopped: `end`, or earlier once nothing was left to do


def _iso(ts: float, spec: Campaign) -> str:
    return datetime.fromtimestamp(ts, tz=spec.zone).isoformat(timespec="seconds")


def _identity_of(spec: Campaign, from_address: str) -> str:
    """The identity whose sender sent a logged mail: its From exactly, else its address (case aside),
    never a part of one (`news@acme.co` is not `news@acme.com`)."""
    try:
        address = parse_from_address(from_address)[1].lower()
    except ValueError:
        address = from_address.strip().lower()
    for i in spec.identities:
        if i.from_ == from_address:
            return i.id
    return next((i.id for i in spec.identities if i.address.lower() == address), "?")


def _status(row: dict[str, Any], rules: ProgressRules) -> str:
    """The report's step of a day: advanced, held or idle; for a day open at the end, what closing it would do."""
    if not row["day_closed"]:
        return _open_day_status(row, rules)
    if row["advanced"]:
        return "advanced"
    return "idle" if not row["sent"] else "held"


def _open_day_status(row: dict[str, Any], rules: ProgressRules) -> str:
    """A day not closed yet (the last one): what closing it on its sends so far would do (the rule of
    core/progress.py), marked open: the run ended first, so no guardrail judged it (summary.json:
    `advanced: false`, "the simulation ended before this day closed")."""
    if not row["sent"]:
        return "open"
    return "open_advance" if day_counts(row["sent"], row.get("day_cap", row["daily_cap"]), rules) else "open_held"


async def _recorded(redis: Any, cid: str) -> dict[str, int]:
    """What the orchestrator itself recorded of the campaign (callbacks and follow-up), metric -> count."""
    out: Counter[str] = Counter()
    for (metric, _identity, campaign), count in (await FeedbackStore(redis).totals()).items():
        if campaign == cid:
            out[metric] += count
    return dict(sorted(out.items()))


def _day_rows(spec: Campaign, recorder: DayRecorder, send_log: list[Any], timeline: Timeline) -> list[dict[str, Any]]:
    """Per recorded day and identity: the caps, what was sent, and whether the warm-up day advanced (and why not)."""
    sent_by = Counter(
        (datetime.fromtimestamp(s.time, tz=spec.zone).date().isoformat(), _identity_of(spec, s.from_address))
        for s in send_log
    )
    dates = sorted(recorder.days)
    rows = []
    for n, d in enumerate(dates):
        for ident, info in recorder.days[d].items():
            row: dict[str, Any] = {
                "date": d,
                "identity": ident,
                "warmup_day": info["warmup_day"],
                "sent": sent_by[(d, ident)],
                "daily_cap": info["daily_cap"],
                "hourly_cap": info["hourly_cap"],
                "day_cap": info.get("day_cap", info["daily_cap"]),
            }
            following = recorder.days[dates[n + 1]].get(ident) if n + 1 < len(dates) else None
            rows.append({**row, **_step(row, following, timeline.steps.get((d, ident)))})
    return rows


def _step(
    row: dict[str, Any], following: dict[str, int] | None, event: tuple[str, str | None] | None
) -> dict[str, Any]:
    """`advanced` and `held_reason` of one day: from its day-closing event, or the next day's warm-up day."""
    if event is not None:
        advanced = event[0] == "advanced"
    elif following is not None:
        advanced = following["warmup_day"] > row["warmup_day"]
    else:  # the last day, still open when the simulation ended: it did not advance (yet)
        return {"advanced": False, "held_reason": "the simulation ended before this day closed", "day_closed": False}
    reason = None
    if not advanced:
        if event is not None and event[1]:
            reason = event[1]
        elif not row["sent"]:
            reason = "nothing sent"
        else:
            reason = f"sent {row['sent']:,} of its daily cap {row['day_cap']:,}, too few to advance"
    return {"advanced": advanced, "held_reason": reason, "day_closed": following is not None or event is not None}


def api_calls(call_log: list[Any], limit_per_s: float | None, window_s: float = 1.0) -> dict[str, Any]:
    """The accounts' API calls as the emulator logged them: per action, the throttled ones, and the most
    that counted against an account's rate in any rolling second (the window Tencent counts, (t - 1 s, t]),
    each account's calls apart: each account has its own rate."""
    times: dict[str | None, list[float]] = {}
    for c in call_log:
        if c.counted:
            times.setdefault(c.account, []).append(c.time)
    return {
        "by_action": dict(Counter(c.action for c in call_log)),
        "throttled": sum(c.error == "RequestLimitExceeded" for c in call_log),
        "busiest_second": max((_busiest(sorted(t), window_s) for t in times.values()), default=0),
        "limit_per_s": limit_per_s,
    }


def _busiest(times: list[float], window_s: float) -> int:
    """The most of the sorted `times` in any window (t - window_s, t]."""
    busiest, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window_s:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


async def summarise(
    redis: Any,
    cid: str,
    spec: Campaign,
    recorder: DayRecorder,
    send_log: list[Any],
    emu_events: list[Any],
    note: str,
    timeline: Timeline,
) -> dict[str, Any]:
    """summary.json: the campaign's outcome counts and, per day and identity, what was sent against the caps."""
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    c = rec.counts
    return {
        "campaign": spec.name,
        "campaign_id": cid,
        "note": note,
        "state": rec.state.value,
        "state_reason": rec.reason or None,
        "paused_by": (rec.paused_by or None) if rec.state.value == "paused" else None,
        "pauses": timeline.pauses,
        "resumes": timeline.resumes,
        "backoffs": backoffs(timeline.marks, spec.zone),
        "recipients": {
            "total": rec.submit.get("total", 0),
            "accepted": c["accepted"],
            "failed": c["failed"],
            "suppressed": c["suppressed"] + rec.submit.get("suppressed", 0),
            "invalid": rec.submit.get("invalid", 0),
            "duplicates": rec.submit.get("duplicates", 0),
            "in_doubt": c["in_doubt"],
            "pending": c["queued"] + c["granted"] + c["inflight"],
        },
        "sends_logged": len(send_log),
        "emulator_events": dict(Counter(e["event"] for e in emu_events)),
        "recorded_events": await _recorded(redis, cid),
        "days": _day_rows(spec, recorder, send_log, timeline),
    }


async def write_outputs(out: Path, run: Finished) -> None:
    """Write sends.jsonl, summary.json and report.html into `out`."""
    spec, summary, send_log = run.spec, run.summary, run.send_log
    with (out / "sends.jsonl").open("w", encoding="utf-8") as fh:
        for s in send_log:
            fh.write(
                json.dumps(
                    {
                        "t": _iso(s.time, spec),
                        "identity": _identity_of(spec, s.from_address),
                        "from": s.from_address,
                        "to": s.to_address,
                        "message_id": s.message_id,
                    }
                )
                + "\n"
            )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report = await _report_data(run)
    (out / "report.html").write_text(render_report(report), encoding="utf-8")


def _window_touches(spec: Campaign, at: float) -> bool:
    """Whether the sending window is open for any of the hour from `at`: open at its start, or opening
    before its end (calendar.local_time decides, DST and windows over midnight included)."""
    lt = local_time(at, spec.zone, spec.window)
    return lt.window_open or lt.window_change_s < HOUR_S


def _hour_key(ts: float, zone: ZoneInfo) -> str:
    """The local clock hour of `ts` with the UTC offset in force at `ts`: a repeated hour has two, and so has
    the hour a 30-minute change repeats half of (Lord Howe Island), which `replace(minute=0)` would give
    the offset of its first half."""
    local = datetime.fromtimestamp(ts, tz=zone)
    offset = local.replace(microsecond=0).isoformat()[19:]  # "+10:30": the offset of this very instant
    return f"{local:%Y-%m-%dT%H}:00:00{offset}"


def _hour_rows(run: Finished, hours: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each recorded day's hours, per identity: the planned hourly cap against what was sent; an hour the
    sending window is closed throughout plans nothing."""
    rows = []
    zone = run.spec.zone
    for d, per_ident in sorted(run.recorder.days.items()):
        day = date.fromisoformat(d)
        # Every clock hour the local day really has, as the sends are keyed (_hour_key), found on a grid of
        # 15 minutes in UTC: 25 on a fall-back day (its repeated hour is a second row, with its own UTC
        # offset), 23 on a spring-forward day, a half hour of its own where a zone shifts by 30 minutes.
        first: dict[str, int] = {}
        for at in range(int(start_of(day, zone)), int(start_of(day + timedelta(days=1), zone)), 900):
            first.setdefault(_hour_key(at, zone), at)
        for t, at in first.items():
            open_ = _window_touches(run.spec, at)
            for ident, info in per_ident.items():
                actual = hours.get((t, ident), 0)
                if actual or info["hourly_cap"]:
                    planned = info["hourly_cap"] if open_ else 0
                    rows.append({"t": t, "identity": ident, "planned": planned, "actual": actual})
    return rows


def pool_rows(recorder: DayRecorder, sent: Counter[str]) -> list[dict[str, Any]]:
    """Per recorded day: the pool ceiling (the multiplier x the plan, the 5 x rule), what the identities
    could send together (the sum of their caps: at most the ceiling) and what the pool sent."""
    return [
        {"date": d, "ceiling": recorder.ceiling[d], "identities_cap": recorder.pool[d], "sent": sent[d]}
        for d in sorted(recorder.pool)
    ]


def _event_rows(run: Finished) -> list[dict[str, Any]]:
    """The rows the report lists: the campaign's events but the per-send and hourly ones."""
    ev_rows = []
    for e in run.timeline.rows:
        if e.type not in ("send_retry", "send_accepted", "hour_summary"):
            detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if k not in ("recipient",))
            ev_rows.append({"t": _iso(e.t, run.spec), "type": e.type, "identity": e.identity, "detail": detail[:200]})
    return ev_rows


def _mark_rows(run: Finished) -> list[dict[str, Any]]:
    """The guardrail and shaping marks the report draws on its time charts and lists."""
    return [
        {
            "t": _iso(m.t, run.spec),
            "end": None if m.end is None else _iso(m.end, run.spec),
            "kind": m.kind,
            "identity": m.identity,
            "subject": m.subject,
            "text": m.text,
        }
        for m in run.timeline.marks
    ]


async def _report_data(run: Finished) -> dict[str, Any]:
    """The data `render_report` draws: hours, days, pool, domains, outcomes, signals and events."""
    spec, summary, recorder = run.spec, run.summary, run.recorder
    hours: Counter[tuple[str, str]] = Counter()
    domains: Counter[tuple[str, str]] = Counter()
    pool_sent: Counter[str] = Counter()
    for s in run.send_log:
        local = datetime.fromtimestamp(s.time, tz=spec.zone)
        ident = _identity_of(spec, s.from_address)
        hours[(_hour_key(s.time, spec.zone), ident)] += 1
        domains[(local.date().isoformat(), address_group(s.to_address))] += 1
        pool_sent[local.date().isoformat()] += 1
    rules = spec.plan.progress_rules(spec.mode)
    day_rows = [{**row, "status": _status(row, rules)} for row in summary["days"]]
    r = summary["recipients"]
    return {
        "campaign": spec.name,
        "note": run.note,
        "timezone": spec.timezone,
        "start": _iso(run.start, spec),
        "end": _iso(run.stopped, spec),
        "days_requested": round((run.end - run.start) / 86400),
        "state": summary["state"],
        "identities": [i.id for i in spec.identities],
        "hours": _hour_rows(run, hours),
        "days": day_rows,
        "pool": pool_rows(recorder, pool_sent),
        "domains": [{"date": d, "group": g, "sent": n} for (d, g), n in sorted(domains.items())],
        "outcomes": {k: r[k] for k in ("accepted", "failed", "suppressed", "invalid", "in_doubt", "pending")},
        "signals": await recorded_signals(
            run.redis, run.cid, spec.zone, run.stopped, spec.guardrails.window_hours * HOUR_S
        ),
        "events": _event_rows(run)[-500:],
        "marks": _mark_rows(run),
        "summary": {
            "total": r["total"],
            "sent": summary["sends_logged"],
            "days_simulated": summary.get("virtual_days", 0),
            "wall_seconds": summary.get("wall_seconds", 0),
        },
    }
