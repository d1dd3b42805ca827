"""`orchestrate plan`: the day-by-day warm-up preview as a table and as JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.core.clock import SystemClock

EXAMPLE = Path(__file__).parents[2] / "campaigns" / "example.yaml"


def _today_in_seoul() -> dt.date:
    return dt.datetime.fromtimestamp(SystemClock().now(), tz=ZoneInfo("Asia/Seoul")).date()


def _plan(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["plan", *args])
    return result.exit_code, result.output


def _plan_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["plan", "--json", *args])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)  # warnings go to stderr
    return report


def test_plan_json_day_one_of_the_example() -> None:
    """Day 1 of the example: news-a 500/200 (its quota), news-b 1000/200, pool 1500/400."""
    report = _plan_json(str(EXAMPLE))
    assert report["campaign"] == "spring-news"
    assert report["days"][0] == {
        "day": 1,
        "date": "2026-12-01",
        "identities": {
            "news-a": {"warmup_day": 1, "daily_cap": 500, "hourly_cap": 200},
            "news-b": {"warmup_day": 1, "daily_cap": 1000, "hourly_cap": 200},
        },
        "pool": {"daily_cap": 1500, "hourly_cap": 400},
    }


def test_plan_json_has_thirty_days_by_default() -> None:
    """Without --days the preview covers 30 consecutive days, numbered and dated in order."""
    days = _plan_json(str(EXAMPLE))["days"]
    assert [d["day"] for d in days] == list(range(1, 31))
    assert [d["date"] for d in days] == [(dt.date(2026, 12, 1) + dt.timedelta(days=k)).isoformat() for k in range(30)]
    assert [d["identities"]["news-b"]["warmup_day"] for d in days] == list(range(1, 31))


def test_plan_json_shape_is_exact() -> None:
    """Every day has exactly day, date, identities and pool; every cap is an integer."""
    report = _plan_json(str(EXAMPLE))
    assert set(report) == {"campaign", "days", "domain_budgets"}
    for day in report["days"]:
        assert set(day) == {"day", "date", "identities", "pool"}
        assert set(day["pool"]) == {"daily_cap", "hourly_cap"}
        for ident in day["identities"].values():
            assert set(ident) == {"warmup_day", "daily_cap", "hourly_cap"}
            assert all(type(v) is int for v in ident.values())
        assert all(type(v) is int for v in day["pool"].values())


def test_plan_json_days_option() -> None:
    """--days 5 gives five days; news-b follows the default table, news-a stays at its quota and, its day
    held under half of day 2's 1,500, on warm-up day 2 (its hourly cap that day's 200)."""
    days = _plan_json("--days", "5", str(EXAMPLE))["days"]
    assert [(d["identities"]["news-b"]["daily_cap"], d["identities"]["news-b"]["hourly_cap"]) for d in days] == [
        (1000, 200),
        (1500, 200),
        (2000, 400),
        (3000, 400),
        (4500, 500),
    ]
    assert [d["identities"]["news-a"]["daily_cap"] for d in days] == [500] * 5
    assert [d["identities"]["news-a"]["warmup_day"] for d in days] == [1, 2, 2, 2, 2]
    assert [(d["pool"]["daily_cap"], d["pool"]["hourly_cap"]) for d in days] == [
        (1500, 400),
        (2000, 400),
        (2500, 600),
        (3500, 600),
        (5000, 700),
    ]


@pytest.mark.parametrize("days", [pytest.param("0", id="zero"), pytest.param("x", id="not-a-number")])
def test_plan_refuses_a_bad_days_option(days: str) -> None:
    """--days must be a positive whole number (a usage error, exit 2)."""
    code, output = _plan("--days", days, str(EXAMPLE))
    assert code == 2
    assert "--days" in output


def test_plan_table_marks_the_day_the_recipients_are_reached() -> None:
    """The readable table shows each day and marks day 3, when the 4,000 example recipients fit."""
    code, output = _plan("--days", "5", str(EXAMPLE))
    assert code == 0, output
    marked = [line for line in output.splitlines() if "all 4,000 recipients" in line]
    assert len(marked) == 1
    assert "2026-12-03" in marked[0]
    assert "d3  2,000/400" in marked[0]
    assert "At full pace the 4,000 recipients are all sent by day 3 (2026-12-03)." in output


def test_plan_table_says_when_the_list_needs_more_days() -> None:
    """When the preview is too short for the list, the table says so."""
    code, output = _plan("--days", "2", str(EXAMPLE))
    assert code == 0, output
    assert "The 4,000 recipients need more than 2 days at full pace (3,500 by day 2)" in output


def test_plan_starts_today_in_the_campaign_time_zone_without_start(tmp_path: Path) -> None:
    """A campaign without `start` previews from today's date in its own time zone."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("start: 2026-12-01\n", "")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "recipients.csv").write_text("email,first_name\na@b.example.com,A\n", encoding="utf-8")
    before = _today_in_seoul()
    first = _plan_json("--days", "1", str(tmp_path / "c.yaml"))["days"][0]["date"]
    after = _today_in_seoul()  # the test may straddle midnight
    assert first in {before.isoformat(), after.isoformat()}


