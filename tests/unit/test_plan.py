"""The warm-up plan (orchestrator/core/plan.py) and its day-by-day preview (orchestrator/core/preview.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.core.budget import day_caps
from orchestrator.core.campaign import Campaign
from orchestrator.core.plan import (
    CAP_LIMIT,
    DEFAULT_ROWS,
    AfterTable,
    Caps,
    Mode,
    Plan,
    PlanRow,
    allocate_pool,
    fair_shares,
    identity_caps,
    pool_ceiling,
)
from orchestrator.core.preview import preview_json, preview_plan, reach_day, window_minutes

#: spec/warmup.md section 2, days 1..35 as (daily cap, hourly cap).
DEFAULT_TABLE = [
    (1000, 200),
    (1500, 200),
    (2000, 400),
    (3000, 400),
    (4500, 500),
    (6000, 500),
    (6500, 625),
    (7000, 750),
    (7500, 875),
    (8000, 1000),
    (8000, 1000),
    (8500, 1100),
    (9000, 1400),
    (9500, 1700),
    (10000, 2000),
    (10000, 2000),
    (11250, 2000),
    (12500, 2000),
    (13750, 2500),
    (15000, 3000),
    (15000, 3000),
    (16111, 3222),
    (17222, 3444),
    (18333, 3666),
    (19444, 3888),
    (20555, 4111),
    (21666, 4333),
    (22777, 4555),
    (23888, 4777),
    (25000, 5000),
    (50000, 10000),
    (100000, 20000),
    (200000, 40000),
    (400000, 80000),
    (800000, 160000),
]


def _pair(caps: Caps) -> tuple[int, int]:
    return caps.daily, caps.hourly


def _caps(plan: Plan, days: range) -> list[tuple[int, int]]:
    return [_pair(plan.caps(day)) for day in days]


def test_default_plan_matches_the_spec_table() -> None:
    """Days 1..35 of the default plan are exactly the daily and hourly caps of spec section 2."""
    assert _caps(Plan(), range(1, 36)) == DEFAULT_TABLE


def test_default_plan_has_thirty_table_days() -> None:
    """The seed table covers 30 warm-up days; doubling starts on day 31."""
    assert Plan().table_days == 30


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [PlanRow(1, 1, 100, 100, 10, 10), PlanRow(2, 4, 200, 500, 20, 50)],
            [(100, 10), (200, 20), (350, 35), (500, 50)],
            id="linear-ramp-floored",
        ),
        pytest.param(
            [PlanRow(1, 2, 300, 300, 50, 50), PlanRow(3, 3, 100, 100, 10, 10)],
            [(300, 50), (300, 50), (300, 50)],
            id="a-lower-row-holds-the-day-before",
        ),
        pytest.param(
            [PlanRow(1, 1, 50, 50, 80, 80), PlanRow(2, 3, 90, 100, 40, 10)],
            [(50, 50), (90, 80), (100, 80)],
            id="hourly-never-above-daily-and-never-down",
        ),
    ],
)
def test_custom_table_ramps_floors_and_never_drops(rows: list[PlanRow], expected: list[tuple[int, int]]) -> None:
    """A custom table ramps each range linearly, floors, and never goes below the day before."""
    plan = Plan(rows, AfterTable.HOLD)
    assert _caps(plan, range(1, len(expected) + 1)) == expected


@pytest.mark.parametrize(
    ("after_table", "expected"),
    [
        pytest.param(AfterTable.HOLD, [(200, 20), (200, 20), (200, 20)], id="hold"),
        pytest.param(AfterTable.DOUBLE, [(200, 20), (400, 40), (800, 80)], id="double"),
    ],
)
def test_after_table_holds_or_doubles(after_table: AfterTable, expected: list[tuple[int, int]]) -> None:
    """Past the last row the caps stay put (hold) or double every day (double)."""
    plan = Plan([PlanRow(1, 2, 100, 200, 10, 20)], after_table)
    assert _caps(plan, range(2, 5)) == expected


def test_doubling_stops_at_the_cap_limit() -> None:
    """Doubling far past the table never exceeds CAP_LIMIT, even on absurd days."""
    assert Plan().caps(10_000) == Caps(CAP_LIMIT, CAP_LIMIT)


@pytest.mark.parametrize(
    ("scale", "target_daily", "day", "expected"),
    [
        pytest.param(0.5, None, 1, Caps(500, 100), id="half"),
        pytest.param(0.57, None, 3, Caps(1140, 228), id="decimal-scale-is-exact"),
        pytest.param(1.0, 2500, 30, Caps(2500, 2500), id="target-stops-the-ramp"),
        pytest.param(1.0, 150, 1, Caps(150, 150), id="target-below-hourly-caps-hourly"),
        pytest.param(0.5, 4000, 30, Caps(4000, 2500), id="scale-then-target"),
        pytest.param(0.0001, None, 1, Caps(1, 1), id="never-below-one"),
    ],
)
def test_plan_caps_apply_scale_and_target(scale: float, target_daily: int | None, day: int, expected: Caps) -> None:
    """`scale` multiplies the table (floored, at least 1) and `target_daily` stops the ramp."""
    assert Plan(scale=scale, target_daily=target_daily).caps(day) == expected


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Plan(()), id="no-rows"),
        pytest.param(lambda: Plan(scale=0), id="scale-zero"),
        pytest.param(lambda: Plan(scale=1.5), id="scale-above-one"),
        pytest.param(lambda: Plan().caps(0), id="day-zero"),
    ],
)
def test_plan_refuses_nonsense(make: Any) -> None:
    """A plan without rows, a scale outside (0, 1] or a warm-up day below 1 is a ValueError."""
    with pytest.raises(ValueError, match=r"."):
        make()


@pytest.mark.parametrize(
    ("mode", "target_daily", "quota", "day", "expected"),
    [
        pytest.param(Mode.WARMUP, None, None, 3, Caps(2000, 400), id="warmup-follows-the-table"),
        pytest.param(Mode.TRANSACTIONAL, None, None, 3, Caps(2000, 400), id="transactional-same-ceiling"),
        pytest.param(Mode.SHARED, None, None, 1, Caps(CAP_LIMIT, CAP_LIMIT), id="shared-has-no-ramp"),
        pytest.param(Mode.SHARED, 50_000, None, 1, Caps(50_000, 50_000), id="shared-stops-at-target"),
        pytest.param(Mode.SKIP_WARMUP, None, None, 1, Caps(10_000, 10_000), id="skip-warmup-at-10000"),
        pytest.param(Mode.SKIP_WARMUP, 20_000, None, 1, Caps(10_000, 10_000), id="skip-warmup-never-above"),
        pytest.param(Mode.SKIP_WARMUP, 3000, None, 1, Caps(3000, 3000), id="skip-warmup-lower-target"),
        pytest.param(Mode.WARMUP, None, 500, 1, Caps(500, 200), id="quota-cuts-daily"),
        pytest.param(Mode.WARMUP, None, 150, 1, Caps(150, 150), id="quota-cuts-hourly-too"),
        pytest.param(Mode.SHARED, None, 800, 1, Caps(800, 800), id="quota-binds-shared"),
    ],
)
def test_identity_caps_per_mode(
    mode: Mode, target_daily: int | None, quota: int | None, day: int, expected: Caps
) -> None:
    """Each mode of spec section 6 gives its caps; Tencent's daily quota is an extra ceiling."""
    assert identity_caps(Plan(target_daily=target_daily), mode, day, quota) == expected


