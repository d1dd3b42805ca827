"""`simulate`: the real pipeline on a virtual clock against the in-process SES emulator, with a report.

Same pacer, limiter, Lua scripts, arq jobs, ledger and Tencent adapter as production; only the
clock is virtual, Redis is a throwaway embedded one, and Tencent is the local emulator.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from orchestrator.core.budget import budget_now
from orchestrator.core.calendar import local_time, start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import VirtualClock
from orchestrator.core.domains import address_group
from orchestrator.core.progress import ProgressRules, day_counts
from orchestrator.drive import VirtualRun
from orchestrator.embedded import EmbeddedRedis
from orchestrator.pacing import TickReport
from orchestrator.recipients import open_recipients
from orchestrator.report import render_report
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    Account,
    Behaviour,
    FaultRule,
    IdentityConfig,
    World,
    run_emulator,
)
from orchestrator.settings import Settings
from orchestrator.store import campaigns, events, identities, keys
from orchestrator.store.connection import redis_from_url
from orchestrator.submit import submit


@dataclass
class SimulationResult:
    out: Path
    campaign_id: str
    summary: dict[str, Any]
    redis_url: str = ""


@dataclass
class _Recorder:
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


def sample_campaign(spec: Campaign, fraction: float, out: Path) -> Campaign:
    """The campaign with about `fraction` of its recipients (a stable hash sample) and caps x fraction."""
    if not 0 < fraction <= 1:  # also refuses nan
        msg = f"the sample must be a fraction in (0, 1], got {fraction}"
        raise ValueError(msg)
    sampled = out / "recipients.sampled.csv"
    with (
        open_recipients(spec.recipients) as src,
        sampled.open("w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst, delimiter=spec.recipients.delimiter)
        writer.writerow(src.header_cells)
        limit = int(fraction * 2**32)
        for _line, row in src.records():
            key = ",".join(row).encode()
            if int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") < limit:
                writer.writerow(row)
    plan = spec.plan.model_copy(
        update={
            "scale": spec.plan.scale * fraction,
            "target_daily": max(1, int(spec.plan.target_daily * fraction)) if spec.plan.target_daily else None,
        }
    )
    idents = [
        i.model_copy(update={"daily_quota": max(1, int(i.daily_quota * fraction)) if i.daily_quota else None})
        for i in spec.identities
    ]
    recips = spec.recipients.model_copy(update={"file": sampled.resolve(), "encoding": "utf-8"})
    return spec.model_copy(update={"plan": plan, "identities": idents, "recipients": recips})


def build_world(spec: Campaign) -> World:
    """The emulator's world for a simulation: the campaign's identities, its template, its behaviour."""
    sim = spec.simulation

    def behaviour(over: Any = None) -> Behaviour:
        def pick(name: str, default: float) -> float:
            v = getattr(over, name, None) if over is not None else None
            return float(v) if v is not None else default

        return Behaviour(
            hard_bounce_rate=pick("hard_bounce_rate", sim.hard_bounce_rate),
            soft_bounce_rate=pick("soft_bounce_rate", sim.soft_bounce_rate),
            open_rate=pick("open_rate", sim.open_rate),
            click_rate=pick("click_rate", sim.click_rate),
            spamreport_rate=pick("complaint_rate", sim.complaint_rate),
            unsubscribe_rate=pick("unsubscribe_rate", sim.unsubscribe_rate),
        )

    faults = []
    if sim.transient_error_rate:
        faults.append(FaultRule(code="InternalError", rate=sim.transient_error_rate))
    if sim.temporary_block_rate:
        faults.append(FaultRule(code="FailedOperation.TemporaryBlocked", rate=sim.temporary_block_rate))
    for dom, over in sim.domains.items():
        if over.temporary_block_rate:
            faults.append(
                FaultRule(code="FailedOperation.TemporaryBlocked", rate=over.temporary_block_rate, recipient_domain=dom)
            )
    return World(
        accounts=[Account(name="default", secret_id=DEFAULT_SECRET_ID, secret_key=DEFAULT_SECRET_KEY)],
        identities=[
            IdentityConfig(domain=i.domain, reputation_level=20, daily_quota=i.daily_quota) for i in spec.identities
        ],
        permissive=True,
        faults=faults,
        behaviour=behaviour(),
        domains={d: behaviour(o) for d, o in sim.domains.items()},
        seed=sim.seed,
    )


def _start_time(spec: Campaign, today: date) -> float:
    first = spec.simulation.start or spec.start or today
    return start_of(first, spec.zone)


async def run_simulation(
    spec: Campaign,
    out: Path,
    days: int = 30,
    speed: float | None = None,
    sample: float | None = None,
    today: date | None = None,
    workers: int = 1,
    progress: Any = None,
    on_start: Any = None,
) -> SimulationResult:
    """Run the campaign for `days` virtual days and write report.html, summary.json, sends.jsonl."""
    if sample is not None and not 0 < sample <= 1:  # also refuses nan
        msg = f"the sample must be a fraction in (0, 1], got {sample}"
        raise ValueError(msg)
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before the run: nothing else is on the loop yet
    note = ""
    if sample is not None and sample < 1:
        spec = sample_campaign(spec, sample, out)
        note = f"Sampled preview: recipients and caps scaled by {sample:g} (simulate --sample {sample:g})."
    start = _start_time(spec, today or date.today())  # noqa: DTZ011 - a default for the report's calendar only
    clock = VirtualClock(start)
    wall0 = time.perf_counter()
    with EmbeddedRedis() as redis_server:
        async with run_emulator(build_world(spec), clock=clock, send_log_path=None) as emu:
            settings = Settings(
                REDIS_URL=redis_server.url,
                TENCENTCLOUD_SECRET_ID=SecretStr(DEFAULT_SECRET_ID),
                TENCENTCLOUD_SECRET_KEY=SecretStr(DEFAULT_SECRET_KEY),
                SES_ENDPOINT=emu.url,
            )
            sender = TencentSender(settings)
            redis = redis_from_url(redis_server.url)
            try:
                fingerprint = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
                result = await submit(redis, spec, fingerprint, start, "simulate")
                cid = result.campaign_id
                if speed:
                    await redis.set(keys.VIRTUAL_NOW, repr(start))
                if on_start is not None:
                    on_start(redis_server.url, cid)
                recorder = _Recorder(spec)
                end = start + days * 86400
                timeout_s = settings.job_timeout_s
                async with VirtualRun(redis_server.url, clock, sender, workers=workers, job_timeout_s=timeout_s) as run:
                    step = _stepper(redis, recorder, clock, start, speed, progress, end)
                    await run.run_until(end, on_step=step)
                summary = await _summarise(redis, cid, spec, recorder, emu.send_log, emu.events, note)
                summary["wall_seconds"] = round(time.perf_counter() - wall0, 2)
                summary["virtual_days"] = round((clock.now() - start) / 86400, 2)
                summary["steps"] = run.stats.ticks
                finished = _Finished(spec, summary, emu.send_log, emu.events, redis, cid, recorder, start, end, note)
                await _write_outputs(out, finished)
            finally:
                await sender.close()
                await redis.aclose()
    return SimulationResult(out, cid, summary)


def _stepper(
    redis: Any, recorder: _Recorder, clock: VirtualClock, start: float, speed: float | None, progress: Any, end: float
) -> Any:
    wall_start = time.perf_counter()
    last_publish = [0.0]

    async def on_step(report: TickReport) -> None:
        now = clock.now()
        await recorder.observe(redis, now)
        if progress is not None:
            progress((now - start) / max(end - start, 1))
        if speed:
            if now - last_publish[0] >= 1.0:
                await redis.set(keys.VIRTUAL_NOW, repr(now))
                last_publish[0] = now
            ahead = (now - start) / speed - (time.perf_counter() - wall_start)
            if ahead > 0:
                await asyncio.sleep(min(ahead, 1.0))
        del report

    return on_step


def _iso(ts: float, spec: Campaign) -> str:
    return datetime.fromtimestamp(ts, tz=spec.zone).isoformat(timespec="seconds")


async def _summarise(
    redis: Any, cid: str, spec: Campaign, recorder: _Recorder, send_log: list[Any], emu_events: list[Any], note: str
) -> dict[str, Any]:
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
        "days": day_rows,
    }


def _open_day_status(row: dict[str, Any], rules: ProgressRules) -> str:
    """A day not closed yet (the last one): what closing it would do (the rule of core/progress.py)."""
    if not row["sent"]:
        return "idle"
    return "advanced" if day_counts(row["sent"], row["daily_cap"], rules) else "held"


def _identity_of(spec: Campaign, from_address: str) -> str:
    for i in spec.identities:
        if i.from_ == from_address or i.address in from_address:
            return i.id
    return "?"


@dataclass
class _Finished:
    """Everything a finished simulation hands to its outputs."""

    spec: Campaign
    summary: dict[str, Any]
    send_log: list[Any]
    emu_events: list[Any]
    redis: Any
    cid: str
    recorder: _Recorder
    start: float
    end: float
    note: str


async def _write_outputs(out: Path, run: _Finished) -> None:
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


async def _report_data(run: _Finished) -> dict[str, Any]:
    spec, summary, send_log, recorder, cid = run.spec, run.summary, run.send_log, run.recorder, run.cid
    zone = spec.zone
    hours: Counter[tuple[str, str]] = Counter()
    domains: Counter[tuple[str, str]] = Counter()
    pool_sent: Counter[str] = Counter()
    for s in send_log:
        local = datetime.fromtimestamp(s.time, tz=zone)
        ident = _identity_of(spec, s.from_address)
        hours[(local.replace(minute=0, second=0, microsecond=0).isoformat(), ident)] += 1
        domains[(local.date().isoformat(), address_group(s.to_address))] += 1
        pool_sent[local.date().isoformat()] += 1
    hour_rows = []
    for d, per_ident in sorted(recorder.days.items()):
        day0 = datetime.fromisoformat(d).replace(tzinfo=zone)
        for h in range(24):
            t = (day0 + timedelta(hours=h)).isoformat()
            for ident, info in per_ident.items():
                actual = hours.get((t, ident), 0)
                if actual or info["hourly_cap"]:
                    hour_rows.append({"t": t, "identity": ident, "planned": info["hourly_cap"], "actual": actual})
    status_of: dict[tuple[str, str], str] = {}
    ev_rows = []
    for e in await events.read(run.redis, None, count=100000):
        if e.campaign not in ("", cid):
            continue
        if e.type in ("day_advanced", "day_held"):
            status_of[(e.data.get("date", ""), e.identity)] = "advanced" if e.type == "day_advanced" else "held"
        if e.type not in ("send_retry", "send_accepted", "hour_summary"):
            detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if k not in ("recipient",))
            ev_rows.append({"t": _iso(e.t, spec), "type": e.type, "identity": e.identity, "detail": detail[:200]})
    rules = spec.plan.progress_rules(spec.mode)
    day_rows = [
        {**row, "status": status_of.get((row["date"], row["identity"]), _open_day_status(row, rules))}
        for row in summary["days"]
    ]
    signals: dict[str, Counter[str]] = defaultdict(Counter)
    names = {
        "delivered": "delivered",
        "open": "opens",
        "click": "clicks",
        "spamreport": "complaints",
        "unsubscribe": "unsubscribes",
    }
    for ev in run.emu_events:
        d = datetime.fromtimestamp(ev["timestamp"], tz=zone).date().isoformat()
        if ev["event"] == "bounce":
            signals[d]["hard_bounces" if ev.get("bounceType") == "hard_bounce" else "soft_bounces"] += 1
        elif ev["event"] in names:
            signals[d][names[ev["event"]]] += 1
    r = summary["recipients"]
    return {
        "campaign": spec.name,
        "note": run.note,
        "timezone": spec.timezone,
        "start": _iso(run.start, spec),
        "end": _iso(run.end, spec),
        "identities": [i.id for i in spec.identities],
        "hours": hour_rows,
        "days": day_rows,
        "pool": [{"date": d, "ceiling": recorder.pool[d], "sent": pool_sent[d]} for d in sorted(recorder.pool)],
        "domains": [{"date": d, "group": g, "sent": n} for (d, g), n in sorted(domains.items())],
        "outcomes": {k: r[k] for k in ("accepted", "failed", "suppressed", "invalid", "in_doubt", "pending")},
        "signals": [{"date": d, **dict(c)} for d, c in sorted(signals.items())],
        "events": ev_rows[-500:],
        "summary": {
            "total": r["total"],
            "sent": summary["sends_logged"],
            "days_simulated": summary.get("virtual_days", 0),
            "wall_seconds": summary.get("wall_seconds", 0),
        },
    }