def test_plan_of_a_broken_file_exits_2_with_the_place(tmp_path: Path) -> None:
    """A broken campaign prints its problems with file, line and field, exit 2, no traceback."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("multiplier: 5", "multiplier: 9")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "recipients.csv").write_text("email,first_name\n", encoding="utf-8")
    code, output = _plan("--json", str(tmp_path / "c.yaml"))
    assert code == 2
    assert f"{tmp_path / 'c.yaml'}:15: pool.multiplier: 9 is above 5" in output
    assert "Traceback" not in output


def _small_list(tmp_path: Path, shaping: str) -> Path:
    """The example's plan with 6 gmail, 3 naver and 1 hanmail recipients and the given `shaping:` line."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace(
        "shaping: {max_domain_share: 0.3, per_domain_from_day: 6, per_domain_from_daily: 5000}", shaping
    )
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    rows = [f"g{i}@gmail.com,G" for i in range(6)] + [f"n{i}@naver.com,N" for i in range(3)] + ["k@hanmail.net,K"]
    (tmp_path / "recipients.csv").write_text("email,first_name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path / "c.yaml"


@pytest.mark.parametrize(
    ("shaping", "starts"),
    [
        # news-b's plan: 1000, 1500, 2000, 3000, 4500, 6000 a day; news-a is held to its quota of 500, and
        # with it on warm-up day 2 (1,500 a day planned): its shaping never starts in these 8 days.
        pytest.param("shaping: {per_domain_from_day: 6}", {"news-a": None, "news-b": 6}, id="from-day"),
        pytest.param("shaping: {per_domain_from_daily: 2000}", {"news-a": None, "news-b": 3}, id="from-daily"),
        pytest.param(
            "shaping: {per_domain_from_day: 9, per_domain_from_daily: 99999}",
            {"news-a": None, "news-b": None},
            id="not-in-view",
        ),
    ],
)
def test_plan_json_domain_budgets(tmp_path: Path, shaping: str, starts: dict[str, int | None]) -> None:
    """`domain_budgets`: the list's groups, each identity's day-one share and its shaping day with each group's caps."""
    report = _plan_json("--days", "8", str(_small_list(tmp_path, shaping)))
    budgets = report["domain_budgets"]
    assert budgets["recipients_by_group"] == {"google": 6, "naver": 3, "kakao": 1}
    assert budgets["applies"] is True
    for name, ident in budgets["identities"].items():
        assert ident["day_one"]["group_hourly_cap"] == 60  # 30 % of an hour of 200
        start = ident["shaping_from"]
        assert (start and start["day"]) == starts[name]
        if start is None:
            assert ident["groups"] == {}
            continue
        day = report["days"][start["day"] - 1]["identities"][name]
        assert start["warmup_day"] == day["warmup_day"]
        own = {"daily_cap": day["daily_cap"], "hourly_cap": day["hourly_cap"]}
        assert ident["groups"] == {"google": own, "naver": own, "kakao": own}


def test_plan_table_shows_the_domain_budgets(tmp_path: Path) -> None:
    """The text plan ends with the budgets: the shaping rule, and per group its recipients and each identity's caps."""
    code, output = _plan("--days", "8", str(_small_list(tmp_path, "shaping: {per_domain_from_daily: 2000}")))
    assert code == 0, output
    assert "per-domain shaping from warm-up day 6 or a daily cap of 2,000" in " ".join(output.split())
    [google] = [line for line in output.splitlines() if line.startswith("│ google")]
    assert [c.strip() for c in google.split("│")[2:5]] == ["6", "60/h, then -", "60/h, then 2,000/400"]


def test_plan_of_a_start_that_has_passed_says_a_submit_sends_from_today(tmp_path: Path) -> None:
    """start: 2020-01-01 previews that day as written, and says on stderr that a submit sends from today."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("start: 2026-12-01\n", "start: 2020-01-01\n")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "recipients.csv").write_text("email,first_name\na@b.example.com,A\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", "--json", "--days", "1", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["days"][0]["date"] == "2020-01-01"
    assert "warning: start 2020-01-01 has passed: submitted now, the campaign sends from today (" in result.stderr