def _campaign(**overrides: Any) -> Campaign:
    data: dict[str, Any] = {
        "name": "t",
        "identities": [{"id": "a", "from": "a@a.example.com"}],
        "template": {"id": 1, "subject": "Hello"},
        "recipients": {"file": "r.csv"},
    }
    data.update(overrides)
    return Campaign.model_validate(data)


@pytest.mark.parametrize(
    ("target_daily", "accepted"),
    [
        pytest.param(None, True, id="no-target"),
        pytest.param(10_000, True, id="at-the-limit"),
        pytest.param(10_001, False, id="above-the-limit"),
    ],
)
def test_campaign_refuses_skip_warmup_above_10000(target_daily: int | None, accepted: bool) -> None:
    """mode skip-warmup is accepted only at or under 10,000 a day (spec section 6)."""
    plan = {"target_daily": target_daily}
    if accepted:
        assert _campaign(mode="skip-warmup", content="signup", plan=plan).mode is Mode.SKIP_WARMUP
    else:
        with pytest.raises(ValidationError, match="skip-warmup is allowed only at or under 10,000"):
            _campaign(mode="skip-warmup", content="signup", plan=plan)


def test_campaign_refuses_skip_warmup_for_marketing_mail() -> None:
    """skip-warmup is for high-open sign-up mail only (spec section 6): marketing content is refused."""
    with pytest.raises(ValidationError, match=r"skip-warmup is allowed only for high-open sign-up mail"):
        _campaign(mode="skip-warmup")
    with pytest.raises(ValidationError, match="content is marketing"):
        _campaign(mode="skip-warmup", content="marketing")


