"""What `validate` says of a valid campaign file: its identities, first warm-up days, pool and CSV counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import SystemClock
from orchestrator.core.plan import Mode, identity_caps, lifted_days
from orchestrator.core.preview import minutes_on
from orchestrator.recipients import LoadStats

#: How many warm-up days the summary shows.
SUMMARY_DAYS = 5


def summarize(campaign: Campaign, header: list[str], stats: LoadStats | None = None) -> dict[str, Any]:
    """The short description `validate` prints for a valid file (with the CSV's counts when read)."""
    plan = campaign.build_plan()
    first_days = [identity_caps(plan, campaign.mode, day) for day in range(1, SUMMARY_DAYS + 1)]
    warnings = campaign_warnings(campaign)
    return {
        "name": campaign.name,
        "mode": campaign.mode.value,
        "timezone": campaign.timezone,
        "start": campaign.start.isoformat() if campaign.start else None,
        "sending_window": campaign.sending_window,
        "identities": [
            {
                "id": i.id,
                "from": i.from_,
                "warmup_day": i.warmup_day,
                "daily_quota": i.daily_quota,
                "account": i.account,
            }
            for i in campaign.identities
        ],
        "pool_multiplier": campaign.pool.multiplier,
        "plan_first_days": [
            {"warmup_day": day, "daily_cap": caps.daily, "hourly_cap": caps.hourly}
            for day, caps in enumerate(first_days, start=1)
        ],
        "recipients": {
            "file": str(campaign.recipients.file),
            "email_column": campaign.recipients.email_column,
            "columns": header,
            **({} if stats is None else _counts(stats)),
        },
        "warnings": warnings,
    }


def campaign_warnings(campaign: Campaign) -> list[str]:
    """What a valid campaign file is warned of wherever it is read: `validate`, `submit`, `plan`, `simulate`."""
    warnings: list[str] = []
    if campaign.mode is Mode.SKIP_WARMUP:
        warnings.append(
            "mode skip-warmup sends without a ramp: not recommended; use it only for high-open "
            "sign-up mail at or under 10,000 a day"
        )
    return warnings + _lifted(campaign) + _stalled(campaign)


def _window_hours(campaign: Campaign) -> float:
    """How many hours a day the sending window holds (24 without one; a window may cross midnight)."""
    window = campaign.window
    if window is None:
        return 24.0
    start, end = (t.hour * 60 + t.minute for t in window)
    return ((end - start) % 1440 or 1440) / 60


def _stalled(campaign: Campaign) -> list[str]:
    """The first warm-up day whose sending window cannot hold the share of its daily cap a day must send
    to count: the warm-up would stay on it for good (a day that does not raise the caps loses nothing)."""
    if campaign.mode is not Mode.WARMUP:
        return []
    plan, hours = campaign.build_plan(), _window_hours(campaign)
    fraction = campaign.plan.advance_min_fraction
    first = min(i.warmup_day for i in campaign.identities)
    days = range(first, max(first, plan.table_days) + 2)
    # Whether some later day has other caps than this one (past the table's end the last row decides).
    changes_later, later = [False] * len(days), False
    for i in range(len(days) - 2, -1, -1):
        later = later or plan.caps(days[i + 1]) != plan.caps(days[i])
        changes_later[i] = later
    for i, day in enumerate(days[:-1]):
        caps = plan.caps(day)
        fit = min(caps.daily, int(caps.hourly * hours))
        if changes_later[i] and fit < fraction * caps.daily:
            where = f"the sending window {campaign.sending_window} ({hours:g} h)" if campaign.window else "24 hours"
            cure = "widen sending_window or raise" if campaign.window else "raise"
            longest = _longest_day_hours(campaign)
            stays = (
                f"advance past day {day} only on a day the clocks go back ({longest:g} h)"
                if longest > hours and min(caps.daily, int(caps.hourly * longest)) >= fraction * caps.daily
                else f"never advance past day {day}"
            )
            return [
                f"warm-up day {day}: at most {fit:,} a day fit in {where} at {caps.hourly:,} an hour, under "
                f"the {fraction:.0%} of its daily cap {caps.daily:,} a day must send to count, so the warm-up "
                f"would {stays}: {cure} the plan's hourly caps"
            ]
    return []


def _longest_day_hours(campaign: Campaign) -> float:
    """The most hours the sending window is open on one day of the year from the campaign's start (today
    without one): an hour more than usual on the day the clocks go back, where they do."""
    first = campaign.start or dt.datetime.fromtimestamp(SystemClock().now(), tz=campaign.zone).date()
    return max(minutes_on(campaign, first + dt.timedelta(days=k)) for k in range(366)) / 60


def _lifted(campaign: Campaign) -> list[str]:
    """A warning per plan row whose caps go down: the plan lifts such a day to the day before, so the
    identity would send more than the row says (the default table's own hourly dips are known)."""
    if not campaign.plan.rows:
        return []
    rows = [r.to_row() for r in campaign.plan.rows]
    lifted = lifted_days(rows)
    out = []
    for n, row in enumerate(rows):
        mine = [x for x in lifted if row.first <= x[0] <= row.last]
        if mine:
            day, what, written, used = mine[0]
            more = f" (and {len(mine) - 1} more cap(s) of the row)" if len(mine) > 1 else ""
            out.append(
                f"plan.rows[{n}]: day {day}'s {what} cap {written:,} is below the day before, so it is raised to "
                f"{used:,}{more}: a day is never below the day before; raise the row, or lower the rows before it"
            )
    return out


def _counts(stats: LoadStats) -> dict[str, Any]:
    """The CSV's counts as submit would report them (suppression aside: it needs the stored lists), with
    why rows are invalid (reason -> rows) and the first few of them (`line N: reason`)."""
    return {
        "total": stats.total,
        "valid": stats.valid,
        "invalid": stats.invalid,
        "duplicates": stats.duplicates,
        "invalid_reasons": dict(stats.invalid_reasons.most_common()),
        "invalid_examples": list(stats.invalid_examples[:5]),
    }
