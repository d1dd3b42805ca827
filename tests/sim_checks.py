"""Checks of a finished simulation's outputs: caps in every rolling hour and day, the pool's ceiling, no duplicate."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.core.campaign import Campaign
from tests.pipeline_helpers import max_in_rolling_window


def read_sends(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "sends.jsonl").read_text(encoding="utf-8").splitlines()]


def read_summary(out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return summary


def check_caps(spec: Campaign, summary: dict[str, Any], sends: list[dict[str, str]]) -> None:
    """No identity above its hourly cap in any rolling hour nor its daily cap; the pool under 5 x the plan."""
    caps = {(d["date"], d["identity"]): d for d in summary["days"]}
    times: dict[str, list[float]] = defaultdict(list)
    per_day: Counter[tuple[str, str]] = Counter()
    pool_day: Counter[str] = Counter()
    for s in sends:
        t = datetime.fromisoformat(s["t"])
        day = t.astimezone(spec.zone).date().isoformat()
        times[s["identity"]].append(t.timestamp())
        per_day[(day, s["identity"])] += 1
        pool_day[day] += 1
    for (day, ident), n in per_day.items():
        assert n <= caps[(day, ident)]["daily_cap"], (day, ident)
    for ident, ts in times.items():
        by_day: dict[str, list[float]] = defaultdict(list)
        for t in ts:
            by_day[datetime.fromtimestamp(t, tz=spec.zone).date().isoformat()].append(t)
        for day, day_ts in by_day.items():
            assert max_in_rolling_window(day_ts) <= caps[(day, ident)]["hourly_cap"], (day, ident)
        # Across day boundaries the later day's (higher) cap is the bound.
        assert max_in_rolling_window(ts) <= max(c["hourly_cap"] for (_, i), c in caps.items() if i == ident)
    plan = spec.build_plan()
    for day, n in pool_day.items():
        top = max(caps[(day, i.id)]["warmup_day"] for i in spec.identities)
        assert n <= spec.pool.multiplier * plan.caps(top).daily, day


def check_nothing_lost(summary: dict[str, Any], sends: list[dict[str, str]]) -> None:
    """Every recipient sent at most once, and every one accounted for: the summary's totals equal the send log."""
    to = [s["to"] for s in sends]
    assert len(to) == len(set(to)), "no duplicate send"
    r = summary["recipients"]
    assert r["accepted"] == len(sends) == summary["sends_logged"]
    assert (
        r["total"]
        == r["accepted"] + r["failed"] + r["suppressed"] + r["invalid"] + r["in_doubt"] + r["pending"] + r["duplicates"]
    )
    assert sum(d["sent"] for d in summary["days"]) == len(sends)
