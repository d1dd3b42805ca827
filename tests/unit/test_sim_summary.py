"""summary.json's per-day step fields (advanced, held_reason) and the simulate command's word on a paused end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.commands.simulate import _print_summary
from orchestrator.core.progress import IdentityProgress
from orchestrator.simulation.outputs import DayRecorder, _day_rows, _identity_of, api_calls
from orchestrator.simulation.timeline import Timeline
from orchestrator.store import identities, keys
from tests.pipeline_helpers import load, write_campaign

HOLD = "hard_bounce: 7.00 % of 300 sends, lower bound 5.40 % above the hold line 5 %"


@dataclass(frozen=True)
class Sent:
    time: float
    from_address: str


def _at(day: int, hour: int = 10) -> float:
    return datetime(2026, 12, day, hour, tzinfo=UTC).timestamp()


def test_day_rows_say_whether_each_day_advanced_and_why_not(tmp_path: Path) -> None:
    """A day advanced when the next starts on a later warm-up day; a held day gives the guardrail's reason, a day
    without sends says so, and the day still open at the end is not counted as advanced."""
    spec, _ = load(write_campaign(tmp_path, 4, "s", identities=2))
    a, b = (i.id for i in spec.identities)
    recorder = DayRecorder(spec)

    def caps(day: int) -> dict[str, int]:
        return {"warmup_day": day, "daily_cap": 100, "hourly_cap": 10}

    recorder.days = {
        "2026-12-01": {a: caps(1), b: caps(1)},
        "2026-12-02": {a: caps(2), b: caps(1)},
        "2026-12-03": {a: caps(2), b: caps(2)},
    }
    sends = [Sent(_at(1), "news@d0.example.com")] * 3 + [Sent(_at(1), "news@d1.example.com")]
    sends += [Sent(_at(2), "news@d1.example.com"), Sent(_at(3), "news@d0.example.com")]
    timeline = Timeline(steps={("2026-12-01", b): ("held", HOLD), ("2026-12-01", a): ("advanced", None)})
    got = [
        (r["date"], r["identity"], r["sent"], r["advanced"], r["held_reason"], r["day_closed"])
        for r in _day_rows(spec, recorder, sends, timeline)
    ]
    assert got == [
        ("2026-12-01", a, 3, True, None, True),
        ("2026-12-01", b, 1, False, HOLD, True),
        ("2026-12-02", a, 0, False, "nothing sent", True),
        ("2026-12-02", b, 1, True, None, True),
        ("2026-12-03", a, 1, False, "the simulation ended before this day closed", False),
        ("2026-12-03", b, 0, False, "the simulation ended before this day closed", False),
    ]


def _summary(**over: Any) -> dict[str, Any]:
    names = ("total", "accepted", "failed", "suppressed", "invalid", "duplicates", "in_doubt", "pending")
    recipients = dict.fromkeys(names, 0)
    base = {"campaign": "spring", "state": "completed", "virtual_days": 2.4, "wall_seconds": 3.0, "note": ""}
    base["api_calls"] = {"by_action": {"SendEmail": 7}, "throttled": 0, "busiest_second": 3, "limit_per_s": 20.0}
    return {**base, "recipients": recipients, **over}


@pytest.mark.parametrize(
    ("over", "said"),
    [
        pytest.param(
            {"state": "paused", "paused_by": "automatic", "state_reason": "guardrail: complaint on id-a"},
            "ended paused (automatic): guardrail: complaint on id-a",
            id="paused",
        ),
        pytest.param({}, None, id="completed"),
    ],
)
def test_simulate_output_says_when_the_run_ended_paused(
    capsys: pytest.CaptureFixture[str], over: dict[str, Any], said: str | None
) -> None:
    """A run that ended paused says so with its reason, and still points at the three files; a finished one does not."""
    _print_summary(_summary(**over), Path("out"))
    text = capsys.readouterr().out
    assert ("ended paused" in text) is (said is not None)
    if said is not None:
        assert said in text
    assert all(f"out/{name}" in text for name in ("report.html", "summary.json", "sends.jsonl"))


def test_simulate_output_says_what_tencent_saw(capsys: pytest.CaptureFixture[str]) -> None:
    """The API calls the emulator logged, the throttled ones and the busiest second against its limit."""
    api = {"by_action": {"SendEmail": 1200, "GetSendEmailStatus": 34}, "throttled": 2, "busiest_second": 17}
    _print_summary(_summary(api_calls={**api, "limit_per_s": 20.0}), Path("out"))
    assert "Tencent API: 1,234 calls, 2 throttled, busiest second 17 calls (limit 20)" in capsys.readouterr().out


def test_simulate_output_accounts_for_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    """The recipients line adds up to its total: the duplicates the file held are named too."""
    counts = {"accepted": 31, "failed": 0, "suppressed": 0, "invalid": 3, "duplicates": 2, "in_doubt": 0, "pending": 0}
    _print_summary(_summary(recipients={"total": 36, **counts}), Path("out"))
    [line] = [x for x in capsys.readouterr().out.splitlines() if "recipients" in x]
    assert line.strip() == (
        "recipients 36: accepted 31, failed 0, suppressed 0, invalid 3, duplicates 2, in doubt 0, pending 0"
    )
    assert sum(int(part.rsplit(" ", 1)[1]) for part in line.split(": ", 1)[1].split(", ")) == 36


@dataclass(frozen=True)
class Call:
    time: float
    action: str
    error: str | None = None
    counted: bool = True
    account: str | None = "default"


def test_api_calls_counts_the_busiest_rolling_second_as_tencent_does() -> None:
    """(t - 1 s, t]: calls exactly one second apart are never in one window; refused calls do not count."""
    log = [Call(10.0, "SendEmail"), Call(10.5, "SendEmail"), Call(11.0, "SendEmail"), Call(11.2, "GetSendEmailStatus")]
    log += [Call(11.3, "SendEmail", "RequestLimitExceeded", counted=False), Call(20.0, "SendEmail")]
    got = api_calls(log, 20.0)
    assert got == {
        "by_action": {"SendEmail": 5, "GetSendEmailStatus": 1},
        "throttled": 1,
        "busiest_second": 3,  # 10.5, 11.0, 11.2 (10.0 has left the window at 11.0)
        "limit_per_s": 20.0,
    }
    assert api_calls([], None)["busiest_second"] == 0


def test_each_account_has_its_own_rolling_second() -> None:
    """Tencent counts an account's calls: two accounts' calls in one second are two windows, not one."""
    log = [Call(10.0 + k / 10, "SendEmail", account="default") for k in range(4)]
    log += [Call(10.05 + k / 10, "SendEmail", account="marketing") for k in range(3)]
    assert api_calls(log, 20.0)["busiest_second"] == 4


def test_a_logged_send_is_credited_to_its_own_identity_never_to_one_whose_address_it_contains(tmp_path: Path) -> None:
    """`news@acme.co` is a part of `news@acme.com` and `news@acme.com.cn`: each send goes to its own identity."""
    spec, _ = load(write_campaign(tmp_path, 4, "s", identities=3))
    idents = [
        i.model_copy(update={"from_": f"{name} <news@{dom}>"})
        for i, name, dom in zip(spec.identities, "ABC", ("acme.co", "acme.com", "acme.com.cn"), strict=True)
    ]
    spec = spec.model_copy(update={"identities": idents})
    assert [_identity_of(spec, f) for f in ("B <news@acme.com>", "news@ACME.com.cn", "A <news@acme.co>")] == [
        idents[1].id,
        idents[2].id,
        idents[0].id,
    ]
    assert _identity_of(spec, "news@acme.c") == "?"


def test_the_hourly_rows_keep_both_hours_of_a_fall_back_day() -> None:
    """New York, 2026-11-01: 01:00 comes twice (-04:00, then -05:00). Both are rows with their own sends,
    the day has 25 hours, and the next day 24."""
    from collections import Counter
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from orchestrator.simulation.outputs import _hour_rows

    info = {"warmup_day": 1, "daily_cap": 100, "hourly_cap": 10}
    run = SimpleNamespace(
        recorder=SimpleNamespace(days={"2026-11-01": {"a": info}, "2026-11-02": {"a": info}}),
        spec=SimpleNamespace(zone=ZoneInfo("America/New_York"), window=None),
    )
    sent = Counter({("2026-11-01T01:00:00-04:00", "a"): 40, ("2026-11-01T01:00:00-05:00", "a"): 7})
    rows = _hour_rows(run, sent)  # type: ignore[arg-type]
    first = [r for r in rows if r["t"].startswith("2026-11-01")]
    assert len(first) == 25
    assert len(rows) == 49
    assert [r["actual"] for r in first if r["t"].startswith("2026-11-01T01:00")] == [40, 7]
    assert sum(r["actual"] for r in rows) == 47


def test_an_open_day_held_down_by_the_quota_is_shown_held() -> None:
    """500 sent of a 500 quota on a day whose plan cap is 1,500: closing it would hold it (500 < 750)."""
    from orchestrator.core.progress import ProgressRules
    from orchestrator.simulation.outputs import _open_day_status

    row = {"sent": 500, "daily_cap": 500, "day_cap": 1500}
    assert _open_day_status(row, ProgressRules()) == "open_held"
    assert _open_day_status({**row, "day_cap": 1000}, ProgressRules()) == "open_advance"


def test_a_day_held_for_too_few_sends_shows_its_counts_as_the_other_reasons_do() -> None:
    """1,500, not 1500, as the provider groups' reasons write it; a value that is not a count as it is."""
    from orchestrator.simulation.timeline import _held_reason

    assert _held_reason({"sent": "740", "daily_cap": "1500"}) == "sent 740 of its daily cap 1,500, too few to advance"
    assert _held_reason({"sent": "12000"}) == "sent 12,000 of its daily cap ?, too few to advance"
    assert _held_reason({"reason": "hard_bounce above the hold line"}) == "hard_bounce above the hold line"


