"""`status` says when nothing is being sent because no pacer ticks (its 'next send' would say "now")."""

from __future__ import annotations

from rich.console import Console

from orchestrator.commands.status import render_status
from orchestrator.control import pause_campaign
from orchestrator.status import PACER_STALE_S, campaign_status
from orchestrator.store import keys
from orchestrator.web.page import campaign_section
from tests.pipeline_harness import Pipeline


def _text(st: object) -> str:
    console = Console(width=200, record=True)
    console.print(render_status(st))  # type: ignore[arg-type]
    return console.export_text()


async def test_a_running_campaign_without_a_ticking_pacer_is_shown_stalled(pipe: Pipeline) -> None:
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(3)))
    now = pipe.clock.now()
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert (st.pacer_stalled, st.pacer_tick_age_s) == (True, None)
    assert "no pacer has ever ticked: nothing is being sent" in _text(st)

    await pipe.redis.set(keys.PACER_TICK, repr(now - 5))
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert (st.pacer_stalled, st.pacer_tick_age_s) == (False, 5.0)
    assert "no pacer" not in _text(st)

    await pipe.redis.set(keys.PACER_TICK, repr(now - PACER_STALE_S - 70))
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert st.pacer_stalled
    assert st.as_json()["pacer_tick_age_s"] == PACER_STALE_S + 70
    assert f"no pacer has ticked for {PACER_STALE_S + 70:.0f} s" in _text(st)

    await pause_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=0)
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert not st.pacer_stalled  # a paused campaign is not waiting for the pacer


def test_a_slow_pacer_interval_stretches_the_stalled_threshold() -> None:
    from orchestrator.status import stale_after

    assert stale_after(1.0) == PACER_STALE_S
    assert stale_after(40.0) == 120.0  # a pacer ticking every 40 s is not stalled at 35 s


async def test_the_eta_counts_the_hourly_cap_and_ends_with_the_campaign(pipe: Pipeline) -> None:
    """600 a day but 10 an hour: 299 left at 23:54 take until the day after tomorrow, as `plan` counts;
    a cancelled campaign has no ETA."""
    from orchestrator.control import cancel_campaign

    slow = {"plan": {"rows": [{"days": "1-2", "daily": 600, "hourly": 10}]}}
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(299)), extra=slow)
    now = pipe.clock.now() + 23 * 3600 + 54 * 60  # 2026-12-01 23:54 UTC, the campaign's time zone
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert st.pool_daily_cap == 600
    # today: 6 minutes at 10 an hour is 1; then 240 on the 2nd, and the last 58 on the 3rd.
    assert st.estimated_completion == "2026-12-03"
    await cancel_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=0)
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert st.estimated_completion is None


async def test_the_eta_counts_what_each_identity_can_send_not_the_pool(pipe: Pipeline) -> None:
    """Two identities at 10 an hour, one of them having sent its 240 of today: the pool (480 a day, 20 an
    hour) said 20 an hour were left today; only the other identity can send, 10 an hour. At 12:00 UTC, 12
    hours left: 120 today, then 480 a day: 700 take until the 3rd (the pool's 240 today said the 2nd)."""
    slow = {"plan": {"rows": [{"days": "1-5", "daily": 240, "hourly": 10}]}}
    rows = "".join(f"u{n}@d{n % 2}.example.com,U{n}\n" for n in range(700))
    await pipe.submit("email,first_name\n" + rows, identities=2, extra=slow)
    now = pipe.clock.now() + 12 * 3600  # 2026-12-01 12:00 in the campaign's time zone
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    full = st.identities[0].id
    await pipe.redis.set(keys.IdentityKeys(full).day(st.local_date), 240)  # its day is sent
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert (st.pool_daily_cap, st.pool_hourly_cap) == (480, 20)
    assert st.estimated_completion == "2026-12-03"


async def test_next_send_is_tomorrows_window_once_the_day_cap_is_used(pipe: Pipeline) -> None:
    """An identity whose day's cap is sent says its next send is tomorrow's window opening, not "now" (the
    cap of the day, not its pacing slot, is what holds it back)."""
    from datetime import datetime

    window = {"sending_window": "09:00-18:00", "plan": {"rows": [{"days": "1-2", "daily": 5, "hourly": 5}]}}
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(9)), extra=window)
    now = pipe.clock.now() + 12 * 3600  # 2026-12-01 12:00 UTC, inside the window
    ident = "t-id0"  # write_campaign's first identity
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert datetime.fromisoformat(st.identities[0].next_slot or "").timestamp() == now
    await pipe.redis.set(keys.IdentityKeys(ident).day("2026-12-01"), 5)
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert st.identities[0].next_slot == "2026-12-02T09:00:00+00:00"