def test_skip_warmup_pool_stays_at_10000_a_day_however_many_identities() -> None:
    """Three identities in skip-warmup share 10,000 a day between them, never 30,000."""
    alloc = allocate_pool(Plan(), Mode.SKIP_WARMUP, [1] * 3, [None] * 3, 5)
    assert alloc.pool.daily == 10_000
    assert sum(c.daily for c in alloc.identities) == 10_000
    shared = allocate_pool(Plan(), Mode.SHARED, [1] * 3, [None] * 3, 5)
    assert shared.pool.daily == 3 * shared.identities[0].daily


@pytest.mark.parametrize(
    ("ceiling", "demands", "rotate", "expected"),
    [
        pytest.param(100, [10, 20], 0, [10, 20], id="not-binding"),
        pytest.param(30, [20, 20, 20], 0, [10, 10, 10], id="even-split"),
        pytest.param(40, [5, 100, 100], 0, [5, 18, 17], id="max-min-small-demand-served"),
        pytest.param(10, [9, 9, 9], 0, [4, 3, 3], id="remainder-first"),
        pytest.param(10, [9, 9, 9], 1, [3, 4, 3], id="remainder-rotates"),
        pytest.param(2, [9, 9, 9], 2, [1, 0, 1], id="fewer-units-than-identities"),
        pytest.param(0, [9, 9], 0, [0, 0], id="zero-ceiling"),
        pytest.param(5, [], 0, [], id="nobody"),
        pytest.param(6, [0, 9, 9], 0, [0, 3, 3], id="idle-identity-gets-nothing"),
    ],
)
def test_fair_shares_split_the_ceiling(ceiling: int, demands: list[int], rotate: int, expected: list[int]) -> None:
    """The ceiling is split max-min fairly; the uneven remainder rotates between identities."""
    assert fair_shares(ceiling, demands, rotate) == expected


def test_pool_ceiling_is_multiplier_times_the_most_advanced_day() -> None:
    """The ceiling is multiplier x plan(day) of the identity furthest along."""
    assert pool_ceiling(Plan(), [1, 3, 2], 5) == Caps(10_000, 2000)
    assert pool_ceiling(Plan(), [1], 2.5) == Caps(2500, 500)


