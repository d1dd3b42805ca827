"""`simulate --days N` runs N local days: across a daylight-saving change it ends at local midnight too."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from orchestrator.campaign_file import load_campaign
from orchestrator.simulation.run import run_simulation
from tests.pipeline_helpers import write_campaign
from tests.sim_checks import read_summary


def test_two_days_over_the_spring_change_end_at_local_midnight(tmp_path: Path) -> None:
    """New York, 2026-03-07 and the 23-hour 2026-03-08: the run stops at 03-09 00:00 local (47 hours), with
    no third day begun (it ran 48 hours before, into 03-09 01:00)."""
    extra: dict[str, object] = {
        "timezone": "America/New_York",
        "plan": {"rows": [{"days": "1-3", "daily": 48, "hourly": 2}]},
    }
    path = write_campaign(tmp_path, 500, "ny", identities=1, extra=extra)
    result = asyncio.run(run_simulation(load_campaign(path), tmp_path / "out", days=2, today=date(2026, 3, 7)))
    summary = read_summary(result.out)
    assert sorted({d["date"] for d in summary["days"]}) == ["2026-03-07", "2026-03-08"]
    last = max(datetime.fromisoformat(s["t"]) for s in summary_sends(result.out))
    assert last.astimezone(ZoneInfo("America/New_York")).date() == date(2026, 3, 8)


def summary_sends(out: Path) -> list[dict[str, str]]:
    import json

    return [json.loads(line) for line in (out / "sends.jsonl").read_text().splitlines()]


def test_a_window_that_closes_at_midnight_reports_each_day_as_the_pacer_ran_it(tmp_path: Path) -> None:
    """A window of 20:00-24:00: the first instant of each date falls in the closed window, before the pacer
    has closed the day before. The summary's days showed the warm-up day before that close (day 1's caps
    on day 2 and more sent than the cap; day 1 "held" though it sent enough to advance)."""
    extra: dict[str, object] = {
        "sending_window": "20:00-24:00",
        "plan": {
            "rows": [{"days": "1", "daily": 40, "hourly": 10}, {"days": "2-3", "daily": "60-80", "hourly": "15-20"}]
        },
        "shaping": {"max_domain_share": 1.0},
    }
    path = write_campaign(tmp_path, 1000, "midnight", identities=1, extra=extra)
    result = asyncio.run(run_simulation(load_campaign(path), tmp_path / "out", days=3, today=date(2026, 12, 1)))
    rows = [
        (d["date"], d["warmup_day"], d["daily_cap"], d["sent"], d["advanced"]) for d in read_summary(result.out)["days"]
    ]
    assert rows == [
        ("2026-12-01", 1, 40, 40, True),
        ("2026-12-02", 2, 60, 60, True),
        ("2026-12-03", 3, 80, 80, False),
    ]
