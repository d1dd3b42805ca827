"""A simulation posts each of Tencent's events at its own time on the virtual clock, as it happens live.

The clock jumps from one grant to the next (a whole night at once when the sending window closes);
an event due inside a jump must still reach the web process at its time, or its counts land late:
deferral bursts appear that never happened, guardrails judge late.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from orchestrator.campaign_file import load_campaign
from orchestrator.simulation.run import SimHooks, run_simulation
from orchestrator.store import keys
from tests.pipeline_helpers import write_campaign

pytestmark = pytest.mark.slow

CAMPAIGN: dict[str, Any] = {
    "sending_window": "20:00-02:00",  # closed 18 h a day: the events of the night are due in jumps
    "plan": {"rows": [{"days": "1-10", "daily": 300, "hourly": 60}]},
    "shaping": {"max_domain_share": 1.0},
    "simulation": {"open_rate": 0.5, "soft_bounce_rate": 0.05, "hard_bounce_rate": 0.01},
}


def test_every_event_is_counted_at_its_own_time(tmp_path: Path) -> None:
    lags: list[float] = []

    async def on_end(redis: Any, cid: str, run: Any) -> None:
        del cid, run
        async for key in redis.scan_iter(match=keys.fb_message("*")):
            marks = {str(k): v for k, v in (await redis.hgetall(key)).items()}
            for field, raw in marks.items():
                if field.startswith("u:") or "|" not in field:
                    continue
                event = json.loads(raw)
                metric = {"bounce": event.get("bounceType"), "spamreport": "complaint"}.get(event["event"])
                counted = marks.get(f"u:{metric or event['event']}")
                if counted is not None and event.get("source") == "callback":
                    lags.append(float(counted) - float(event["timestamp"]))

    spec = load_campaign(write_campaign(tmp_path, 900, "cb", identities=1, extra=CAMPAIGN))
    result = asyncio.run(
        run_simulation(spec, tmp_path / "out", days=3, today=date(2026, 12, 1), hooks=SimHooks(on_end=on_end))
    )
    assert result.summary["recipients"]["accepted"] > 500
    assert len(lags) > 1000  # deliveries, opens and bounces of the run
    assert max(lags) == 0.0, f"{sum(lag > 0 for lag in lags)} events counted late, up to {max(lags):.0f} s"


def test_the_same_file_simulates_the_same_way_twice(tmp_path: Path) -> None:
    """The emulator draws each mail's fate and each injected fault from the seed, the mail and its time,
    not from one generator in the order concurrent requests happen to arrive: two runs of one file send
    the same recipients at the same times with the same outcomes."""
    extra = {**CAMPAIGN, "simulation": {**CAMPAIGN["simulation"], "transient_error_rate": 0.05}}
    spec = load_campaign(write_campaign(tmp_path, 900, "twice", identities=2, extra=extra))
    runs = []
    for n in (1, 2):
        result = asyncio.run(run_simulation(spec, tmp_path / f"out{n}", days=2, today=date(2026, 12, 1)))
        sends = (tmp_path / f"out{n}" / "sends.jsonl").read_text(encoding="utf-8").splitlines()
        s = result.summary
        runs.append(
            (
                sorted((r["t"], r["identity"], r["to"]) for r in map(json.loads, sends)),
                s["recipients"],
                s["recorded_events"],
                s["backoffs"],
            )
        )
    assert runs[0][1]["failed"] + runs[0][1]["accepted"] > 500
    assert runs[0] == runs[1]
