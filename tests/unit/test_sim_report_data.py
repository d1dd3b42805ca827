"""The data the simulation report draws: the pool against its real ceiling, the hourly plan only where the
sending window is open, and open rates only on days of send old enough for the guardrails to judge them."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from orchestrator.core.plan import Mode
from orchestrator.core.window import parse_window
from orchestrator.simulation.outputs import DayRecorder, _hour_key, _hour_rows, pool_rows
from orchestrator.simulation.report import render_report
from orchestrator.simulation.report.model import read
from orchestrator.simulation.report.signal_section import day_rates
from orchestrator.simulation.report.signals import recorded_signals
from orchestrator.store import keys
from tests.pipeline_helpers import load, write_campaign
from tests.report_helpers import synthetic_report


async def test_the_pool_is_drawn_against_the_multiplier_times_the_plan(tmp_path: Path, redis: Redis) -> None:
    """Three identities on warm-up day 1: the ceiling is 5 x plan(1), not the 3 x plan(1) they may send
    together; the report's pool rows carry both, and the chart names each for what it is."""
    spec, _ = load(write_campaign(tmp_path, 4, "p", identities=3))
    assert spec.mode is Mode.WARMUP
    assert spec.pool.multiplier == 5
    plan_day_1 = spec.build_plan().caps(1).daily
    recorder = DayRecorder(spec)
    await recorder.observe(redis, datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp())
    rows = pool_rows(recorder, Counter({"2026-12-01": 3 * plan_day_1}))
    assert rows == [
        {"date": "2026-12-01", "ceiling": 5 * plan_day_1, "identities_cap": 3 * plan_day_1, "sent": 3 * plan_day_1}
    ]
    data = synthetic_report(days=1, identities=1)
    data["pool"] = [{**rows[0], "date": data["days"][0]["date"]}]
    pool = render_report(data).split('aria-labelledby="pool-chart-t', 1)[1].split("</svg>", 1)[0]
    [tip] = re.findall(r"<rect class=\"bar\"[^>]*><title>([^<]+)</title>", pool)
    assert f"pool ceiling {5 * plan_day_1:,}" in tip
    assert f"identities&#x27; daily caps together {3 * plan_day_1:,}" in tip
    assert 'stroke-dasharray="5 3"' in pool  # the identities' caps: a line of their own


def _planned(window: str | None, zone: str, day: str) -> dict[str, int]:
    """The hourly rows of one identity with an hourly cap of 10 on `day`: local hour -> planned."""
    info = {"warmup_day": 1, "daily_cap": 100, "hourly_cap": 10}
    spec = SimpleNamespace(zone=ZoneInfo(zone), window=parse_window(window) if window else None)
    run = SimpleNamespace(recorder=SimpleNamespace(days={day: {"a": info}}), spec=spec)
    rows = _hour_rows(run, Counter())  # type: ignore[arg-type]
    return {r["t"][11:16] + r["t"][19:]: r["planned"] for r in rows}


def test_the_hourly_plan_is_zero_while_the_sending_window_is_closed() -> None:
    """22:00-06:00 wraps midnight: the plan is the hourly cap from 22:00 to 06:00 and nothing in between."""
    planned = _planned("22:00-06:00", "UTC", "2026-12-01")
    assert len(planned) == 24
    assert [h for h, v in planned.items() if v] == [f"{h:02d}:00+00:00" for h in (0, 1, 2, 3, 4, 5, 22, 23)]
    assert set(planned.values()) == {0, 10}
    assert set(_planned(None, "UTC", "2026-12-01").values()) == {10}  # no window: around the clock


def test_an_hour_partly_inside_the_window_is_planned() -> None:
    """08:30-17:15: the hours 08:00 and 17:00 are open for part of them, so they plan the hourly cap."""
    planned = _planned("08:30-17:15", "UTC", "2026-12-01")
    assert [h[:5] for h, v in planned.items() if v] == [f"{h:02d}:00" for h in range(8, 18)]


def test_the_hourly_plan_follows_the_window_over_a_daylight_saving_change() -> None:
    """New York, 2026-03-08, the clocks skip 02:00-03:00: a window opening at 02:30 opens at the jump, the
    hour 03:00 EDT; 01:00 EST, which ends at the jump, stays closed. On 2026-11-01 01:00 comes twice: a
    window to 01:30 is open in both (as the pacer reads the wall clock)."""
    spring = _planned("02:30-06:00", "America/New_York", "2026-03-08")
    assert len(spring) == 23
    assert [h for h, v in spring.items() if v] == ["03:00-04:00", "04:00-04:00", "05:00-04:00"]
    fall = _planned("22:00-01:30", "America/New_York", "2026-11-01")
    assert len(fall) == 25
    assert [h for h, v in fall.items() if v] == [
        "00:00-04:00",
        "01:00-04:00",
        "01:00-05:00",
        "22:00-05:00",
        "23:00-05:00",
    ]