async def test_status_and_resume_show_the_day_the_next_tick_paces_after_closing_the_open_one(pipe: Pipeline) -> None:
    """An identity's day of 2026-12-01 (day 10, its whole cap sent) is still open on the 2nd at 03:00, the
    window not yet open: status shows day 11, what the pacer's roll will make it. Paused until the 8th,
    resume shows day 8 (day 11 less the idle days past the grace), and the pacer then sends at day 8."""
    from orchestrator.control import pause_campaign, resume_campaign
    from orchestrator.core.budget import budget_now
    from orchestrator.store import identities

    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(9)),
                      extra={"sending_window": "09:00-18:00"})  # fmt: skip
    ident, start = "t-id0", pipe.clock.now()  # 2026-12-01 00:00 UTC
    cap = 8000  # the default plan's day 10
    await pipe.redis.hset(
        keys.IdentityKeys(ident).meta,
        mapping={"warmup_day": 10, "last_sending_date": "2026-11-30", "open_date": "2026-12-01", "open_cap": cap},
    )
    await pipe.redis.set(keys.IdentityKeys(ident).day("2026-12-01"), cap)
    st = await campaign_status(pipe.redis, pipe.cid, start + 27 * 3600)
    assert st is not None
    assert st.identities[0].warmup_day == 11
    await pause_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=0)
    pipe.clock.set(start + 7 * 86400 + 9 * 3600)  # 2026-12-08 09:00, the window open
    resumed = await resume_campaign(pipe.redis, pipe.cid, pipe.clock, "", "operator")
    assert isinstance(resumed, dict)
    assert resumed["identities"][0]["warmup_day"] == 8
    await pipe.run(60)
    state = await identities.load(pipe.redis, ident)
    assert state is not None
    assert (state.progress.warmup_day, state.progress.last_sending_date.isoformat()) == (11, "2026-12-01")
    _, days, _ = budget_now((await pipe.record()).spec, {ident: state}, pipe.clock.now())
    assert days == [8]


async def test_the_rows_submit_dropped_as_suppressed_are_shown_beside_the_claim_time_count(pipe: Pipeline) -> None:
    """`total` counts the loaded recipients; the rows submit dropped as suppressed follow the count, not in it."""
    from orchestrator.store import suppression
    from orchestrator.store.suppression import Entry

    now = pipe.clock.now()
    await suppression.put(pipe.redis, [Entry("u1@d0.example.com", "", "asked", now - 60, "operator")], now)
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(3)))
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    assert (st.progress["total"], st.progress["suppressed"], st.submit["suppressed"]) == (2, 0, 1)
    assert "accepted 0 of 2 (0.0%)" in _text(st)
    assert "suppressed 0 (+1 at submit)  in doubt 0" in _text(st)


async def test_a_paused_campaigns_eta_says_it_holds_if_resumed_now(pipe: Pipeline) -> None:
    """Paused, by hand or by itself, nothing is sent: the eta is what a resume now would give, and says so."""
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(3)))
    st = await campaign_status(pipe.redis, pipe.cid, pipe.clock.now())
    assert st is not None
    assert " eta 2026-12-01" in _text(st)
    await pause_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=0)
    st = await campaign_status(pipe.redis, pipe.cid, pipe.clock.now())
    assert st is not None
    assert st.estimated_completion == "2026-12-01"
    assert " eta if resumed now 2026-12-01" in _text(st)
    assert "estimated completion if resumed now 2026-12-01" in campaign_section(0, st.as_json())


async def test_status_names_the_account_of_an_identity_not_on_the_default_one(pipe: Pipeline) -> None:
    """A campaign over two accounts: which identity sends with which key pair (a wrong key pauses it)."""
    two = [
        {"id": "news-a", "from": "News <news@d0.example.com>"},
        {"id": "news-b", "from": "News <news@d1.example.com>", "account": "marketing"},
    ]
    await pipe.submit("email,first_name\nu1@gmail.com,U\n", extra={"identities": two})
    st = await campaign_status(pipe.redis, pipe.cid, pipe.clock.now())
    assert st is not None
    assert [i["account"] for i in st.as_json()["identities"]] == ["default", "marketing"]
    text = _text(st)
    assert "news-b (marketing)" in text
    assert "news-a (default)" not in text