def test_allocate_pool_shares_a_binding_ceiling_fairly() -> None:
    """Six identities on day 1 exceed 5x the plan: each gets a fair share and the pool equals the ceiling."""
    alloc = allocate_pool(Plan(), Mode.WARMUP, [1] * 6, [None] * 6, 5)
    assert alloc.ceiling == Caps(5000, 1000)
    assert [c.daily for c in alloc.identities] == [834, 834, 833, 833, 833, 833]
    assert [c.hourly for c in alloc.identities] == [167, 167, 167, 167, 166, 166]
    assert alloc.pool == Caps(5000, 1000)


def test_allocate_pool_below_the_ceiling_keeps_own_caps() -> None:
    """Two identities under the ceiling keep their own caps, quota included; the pool is their sum."""
    alloc = allocate_pool(Plan(), Mode.WARMUP, [1, 1], [500, None], 5)
    assert alloc.identities == (Caps(500, 200), Caps(1000, 200))
    assert alloc.pool == Caps(1500, 400)


def test_allocate_pool_shared_mode_is_the_sum_of_identities() -> None:
    """Without a ramp (shared) there is no plan to multiply: the pool is the sum of its identities."""
    alloc = allocate_pool(Plan(), Mode.SHARED, [1, 1], [700, 300], 5)
    assert alloc.pool == Caps(1000, 1000)


# --- the preview ----------------------------------------------------------------------------


def test_preview_of_the_example_pair_first_days() -> None:
    """Each preview day advances an identity one warm-up day after a full day, quota and plan applied; a
    quota of 500 a day counts day 1 (plan 1,000) and holds day 2 (plan 1,500: 500 is under half)."""
    campaign = _campaign(
        identities=[
            {"id": "news-a", "from": "a@a.example.com", "daily_quota": 500},
            {"id": "news-b", "from": "b@b.example.com"},
        ]
    )
    preview = preview_plan(campaign, dt.date(2026, 12, 1), 3)
    assert [
        (d.day, d.date.isoformat(), {k: (v.warmup_day, *_pair(v.caps)) for k, v in d.identities.items()})
        for d in preview
    ] == [
        (1, "2026-12-01", {"news-a": (1, 500, 200), "news-b": (1, 1000, 200)}),
        (2, "2026-12-02", {"news-a": (2, 500, 200), "news-b": (2, 1500, 200)}),
        (3, "2026-12-03", {"news-a": (2, 500, 200), "news-b": (3, 2000, 400)}),
    ]
    assert [(d.pool.daily, d.pool.hourly, d.cumulative) for d in preview] == [
        (1500, 400, 1500),
        (2000, 400, 3500),
        (2500, 600, 6000),
    ]


def test_preview_starts_each_identity_at_its_own_warmup_day() -> None:
    """An identity that is already warm continues its own counter; the pool uses the furthest day."""
    campaign = _campaign(
        identities=[
            {"id": "old", "from": "a@a.example.com", "warmup_day": 10},
            {"id": "new", "from": "b@b.example.com"},
        ]
    )
    day1 = preview_plan(campaign, dt.date(2026, 1, 1), 1)[0]
    assert (day1.identities["old"].warmup_day, day1.identities["new"].warmup_day) == (10, 1)
    assert day1.pool == Caps(9000, 1200)


def test_preview_shows_fair_shares_when_the_pool_binds() -> None:
    """Seven identities with multiplier 5 on day 1: the shares sum to 5x the plan."""
    identities = [{"id": f"i{n}", "from": f"x@d{n}.example.com"} for n in range(7)]
    day1 = preview_plan(_campaign(identities=identities), dt.date(2026, 1, 1), 1)[0]
    assert sorted(i.caps.daily for i in day1.identities.values()) == [714, 714, 714, 714, 714, 715, 715]
    assert day1.pool == Caps(5000, 1000)


@pytest.mark.parametrize(
    ("window", "minutes"),
    [
        pytest.param(None, 1440, id="no-window"),
        pytest.param((dt.time(8), dt.time(22)), 840, id="day-window"),
        pytest.param((dt.time(22), dt.time(6)), 480, id="wraps-midnight"),
        pytest.param((dt.time(8, 30), dt.time(0)), 930, id="until-midnight"),
    ],
)
def test_window_minutes(window: tuple[dt.time, dt.time] | None, minutes: int) -> None:
    """The sending window's length in minutes, wrapping midnight."""
    assert window_minutes(window) == minutes


