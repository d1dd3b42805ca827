"""Per-domain shaping end to end: each provider group's own caps and its backoff after a temporary block.

The real pacer, Lua limiter and arq send job on a virtual clock, with the official SDK talking over
HTTP to the SES emulator, which answers `FailedOperation.TemporaryBlocked` by a fault rule.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.domain_shaping import BLOCK_S, DEFERRAL_BURST, DEFERRAL_BURST_REASON, STEP_S, GroupState
from orchestrator.ses.emulator import Behaviour, FaultRule
from orchestrator.status import campaign_status
from orchestrator.store import events, group_state, identities, keys
from tests.callback_drive import drive
from tests.pipeline_harness import START, Pipeline
from tests.pipeline_helpers import max_in_rolling_window

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

IDENTITY = "t-id0"


def two_domains(n: int) -> str:
    """`n` recipients at gmail.com and `n` at naver.com, interleaved."""
    rows = [f"user{i}@{'gmail.com' if i % 2 else 'naver.com'},Name{i}" for i in range(2 * n)]
    return "email,first_name\n" + "\n".join(rows) + "\n"


def campaign(warmup_day: int, from_day: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "identities": [{"id": IDENTITY, "from": "News <news@d0.example.com>", "warmup_day": warmup_day}],
        "plan": {"rows": rows},
        "shaping": {"max_domain_share": 1.0, "per_domain_from_day": from_day, "per_domain_from_daily": 10**6},
    }


def assert_none_sent_twice(pipe: Pipeline) -> None:
    """The emulator accepted no recipient twice (the run stops before every recipient is sent)."""
    assert max(Counter(r.to_address for r in pipe.emu.send_log).values()) == 1


async def status_groups(pipe: Pipeline, now: float) -> list[tuple[str, str, float | None]]:
    """The groups `status --json` shows held or throttled for the identity at `now`."""
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    [ident] = st.as_json()["identities"]
    return [
        (g["group"], g["reason"], datetime.fromisoformat(g["until"]).timestamp() if g["until"] else None)
        for g in ident["groups"]
    ]


def count(times: list[float], start: float, end: float) -> int:
    return len([t for t in times if start <= t < end])


async def test_temporary_block_backs_the_group_off_then_restores_it_step_by_step(pipe: Pipeline) -> None:
    """After TemporaryBlocked: no gmail for 10 min, then 1/4, 1/2, 3/4 of its rate, while naver fills the hour."""
    await pipe.submit(two_domains(300), extra=campaign(1, 1, [{"days": "1", "daily": 100000, "hourly": 120}]))
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.TemporaryBlocked", count=1, recipient_domain="gmail.com")
    )
    await pipe.run(BLOCK_S + 3 * STEP_S + 1200)
    [refusal] = [r for r in pipe.emu.service.status_log if r.send_status == 3008]
    t0 = refusal.request_time
    gmail = [r.time for r in pipe.emu.send_log if r.to_address.endswith("@gmail.com") and r.time > t0]
    every = [r.time for r in pipe.emu.send_log if r.time > t0]
    assert count(gmail, t0, t0 + BLOCK_S) == 0
    steps = [t0 + BLOCK_S + STEP_S * k for k in range(4)]
    # 120 an hour is 60 per step: a quarter, a half, three quarters of it (+1 for the step's edge).
    got = [count(gmail, a, b) for a, b in pairwise(steps)]
    for n, share in zip(got, (0.25, 0.5, 0.75), strict=True):
        assert 60 * share - 2 <= n <= 60 * share + 1, got
    for a, b in pairwise(steps):
        assert count(every, a, b) >= 58  # the identity's hour stays full with naver
    stored = (await group_state.load(pipe.redis, IDENTITY))["google"]
    assert stored.blocked_at == t0
    assert stored.reason == "FailedOperation.TemporaryBlocked"
    assert await status_groups(pipe, t0 + 60) == [
        ("google", "held after FailedOperation.TemporaryBlocked", t0 + BLOCK_S)
    ]
    assert await status_groups(pipe, t0 + BLOCK_S + STEP_S + 5) == [
        ("google", "backing off at 50% after FailedOperation.TemporaryBlocked", steps[2])
    ]
    assert await status_groups(pipe, steps[3] + 1) == []
    [backoff] = [e for e in await events.read(pipe.redis, pipe.cid, count=100000) if e.type == "domain_backoff"]
    assert (backoff.t, backoff.identity, backoff.data["group"]) == (t0, IDENTITY, "google")
    assert (float(backoff.data["held_until"]), float(backoff.data["until"])) == (t0 + BLOCK_S, steps[3])
    assert_none_sent_twice(pipe)


@pytest.mark.parametrize(
    ("from_day", "gmail_max", "shown"),
    [
        pytest.param(3, 41, [("google", "its own warm-up day 1", None)], id="shaping-on-own-day-caps"),
        pytest.param(4, 150, [], id="before-from-day-unchanged"),
    ],
)
async def test_group_whose_day_lags_is_held_to_its_own_caps(
    pipe: Pipeline, from_day: int, gmail_max: int, shown: list[tuple[str, str, float | None]]
) -> None:
    """Identity at day 3 (360/h), gmail's own day 1 (40/h): 40 gmail in the hour once shaping is on, all before."""
    rows = [{"days": "1-2", "daily": 100000, "hourly": 40}, {"days": "3-4", "daily": 100000, "hourly": 360}]
    await pipe.submit(two_domains(150), extra=campaign(3, from_day, rows))
    await pipe.redis.hset(keys.IdentityKeys(IDENTITY).groups, "google", group_state.encode(GroupState(day=1)))
    start = pipe.clock.now()
    await pipe.run(3600)
    gmail = [r.time for r in pipe.emu.send_log if r.to_address.endswith("@gmail.com")]
    naver = [r.time for r in pipe.emu.send_log if r.to_address.endswith("@naver.com")]
    assert len(naver) == 150
    assert gmail_max - 6 <= count(gmail, start, start + 3600) <= gmail_max
    assert_none_sent_twice(pipe)
    assert await status_groups(pipe, pipe.clock.now()) == shown