def test_a_multiplier_just_above_5_is_shown_as_written() -> None:
    """5.0000001 is refused as above 5, and the message shows 5.0000001, not "5 is above 5"."""
    import pytest
    from pydantic import ValidationError

    from orchestrator.core.campaign import Pool

    with pytest.raises(ValidationError, match=r"multiplier: 5\.0000001 is above 5"):
        Pool(multiplier=5.0000001)
    with pytest.raises(ValidationError, match=r"multiplier: 5\.0000000000001 is above 5"):
        Pool(multiplier=5.0000000000001)
    with pytest.raises(ValidationError, match=r"multiplier: 6 is above 5"):
        Pool(multiplier=6)


async def test_a_day_closed_only_after_a_whole_paused_day_is_shown_as_it_closed(tmp_path: Path, redis: Any) -> None:
    """12-10 sends its whole cap; the campaign is paused all of 12-11 (no tick closes 12-10); 12-12's tick
    closes it as counted. 12-10 advanced and 12-11 sent nothing on day 2 (they were shown held and advanced)."""
    spec, _ = load(write_campaign(tmp_path, 4, "p", identities=1))
    ident = spec.identities[0].id
    recorder = DayRecorder(spec)
    await identities.save_progress(redis, ident, IdentityProgress(1, None), "2026-12-10", 1000)
    await recorder.observe(redis, _at(10, 0))
    await redis.set(keys.IdentityKeys(ident).day("2026-12-10"), 1000)
    for hour in range(0, 24, 6):
        await recorder.observe(redis, _at(11, hour))
    await identities.save_progress(redis, ident, IdentityProgress(2, date(2026, 12, 10)), "2026-12-12", 1500)
    await recorder.observe(redis, _at(12, 0))
    sends = [Sent(_at(10, 1) + k, "news@d0.example.com") for k in range(1000)]
    timeline = Timeline(steps={("2026-12-10", ident): ("advanced", None)})
    got = [(r["date"], r["warmup_day"], r["sent"], r["advanced"]) for r in _day_rows(spec, recorder, sends, timeline)]
    assert got == [("2026-12-10", 1, 1000, True), ("2026-12-11", 2, 0, False), ("2026-12-12", 2, 0, False)]