def test_preview_capacity_is_limited_by_a_short_window() -> None:
    """With a 2-hour window the day's capacity is 2 x the hourly cap when that is below the daily cap."""
    day1 = preview_plan(_campaign(sending_window="09:00-11:00"), dt.date(2026, 1, 1), 1)[0]
    assert (day1.pool, day1.capacity) == (Caps(1000, 200), 400)


def test_reach_day_is_the_first_day_with_enough_capacity() -> None:
    """The recipients are reached on the first day whose cumulative capacity covers them."""
    preview = preview_plan(_campaign(), dt.date(2026, 1, 1), 5)
    reached = [reach_day(preview, n) for n in (1, 1000, 1001, 12_000, 12_001, 0)]
    assert [d.day if d else None for d in reached] == [1, 1, 2, 5, None, None]


def test_preview_json_shape() -> None:
    """The JSON form holds the campaign name and, per day, the identities' and the pool's caps."""
    preview = preview_plan(_campaign(), dt.date(2026, 1, 1), 1)
    assert preview_json("t", preview) == {
        "campaign": "t",
        "days": [
            {
                "day": 1,
                "date": "2026-01-01",
                "identities": {"a": {"warmup_day": 1, "daily_cap": 1000, "hourly_cap": 200}},
                "pool": {"daily_cap": 1000, "hourly_cap": 200},
            }
        ],
    }


def test_default_rows_cover_days_one_to_thirty() -> None:
    """The default rows are contiguous from day 1 to day 30."""
    days = [day for row in DEFAULT_ROWS for day in range(row.first, row.last + 1)]
    assert days == list(range(1, 31))


def test_a_stored_skip_warmup_marketing_campaign_stays_readable() -> None:
    """Submitted by an older release: read back from Redis, it is not refused (its pool keeps to 10,000)."""
    from orchestrator.core.strict import STORED

    data = {
        "name": "t",
        "mode": "skip-warmup",
        "identities": [{"id": "a", "from": "a@a.example.com"}],
        "template": {"id": 1, "subject": "Hello"},
        "recipients": {"file": "r.csv"},
    }
    assert Campaign.model_validate(data, context={STORED: True}).mode is Mode.SKIP_WARMUP


def test_a_stored_plan_beyond_todays_bounds_stays_readable_and_is_clamped() -> None:
    """Rows past day 1,000 or caps above 1,000,000,000 were accepted by older releases: read back from
    Redis such a campaign is not refused (its running campaign would stop), and its caps are clamped to
    what can be stored; the same file is refused today."""
    from orchestrator.core.strict import STORED

    data = {
        "name": "t",
        "identities": [{"id": "a", "from": "a@a.example.com"}],
        "template": {"id": 1, "subject": "Hello"},
        "recipients": {"file": "r.csv"},
        "plan": {
            "rows": [{"days": "1", "daily": 10**30, "hourly": 100}, {"days": "2-1500", "daily": 500, "hourly": 50}]
        },
    }
    with pytest.raises(ValidationError):
        Campaign.model_validate(data)
    stored = Campaign.model_validate(data, context={STORED: True})
    assert stored.build_plan().caps(1) == Caps(CAP_LIMIT, 100)
    assert stored.build_plan().caps(1200).daily == CAP_LIMIT  # never below the day before: day 1's
    shared = {**data, "mode": "shared", "plan": {"target_daily": 10**30}}
    with pytest.raises(ValidationError, match="at most 1,000,000,000"):
        Campaign.model_validate(shared)
    kept = Campaign.model_validate(shared, context={STORED: True})
    assert identity_caps(kept.build_plan(), Mode.SHARED, 1).daily == CAP_LIMIT


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"template": {"id": 1, "subject": "Hello", "unsubscribe": "en"}}, id="unsubscribe-name"),
        pytest.param({"start": "2026-12-01", "simulation": {"start": "2026-11-20"}}, id="simulation-before-start"),
        pytest.param({"pool": {"multiplier": 0.001}}, id="tiny-multiplier"),
        pytest.param({"timezone": "localtime"}, id="host-zone"),
        pytest.param({"retry": {"max_delay_s": 1e12}}, id="retry-delay-of-ages"),
    ],
)
def test_rules_added_since_refuse_a_file_but_not_a_campaign_already_stored(change: dict[str, Any]) -> None:
    """Each rule new in this release refuses a campaign file, but a campaign an older release stored with such
    a value stays readable (else a running campaign stops, and cannot even be cancelled)."""
    from orchestrator.core.strict import STORED

    data: dict[str, Any] = {
        "name": "t",
        "identities": [{"id": "a", "from": "a@a.example.com"}],
        "template": {"id": 1, "subject": "Hello"},
        "recipients": {"file": "r.csv"},
        **change,
    }
    with pytest.raises(ValidationError):
        Campaign.model_validate(data)
    assert Campaign.model_validate(data, context={STORED: True}).name == "t"