async def test_day_roll_moves_each_group_on_its_own_sends(pipe: Pipeline) -> None:
    """At midnight the pacer moves gmail (over half its 100 sent) to day 2 and keeps naver (under half) at day 1."""
    rows = [{"days": "1", "daily": 100, "hourly": 100}, {"days": "2-3", "daily": 200, "hourly": 200}]
    csv_text = "email,first_name\n" + "".join(
        f"user{i}@{'naver.com' if i % 5 == 0 else 'gmail.com'},Name{i}\n" for i in range(300)
    )
    await pipe.submit(csv_text, extra=campaign(1, 1, rows))
    await pipe.run(86400 + 600)
    day_one = [r.to_address for r in pipe.emu.send_log if r.time < START + 86400]
    gmail = len([a for a in day_one if a.endswith("@gmail.com")])
    assert (len(day_one), gmail > 50, len(day_one) - gmail < 50) == (100, True, True)
    states = await group_state.load(pipe.redis, IDENTITY)
    assert {g: s.day for g, s in states.items()} == {"google": 2, "naver": 1}
    assert await status_groups(pipe, pipe.clock.now()) == [("naver", "its own warm-up day 1", None)]


async def test_a_group_whose_tries_were_refused_has_sent_nothing_that_day(pipe: Pipeline) -> None:
    """Every gmail try answered InternalError (retried, its budget given back): the provider group's count
    of the day, which its day roll reads as sent, holds only what Tencent took, like the identity's."""
    rows = [{"days": "1", "daily": 100000, "hourly": 360}]
    await pipe.submit(two_domains(100), extra=campaign(1, 1, rows))
    pipe.emu.world.faults.append(FaultRule(code="InternalError", rate=1.0, recipient_domain="gmail.com"))
    await pipe.run(1800)
    taken = Counter(r.to_address.split("@")[1] for r in pipe.emu.send_log)
    assert taken["gmail.com"] == 0
    assert taken["naver.com"] > 0
    ik = keys.IdentityKeys(IDENTITY)
    local_date = datetime.fromtimestamp(START, tz=ZoneInfo("UTC")).date().isoformat()
    counted = await pipe.redis.hgetall(ik.group_day(local_date))
    assert {g: int(n) for g, n in counted.items() if int(n)} == {"naver": taken["naver.com"]}
    assert int(await pipe.redis.get(ik.day(local_date)) or 0) == taken["naver.com"]