def test_a_half_hour_clock_change_keeps_every_send_in_its_row() -> None:
    """Lord Howe Island, 2026-04-05: at 02:00 (+11:00) the clocks go back to 01:30 (+10:30). The half
    hour 01:30-02:00 +10:30 is a row of its own and the hours after it start on the hour, as the sends
    are keyed: they stepped from 01:30 +10:30 on, and that day's sends from 02:00 +10:30 on fell in no row."""
    zone = ZoneInfo("Australia/Lord_Howe")
    info = {"warmup_day": 1, "daily_cap": 100, "hourly_cap": 10}
    spec = SimpleNamespace(zone=zone, window=None)
    run = SimpleNamespace(recorder=SimpleNamespace(days={"2026-04-05": {"a": info}}), spec=spec)
    sent_at = [datetime(2026, 4, 5, 1, 45, tzinfo=zone).timestamp() + k * 1800 for k in range(8)]
    keyed = Counter((_hour_key(t, zone), "a") for t in sent_at)
    rows = _hour_rows(run, keyed)  # type: ignore[arg-type]
    assert sum(r["actual"] for r in rows) == 8
    assert [r["t"][11:] for r in rows][:5] == [
        "00:00:00+11:00",
        "01:00:00+11:00",
        "01:00:00+10:30",
        "02:00:00+10:30",
        "03:00:00+10:30",
    ]
    assert len({r["t"] for r in rows}) == len(rows) == 25


async def _cohorts(redis: Redis, cid: str, sends: dict[datetime, int]) -> None:
    """Sends of `cid` in the hour of each time, half of them delivered and a third of those opened."""
    async with redis.pipeline(transaction=False) as pipe:
        for at, n in sends.items():
            hour = int(at.timestamp()) // 3600
            for metric, count in (("accepted", n), ("delivered", n // 2), ("open", n // 6)):
                pipe.hincrby(keys.FB_COHORTS, f"{hour}|{metric}|c|{cid}", count)
        await pipe.execute()


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, 15, tzinfo=UTC)


async def test_a_day_of_send_is_settled_only_once_the_guardrails_judge_its_opens(redis: Redis) -> None:
    """At 2026-12-03 09:30 the guardrails judge opens on the cohorts up to 2026-12-02 08:00 (a whole day old):
    Dec 1 and a Dec 2 that sent only at 08:00 are settled, a Dec 2 that also sent at 09:00 and Dec 3 are
    not. A 48 h guardrail window judges opens on older mail still: then no day is settled."""
    await _cohorts(redis, "early", {_at(1, 10): 60, _at(1, 20): 60, _at(2, 8): 60})
    await _cohorts(redis, "late", {_at(2, 8): 60, _at(2, 9): 60, _at(3, 9): 60})
    now = datetime(2026, 12, 3, 9, 30, tzinfo=UTC).timestamp()
    zone = ZoneInfo("UTC")

    async def settled(cid: str, window_s: int = 86_400) -> dict[str, bool]:
        return {r["date"]: r["settled"] for r in await recorded_signals(redis, cid, zone, now, window_s)}

    assert await settled("early") == {"2026-12-01": True, "2026-12-02": True}
    assert await settled("late") == {"2026-12-02": False, "2026-12-03": False}
    assert await settled("early", 48 * 3600) == {"2026-12-01": False, "2026-12-02": False}
    rows = await recorded_signals(redis, "late", zone, now, 86_400)  # the counts as before, and `settled`
    assert rows[0] == {"date": "2026-12-02", "accepted": 120, "delivered": 60, "opens": 20, "settled": False}


def _signals_report(settled: list[bool]) -> dict[str, Any]:
    data = synthetic_report(days=len(settled), identities=1)
    first = date.fromisoformat(data["days"][0]["date"])
    data["signals"] = [
        {"date": (first + timedelta(days=i)).isoformat(), "accepted": 1000, "delivered": 960}
        | {"hard_bounces": 10, "soft_bounces": 5, "complaints": 2, "opens": 48 if not s else 576, "clicks": 5}
        | {"unsubscribes": 1, "settled": s}
        for i, s in enumerate(settled)
    ]
    return data


def test_a_day_not_settled_shows_no_open_rate_and_plots_none() -> None:
    """The last day's 48 opens of 960 delivered (5 %) are opens still arriving: no rate in the table
    ("not settled"), no point on the open chart against the 50 % line; its complaint rate is a lower bound."""
    data = _signals_report([True, False])
    report = read(data)
    rows = sorted(report.signals, key=lambda r: r.day)
    assert day_rates(rows, "opens") == [60.0, None]
    assert day_rates(rows, "clicks")[1] is None
    assert day_rates(rows, "complaints") == [0.2, 0.2]
    html = render_report(data)
    table = html.split("Daily signals table", 1)[1].split("</details>", 1)[0]
    last = table.split(f"<td>{rows[1].day.isoformat()}</td>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td class=\"n[^\"]*\"[^>]*>([^<]+)</td>", last)[-3:] == ["1%", "0.2%*", "not settled"]
    assert "5%" not in last
    assert "Not settled: mail sent less than 24 hours before the run stopped" in table
    open_chart = html.split('aria-labelledby="rate-open-t', 1)[1].split("</svg>", 1)[0]
    assert "opens: highest 60%" in open_chart
    assert "5%" not in re.findall(r"<desc[^>]*>([^<]*)", open_chart)[0]


def test_settled_days_and_older_inputs_show_their_open_rates() -> None:
    """A row without `settled` (an input from before the field) is read as settled, as it was drawn."""
    data = _signals_report([True, True])
    for row in data["signals"]:
        del row["settled"]
    html = render_report(data)
    assert "not settled</td>" not in html
    assert "Not settled:" not in html
    assert html.count(">60%</td>") == 2