def test_preview_hands_the_odd_units_to_the_identities_the_pacer_gives_them() -> None:
    """Seven identities on day 1 share an uneven 5x ceiling: on each of several days the preview gives every
    identity exactly the share the pacer's budget gives it at noon that day (the odd units rotate by date)."""
    identities = [{"id": f"i{n}", "from": f"x@d{n}.example.com"} for n in range(7)]
    plan = {"rows": [{"days": "1-30", "daily": 1000, "hourly": 200}]}  # a flat plan: every day binds alike
    campaign = _campaign(identities=identities, plan=plan, timezone="UTC")
    start = dt.date(2026, 12, 1)
    for day in preview_plan(campaign, start, 5):
        noon = dt.datetime.combine(day.date, dt.time(12), tzinfo=dt.UTC).timestamp()
        pacer = day_caps(campaign, {}, noon)
        preview = [day.identities[i.id].caps for i in campaign.identities]
        assert preview == list(pacer.identities), day.date
        assert sorted(c.daily for c in preview) == [714, 714, 714, 714, 714, 715, 715]


def test_the_same_identities_listed_in_another_order_get_the_same_shares() -> None:
    """Two campaigns pacing the same six identities, one listing them reversed: each identity's share is the
    same in both every day, so together they never pass the pool's ceiling (the odd units follow the ids)."""
    identities = [{"id": f"p{n}", "from": f"x@d{n}.example.com"} for n in range(6)]
    plan = {"rows": [{"days": "1-30", "daily": 3600, "hourly": 3600}]}
    pool = {"multiplier": 0.001945}  # a ceiling of 7 a day: 6 identities, one odd unit
    forward = _campaign(identities=identities, plan=plan, pool=pool, timezone="UTC")
    backward = _campaign(identities=identities[::-1], plan=plan, pool=pool, timezone="UTC")
    for day in range(1, 8):
        noon = dt.datetime(2026, 12, day, 12, tzinfo=dt.UTC).timestamp()
        shares = [
            {i.id: c.daily for i, c in zip(spec.identities, day_caps(spec, {}, noon).identities, strict=True)}
            for spec in (forward, backward)
        ]
        assert shares[0] == shares[1], day
        assert sum(shares[0].values()) == 7
    for spec in (forward, backward):  # the preview splits as the pacer does
        [first] = preview_plan(spec, dt.date(2026, 12, 1), 1)
        noon = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).timestamp()
        pacer = day_caps(spec, {}, noon).identities
        assert [first.identities[i.id].caps for i in spec.identities] == list(pacer)