async def test_deferral_burst_backs_the_group_off_like_a_block(pipe: Pipeline) -> None:
    """gmail defers every mail: after the burst no gmail for 10 min, then 1/4, 1/2, 3/4 of its rate; naver fills in."""
    pipe.emu.world.domains = {"gmail.com": Behaviour(delivered_rate=0.0)}
    await pipe.submit(two_domains(600), extra=campaign(1, 1, [{"days": "1", "daily": 100000, "hourly": 360}]))
    for _ in range(10):  # until the pacer has seen the burst (callbacks arrive within seconds)
        await drive(pipe, 60)
        if await pipe.events("domain_backoff"):
            break
    pipe.emu.world.domains = {}  # gmail delivers again: the backoff alone brings it back
    [burst] = await pipe.events("domain_backoff")
    assert (burst.identity, burst.data["group"], burst.data["code"]) == (IDENTITY, "google", DEFERRAL_BURST_REASON)
    assert float(burst.data["held_until"]) == burst.t + BLOCK_S
    assert float(burst.data["until"]) == burst.t + BLOCK_S + 3 * STEP_S
    stored = (await group_state.load(pipe.redis, IDENTITY))["google"]
    assert (stored.blocked_at, stored.reason) == (burst.t, DEFERRAL_BURST_REASON)
    t0 = burst.t
    await drive(pipe, t0 + BLOCK_S + 3 * STEP_S + 60 - pipe.clock.now())
    assert len(await pipe.events("domain_backoff")) == 1  # the deferrals that caused it do not cause another
    gmail = [r.time for r in pipe.emu.send_log if r.to_address.endswith("@gmail.com")]
    every = [r.time for r in pipe.emu.send_log]
    deferred_before = count(gmail, START, t0)
    assert DEFERRAL_BURST <= deferred_before <= 3 * DEFERRAL_BURST
    assert count(gmail, t0, t0 + BLOCK_S) == 0
    steps = [t0 + BLOCK_S + STEP_S * k for k in range(4)]
    # 360 an hour is 180 per step: a quarter, a half, three quarters of it (+1 for the step's edge).
    got = [count(gmail, a, b) for a, b in pairwise(steps)]
    for n, share in zip(got, (0.25, 0.5, 0.75), strict=True):
        assert 180 * share - 3 <= n <= 180 * share + 1, got
    for a, b in pairwise([t0, t0 + BLOCK_S, *steps[1:]]):
        assert count(every, a, b) >= 360 * (b - a) / 3600 - 3  # the identity's hour stays full with naver
    assert await status_groups(pipe, t0 + 60) == [("google", f"held after {DEFERRAL_BURST_REASON}", t0 + BLOCK_S)]
    assert_none_sent_twice(pipe)


