"""What a simulation leaves behind: the caps it recorded each day, summary.json, sends.jsonl and report.html."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.core.budget import budget_now
from orchestrator.core.calendar import local_time
from orchestrator.core.campaign import Campaign
from orchestrator.core.domains import address_group
from orchestrator.core.progress import ProgressRules, day_counts
from orchestrator.simulation.report import render_report
from orchestrator.simulation.report.signals import recorded_signals
from orchestrator.store import campaigns, events, identities
from orchestrator.store.feedback import FeedbackStore


@dataclass
class DayRecorder:
    """Per local day: the caps and warm-up day each identity started the day with."""

    spec: Campaign
    days: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # date -> identity -> info
    pool: dict[str, int] = field(default_factory=dict)  # date -> ceiling

    async def observe(self, redis: Any, now: float) -> None:
        d = local_time(now, self.spec.zone).date.isoformat()
        if d in self.days:
            return
        ids = [i.id for i in self.spec.identities]
        states = await identities.load_many(redis, ids)
        _, wdays, alloc = budget_now(self.spec, states, now)
        self.days[d] = {
            i: {"warmup_day": wd, "daily_cap": c.daily, "hourly_cap": c.hourly}
            for i, wd, c in zip(ids, wdays, alloc.identities, strict=True)
        }
        self.pool[d] = alloc.pool.daily


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


def _iso(ts: float, spec: Campaign) -> str:
    return datetime.fromtimestamp(ts, tz=spec.zone).isoformat(timespec="seconds")


def _identity_of(spec: Campaign, from_address: str) -> str:
    for i in spec.identities:
        if i.from_ == from_address or i.address in from_address:
            return i.id
    return "?"


def _open_day_status(row: dict[str, Any], rules: ProgressRules) -> str:
    """A day not closed yet (the last one): what closing it would do (the rule of core/progress.py)."""
    if not row["sent"]:
        return "idle"
    return "advanced" if day_counts(row["sent"], row["daily_cap"], rules) else "held"


async def _recorded(redis: Any, cid: str) -> dict[str, int]:
    """What the orchestrator itself recorded of the campaign (callbacks and follow-up), metric -> count."""
    out: Counter[str] = Counter()
    for (metric, _identity, campaign), count in (await FeedbackStore(redis).totals()).items():
        if campaign == cid:
            out[metric] += count
    return dict(sorted(out.items()))


async def summarise(
    redis: Any, cid: str, spec: Campaign, recorder: DayRecorder, send_log: list[Any], emu_events: list[Any], note: str
) -> dict[str, Any]:
    """summary.json: the campaign's outcome counts and, per day and identity, what was sent against the caps."""
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    c = rec.counts
    sent_by = Counter(
        (datetime.fromtimestamp(s.time, tz=spec.zone).date().isoformat(), _identity_of(spec, s.from_address))
        for s in send_log
    )
    day_rows = []
    for d in sorted(recorder.days):
        for ident, info in recorder.days[d].items():
            day_rows.append(
                {
                    "date": d,
                    "identity": ident,
                    "warmup_day": info["warmup_day"],
                    "sent": sent_by[(d, ident)],
                    "daily_cap": info["daily_cap"],
                    "hourly_cap": info["hourly_cap"],
                }
            )
    return {
        "campaign": spec.name,
        "campaign_id": cid,
        "note": note,
        "state": rec.state.value,
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
        "days": day_rows,
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


def _hour_rows(run: Finished, hours: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each recorded day's hours, per identity: the planned hourly cap against what was sent."""
    rows = []
    for d, per_ident in sorted(run.recorder.days.items()):
        day0 = datetime.fromisoformat(d).replace(tzinfo=run.spec.zone)
        for h in range(24):
            t = (day0 + timedelta(hours=h)).isoformat()
            for ident, info in per_ident.items():
                actual = hours.get((t, ident), 0)
                if actual or info["hourly_cap"]:
                    rows.append({"t": t, "identity": ident, "planned": info["hourly_cap"], "actual": actual})
    return rows


async def _event_rows(run: Finished) -> tuple[dict[tuple[str, str], str], list[dict[str, Any]]]:
    """The campaign's events: how each closed day ended (date, identity -> status), and the rows the report lists."""
    status_of: dict[tuple[str, str], str] = {}
    ev_rows = []
    for e in await events.read(run.redis, None, count=100000):
        if e.campaign not in ("", run.cid):
            continue
        if e.type in ("day_advanced", "day_held"):
            status_of[(e.data.get("date", ""), e.identity)] = "advanced" if e.type == "day_advanced" else "held"
        if e.type not in ("send_retry", "send_accepted", "hour_summary"):
            detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if k not in ("recipient",))
            ev_rows.append({"t": _iso(e.t, run.spec), "type": e.type, "identity": e.identity, "detail": detail[:200]})
    return status_of, ev_rows


async def _report_data(run: Finished) -> dict[str, Any]:
    """The data `render_report` draws: hours, days, pool, domains, outcomes, signals and events."""
    spec, summary, recorder = run.spec, run.summary, run.recorder
    hours: Counter[tuple[str, str]] = Counter()
    domains: Counter[tuple[str, str]] = Counter()
    pool_sent: Counter[str] = Counter()
    for s in run.send_log:
        local = datetime.fromtimestamp(s.time, tz=spec.zone)
        ident = _identity_of(spec, s.from_address)
        hours[(local.replace(minute=0, second=0, microsecond=0).isoformat(), ident)] += 1
        domains[(local.date().isoformat(), address_group(s.to_address))] += 1
        pool_sent[local.date().isoformat()] += 1
    status_of, ev_rows = await _event_rows(run)
    rules = spec.plan.progress_rules(spec.mode)
    day_rows = [
        {**row, "status": status_of.get((row["date"], row["identity"]), _open_day_status(row, rules))}
        for row in summary["days"]
    ]
    r = summary["recipients"]
    return {
        "campaign": spec.name,
        "note": run.note,
        "timezone": spec.timezone,
        "start": _iso(run.start, spec),
        "end": _iso(run.end, spec),
        "identities": [i.id for i in spec.identities],
        "hours": _hour_rows(run, hours),
        "days": day_rows,
        "pool": [{"date": d, "ceiling": recorder.pool[d], "sent": pool_sent[d]} for d in sorted(recorder.pool)],
        "domains": [{"date": d, "group": g, "sent": n} for (d, g), n in sorted(domains.items())],
        "outcomes": {k: r[k] for k in ("accepted", "failed", "suppressed", "invalid", "in_doubt", "pending")},
        "signals": await recorded_signals(run.redis, run.cid, spec.zone),
        "events": ev_rows[-500:],
        "summary": {
            "total": r["total"],
            "sent": summary["sends_logged"],
            "days_simulated": summary.get("virtual_days", 0),
            "wall_seconds": summary.get("wall_seconds", 0),
        },
    }
