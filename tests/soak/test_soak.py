"""A 60-day warm-up of 5 identities on the virtual clock: holds, backoffs and operator pauses, then compaction.

The real pipeline (pacer, sweeper, arq jobs, Lua scripts, the emulator reached by the official SDK, the
web process's callbacks) runs a 60-day sample: one identity bounces (held by its guardrail), one
recipient domain answers TemporaryBlocked (backed off), the operator pauses and resumes at chosen
virtual times. The campaign completes; the sweeper compacts it once its retention is over. Checked:
caps in every rolling hour and day, the pool's ceiling, no duplicate, nothing lost (sends.jsonl, the
emulator's own send log), and Redis memory bounded: measured before and after, every key without a TTL
in a long-lived family, the finished campaign's per-recipient keys gone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.campaign_file import load_campaign
from orchestrator.control import pause_campaign, resume_campaign
from orchestrator.core.clock import VirtualClock
from orchestrator.export import ExportError, rows
from orchestrator.pacing import PacerConfig
from orchestrator.simulation.run import SimHooks, run_simulation
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.status import campaign_status
from orchestrator.store import campaigns, keys
from orchestrator.trace import trace
from tests.pipeline_helpers import write_campaign
from tests.sim_checks import check_caps, check_nothing_lost, read_sends, read_summary
from tests.soak.memory import LONG_LIVED, Footprint, measure

pytestmark = pytest.mark.soak

DAYS = 60
N = 2400
RETENTION_DAYS = 9  # past compaction.MAIL_KEPT_S (8 days): a campaign that sent mail waits that long
MIDWAY_DAY = 15
BOUNCY, BLOCKED = "s-id1", "slow.example"
DOMAINS = ["gmail.com", "naver.com", "daum.net", BLOCKED]
#: The operator's pauses: (pause at, resume at), in days after the start.
OPERATOR_PAUSES = [(4.4, 5.3), (17.6, 19.4)]
CAMPAIGN: dict[str, Any] = {
    "plan": {
        "rows": [
            {"days": 1, "daily": 4, "hourly": 1},
            {"days": "2-4", "daily": 6, "hourly": 2},
            {"days": "5-10", "daily": 9, "hourly": 3},
            {"days": "11-60", "daily": 14, "hourly": 4},
        ]
    },
    "shaping": {"max_domain_share": 1.0},
    "guardrails": {
        "confidence_z": 0,
        "hard_bounce": {"hold_pct": 5, "pause_pct": "off", "min_sample": 30},
        "complaint": {"hold_pct": "off", "pause_pct": "off"},
        "window_hours": 96,
    },
    "simulation": {
        "open_rate": 0.5,
        "hard_bounce_rate": 0.0,
        "complaint_rate": 0.0,
        "identities": {BOUNCY: {"hard_bounce_rate": 0.3}},
        "domains": {BLOCKED: {"temporary_block_rate": 0.1}},
    },
}


@dataclass
class Soak:
    """What the hooks saw: the operator's actions done, the footprints at completion and after compaction."""

    start: float = 0.0
    done: set[int] = field(default_factory=set)
    midway: Footprint | None = None
    completed: Footprint | None = None
    compacted: Footprint | None = None
    per_recipient_left: list[str] = field(default_factory=list)
    trace_lines: list[str] = field(default_factory=list)
    export_error: str = ""
    sweeps: int = 0
    status_compacted_at: str | None = None


def operator(soak: Soak) -> Any:
    async def on_step(redis: Any, cid: str, now: float) -> None:
        if not soak.start:
            soak.start = now
        if soak.midway is None and now >= soak.start + MIDWAY_DAY * 86400:
            soak.midway = await measure(redis)
        for i, (pause_at, resume_at) in enumerate(OPERATOR_PAUSES):
            clock = VirtualClock(now)
            if 2 * i not in soak.done and now >= soak.start + pause_at * 86400:
                soak.done.add(2 * i)
                await pause_campaign(redis, cid, clock, "operator check", by="operator", wait_s=0)
            if 2 * i + 1 not in soak.done and now >= soak.start + resume_at * 86400:
                soak.done.add(2 * i + 1)
                await resume_campaign(redis, cid, clock, ack="checked", by="operator")

    return on_step


def awaited(soak: Soak) -> Any:
    """While an operator's resume is still to come, an idle (paused) run goes on."""

    async def still_to_come() -> bool:
        return len(soak.done) < 2 * len(OPERATOR_PAUSES)

    return still_to_come