async def test_dominant_domain_keeps_its_share_while_the_others_fill_the_hour(pipe: Pipeline) -> None:
    """70 % gmail, share 0.3 of 100/h, shaping on: gmail <= 30 in any hour and >= 95 sent an hour while others wait."""
    others = ["naver.com", "daum.net", "outlook.com"]
    rows = [f"g{i}@gmail.com,G" for i in range(700)] + [f"o{i}@{others[i % 3]},O" for i in range(300)]
    extra = campaign(1, 1, [{"days": "1", "daily": 100000, "hourly": 100}])
    extra["shaping"]["max_domain_share"] = 0.3
    await pipe.submit("email,first_name\n" + "\n".join(rows) + "\n", extra=extra)
    await pipe.run(5 * 3600)
    log = sorted(pipe.emu.send_log, key=lambda r: r.time)
    last_other = max(r.time for r in log if not r.to_address.endswith("@gmail.com"))
    assert len([r for r in log if not r.to_address.endswith("@gmail.com")]) == 300
    waiting = [r.time for r in log if r.time < last_other]  # every send while another domain's recipient waits
    gmail = [r.time for r in log if r.to_address.endswith("@gmail.com") and r.time < last_other]
    assert (last_other - START) / 3600 > 3.5
    assert max_in_rolling_window(gmail) <= 30
    hours = [(START + k * 3600, START + (k + 1) * 3600) for k in range(int((last_other - START) // 3600))]
    assert [count(waiting, a, b) >= 95 for a, b in hours] == [True] * len(hours), [
        count(waiting, a, b) for a, b in hours
    ]
    assert max_in_rolling_window(r.time for r in log) <= 100
    assert_none_sent_twice(pipe)


async def test_an_identity_with_thousands_of_groups_sends_each_call_only_the_declared_ones(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 stored groups: a blocked gmail still sends nothing, and each script call names only its own groups."""
    from orchestrator.store.limiter import Limits

    await pipe.submit(two_domains(100), extra=campaign(1, 1, [{"days": "1", "daily": 100000, "hourly": 120}]))
    ik = keys.IdentityKeys(IDENTITY)
    others = {f"d{i}.example": group_state.encode(GroupState(day=1)) for i in range(3000)}
    await pipe.redis.hset(ik.groups, mapping=others)
    blocked = GroupState(day=1, blocked_at=START, reason="FailedOperation.TemporaryBlocked")
    await pipe.redis.hset(ik.groups, "google", group_state.encode(blocked))
    sent_args: list[str] = []
    plain = Limits.groups_arg

    def recorded(self: Limits, declared: Any) -> str:
        sent_args.append(plain(self, declared))
        return sent_args[-1]

    monkeypatch.setattr(Limits, "groups_arg", recorded)
    await pipe.run(BLOCK_S / 2)
    to = [r.to_address for r in pipe.emu.send_log]
    assert to
    assert all(a.endswith("@naver.com") for a in to)  # gmail blocked, naver sending
    assert sent_args
    assert all(set(json.loads(a)) <= {"google", "naver"} for a in sent_args)
    assert any("google" in json.loads(a) for a in sent_args)  # the block reached the script


async def test_a_group_blocked_before_shaping_starts_at_the_identitys_day(pipe: Pipeline) -> None:
    """A TemporaryBlocked on day 1, before shaping (from day 3): the stored backoff keeps up with the
    identity's day while shaping does not apply, so on day 3 gmail starts where the identity is, not on
    the day it was blocked (a group only moves on at its own rolls, one day at a time, once shaped)."""
    rows = [{"days": "1-5", "daily": 100, "hourly": 100}]
    await pipe.submit(two_domains(400), extra=campaign(1, 3, rows))
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.TemporaryBlocked", count=1, recipient_domain="gmail.com")
    )
    await pipe.run(2 * 86400 + 600)
    assert len([r for r in pipe.emu.service.status_log if r.send_status == 3008]) == 1
    ident = await identities.load(pipe.redis, IDENTITY)
    assert ident is not None
    assert ident.progress.warmup_day == 3
    stored = (await group_state.load(pipe.redis, IDENTITY))["google"]
    assert stored.day == 3
    assert stored.reason == "FailedOperation.TemporaryBlocked"
    assert_none_sent_twice(pipe)


async def test_the_share_holds_while_a_blocked_domains_recipients_wait_out_the_block(pipe: Pipeline) -> None:
    """Before shaping, gmail blocked now and then (each block holds it 10 minutes, its recipients waiting in
    `later`): naver keeps to its 30 % of the identity's hour while gmail recipients wait. The share
    was dropped once the shuffled queue ran dry, and naver took 139 to 173 sends of a 200 hour (60 allowed)."""
    rows = [f"n{i}@naver.com,N" for i in range(400)] + [f"g{i}@gmail.com,G" for i in range(400)]
    extra = campaign(1, 6, [{"days": "1", "daily": 100000, "hourly": 200}])
    extra["shaping"]["max_domain_share"] = 0.3
    await pipe.submit("email,first_name\n" + "\n".join(rows) + "\n", extra=extra)
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.TemporaryBlocked", rate=0.1, recipient_domain="gmail.com")
    )
    await pipe.run(5 * 3600)
    log = sorted(pipe.emu.send_log, key=lambda r: r.time)
    gmail = [r.time for r in log if r.to_address.endswith("@gmail.com")]
    assert 0 < len(gmail) < 400  # gmail recipients waited to the end of the run
    naver = [r.time for r in log if r.to_address.endswith("@naver.com")]
    assert len(naver) > 200
    assert max_in_rolling_window(naver) <= 60 + 1  # 30 % of 200, one at the hour's edge
    assert_none_sent_twice(pipe)


async def test_a_retry_waiting_does_not_hold_back_the_last_domain(pipe: Pipeline) -> None:
    """Only gmail left, one of its recipients deferred for an hour (FrequencyLimit): gmail goes on at the
    identity's full rate. A retry waiting in `later` once counted as other mail waiting, and gmail, whose
    share timer had run far ahead while it sent alone, sent nothing for an hour."""
    rows = [f"g{i}@gmail.com,G" for i in range(1200)]
    extra = campaign(1, 6, [{"days": "1", "daily": 100000, "hourly": 200}])
    extra["shaping"]["max_domain_share"] = 0.3
    await pipe.submit("email,first_name\n" + "\n".join(rows) + "\n", extra=extra)
    await pipe.run(3600)
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.FrequencyLimit", count=1, recipient_domain="gmail.com")
    )
    await pipe.run(2 * 3600)
    times = sorted(r.time for r in pipe.emu.send_log)
    per_hour = [count(times, times[0] + 3600 * k, times[0] + 3600 * (k + 1)) for k in range(3)]
    assert min(per_hour) >= 195, per_hour
    assert max(b - a for a, b in pairwise(times)) < 120