def finisher(soak: Soak) -> Any:
    """At the end: the footprint of the completed campaign, then sweeps on the virtual clock past its retention."""

    async def on_end(redis: Any, cid: str, run: VirtualRun) -> None:
        rec = await campaigns.get(redis, cid)
        assert rec is not None
        assert rec.state.value == "completed", (rec.state, rec.reason)
        soak.completed = await measure(redis)
        changed = float(rec.raw.get("changed_at") or await redis.hget(keys.campaign(cid), "changed_at"))
        run.clock.set(max(run.clock.now(), min(soak.start + DAYS * 86400, changed + RETENTION_DAYS * 86400 + 60)))
        while await redis.hget(keys.campaign(cid), "compacted_at") is None and soak.sweeps < 100:
            run.clock.advance(60)
            await run.sweeper.sweep()
            soak.sweeps += 1
        run.clock.set(max(run.clock.now(), soak.start + DAYS * 86400))
        await run.sweeper.sweep()  # a later sweep: nothing more to compact, nothing breaks
        soak.compacted = await measure(redis)
        status = await campaign_status(redis, cid, run.clock.now())
        soak.status_compacted_at = status.compacted_at if status is not None else None
        soak.per_recipient_left = [
            str(k)
            async for k in redis.scan_iter(match=f"{keys.CampaignKeys(cid).base}*")
            if not str(k).endswith(":counts")
        ]
        found = await trace(redis, "user0@gmail.com", run.clock.now())
        soak.trace_lines = [c.cid for c in found.compacted if c.done]
        try:
            async for _ in rows(redis, cid):
                break
        except ExportError as exc:
            soak.export_error = str(exc)

    return on_end


@pytest.fixture(scope="module")
def soaked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Soak]:
    tmp = tmp_path_factory.mktemp("soak")
    rows_ = [f"user{i}@{DOMAINS[i % len(DOMAINS)]},Name{i}" for i in range(N)]
    path = write_campaign(tmp, N, "s", identities=5, extra=CAMPAIGN, csv_text="email,first_name\n" + "\n".join(rows_))
    spec = load_campaign(path)
    soak = Soak()
    config = PacerConfig(completed_retention_s=RETENTION_DAYS * 86400)
    hooks = SimHooks(operator(soak), finisher(soak), config, awaited(soak))
    result = asyncio.run(run_simulation(spec, tmp / "out", days=DAYS, today=datetime(2026, 12, 1).date(), hooks=hooks))
    return result.out, spec, soak


def test_soak_keeps_every_cap_and_loses_nothing(soaked: tuple[Path, Any, Soak]) -> None:
    """60 days: caps in every rolling hour and day, the pool's ceiling, no duplicate, every recipient counted."""
    out, spec, _ = soaked
    summary, sends = read_summary(out), read_sends(out)
    check_caps(spec, summary, sends)
    check_nothing_lost(summary, sends)
    assert summary["state"] == "completed"
    assert summary["recipients"]["accepted"] + summary["recipients"]["failed"] == N
    assert summary["virtual_days"] >= DAYS


def test_soak_went_through_holds_backoffs_and_pauses(soaked: tuple[Path, Any, Soak]) -> None:
    """The bouncing identity was held, the blocked domain backed off, the operator paused and resumed twice."""
    out, _, soak = soaked
    summary = read_summary(out)
    bouncy = [d for d in summary["days"] if d["identity"] == BOUNCY and d["day_closed"] and d["sent"]]
    assert any("hard_bounce" in (d["held_reason"] or "") for d in bouncy)
    assert summary["backoffs"]
    assert [p["by"] for p in summary["pauses"]] == ["operator"] * len(OPERATOR_PAUSES)
    assert len(summary["resumes"]) == len(OPERATOR_PAUSES)
    assert len(soak.done) == 2 * len(OPERATOR_PAUSES)


def test_soak_memory_is_bounded(soaked: tuple[Path, Any, Soak]) -> None:
    """Every key without a TTL is long-lived by design; compaction leaves the summary and removes the rest."""
    out, _, soak = soaked
    mid, done, after = soak.midway, soak.completed, soak.compacted
    assert mid is not None
    assert done is not None
    assert after is not None
    for fp in (mid, done):  # while a campaign holds per-recipient data, only its keys may lack a TTL
        assert {f for f in fp.no_ttl if f not in LONG_LIVED and not f.startswith("wo:c:*:")} == set(), fp.table()
    assert set(after.no_ttl) <= LONG_LIVED, after.table()
    assert soak.per_recipient_left == []
    assert after.family_keys["wo:fb:m:*"] == 0 < done.family_keys["wo:fb:m:*"]
    assert after.family_keys["wo:msgid"] == 0 < done.family_keys["wo:msgid"]
    assert after.keys < done.keys / 2
    assert after.key_bytes < done.key_bytes / 2
    summary = read_summary(out)
    held = sum(1 for d in summary["days"] if "hard_bounce" in (d["held_reason"] or ""))  # guardrail holds
    print(
        f"\nsoak: days {summary['virtual_days']}, sends {summary['sends_logged']}, holds {held}, "
        f"pauses {len(summary['pauses'])}, backoffs {len(summary['backoffs'])}, "
        f"keys {done.keys} -> {after.keys}, key bytes {done.key_bytes} -> {after.key_bytes}, "
        f"used_memory {done.used_memory} -> {after.used_memory}"
    )


def test_soak_trace_export_and_status_name_the_compaction(soaked: tuple[Path, Any, Soak]) -> None:
    """After compaction: trace names the compacted campaign, export refuses with the date, status shows it."""
    out, _, soak = soaked
    cid = read_summary(out)["campaign_id"]
    assert soak.trace_lines == [cid]
    assert "compacted on" in soak.export_error
    assert "cannot be exported" in soak.export_error
    assert soak.status_compacted_at
