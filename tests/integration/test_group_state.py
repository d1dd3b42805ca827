"""The provider groups' stored standing per identity (store/group_state.py) on a real redis-server."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.core.domain_shaping import BLOCK_S, DEFERRAL_BUCKET_S, GroupState
from orchestrator.core.plan import Caps
from orchestrator.core.plan_spec import PlanSpec
from orchestrator.store import group_state, keys
from orchestrator.store.stored_values import BadStoredValueError

IDENTITY = "g-id0"
PLAN = PlanSpec().build()  # day 1: 1,000 a day, day 2: 1,500, day 3: 2,000
NOW = 1_796_083_200.0


async def test_roll_moves_each_group_on_its_own_sends(redis: Redis) -> None:
    """At the day roll: half its cap sent moves a group on, less keeps it, a new group starts at the identity's day."""
    ik = keys.IdentityKeys(IDENTITY)
    await redis.hset(ik.groups, "naver", group_state.encode(GroupState(day=1)))
    await redis.hset(ik.groups, "google", group_state.encode(GroupState(day=2)))
    await redis.hset(ik.group_day("2026-12-01"), mapping={"naver": 500, "google": 700, "kakao": 1000})
    held = await group_state.roll(redis, IDENTITY, PLAN, Caps(2000, 400), "2026-12-01", 3, 0.5)
    states = await group_state.load(redis, IDENTITY)
    assert {g: s.day for g, s in states.items()} == {"naver": 2, "google": 2, "kakao": 4}
    assert held == {"google": "sent 700 of its cap 1,500"}


async def test_a_day_the_guardrails_held_moves_no_group_on(redis: Redis) -> None:
    """The identity's day was held (hard bounces): every group stays on its own day too, whatever it sent,
    with the identity's reason; a group new that day starts at the identity's day."""
    ik = keys.IdentityKeys(IDENTITY)
    await redis.hset(ik.groups, "naver", group_state.encode(GroupState(day=1)))
    await redis.hset(ik.group_day("2026-12-01"), mapping={"naver": 900, "kakao": 1000})
    why = "the identity's day was held: hard_bounce on g-id0: 7.00 % of 2,000 sends"
    held = await group_state.roll(redis, IDENTITY, PLAN, Caps(2000, 400), "2026-12-01", 3, 0.5, why)
    states = await group_state.load(redis, IDENTITY)
    assert {g: s.day for g, s in states.items()} == {"naver": 1, "kakao": 3}
    assert held == {"naver": why, "kakao": why}


async def test_block_restarts_the_backoff_and_keeps_the_groups_day(redis: Redis) -> None:
    """A block stores when and why; a later one starts the backoff again; the group's own day stays."""
    await redis.hset(keys.IdentityKeys(IDENTITY).groups, "google", group_state.encode(GroupState(day=2)))
    await group_state.block(redis, IDENTITY, "google", NOW, "FailedOperation.TemporaryBlocked", 5)
    again = await group_state.block(redis, IDENTITY, "google", NOW + 900, "deferral burst", 5)
    fresh = await group_state.block(redis, IDENTITY, "naver", NOW, "FailedOperation.TemporaryBlocked", 5)
    assert again == GroupState(day=2, blocked_at=NOW + 900, reason="deferral burst")
    assert fresh.day == 5
    caps = group_state.GroupCaps(await group_state.load(redis, IDENTITY), PLAN, Caps(6000, 500), NOW + 1000)
    assert caps == {
        "google": (0, 0, NOW + 900 + BLOCK_S),
        "naver": (125, 4500, 0.0),
    }  # day 5: 4,500/500, a quarter of the hour


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("{", "group state g-id0/google: not JSON", id="not-json"),
        pytest.param("[1]", "group state g-id0/google: not a group state", id="not-an-object"),
        pytest.param('{"day": "x"}', "stored group state g-id0/google day is not a whole number", id="day-text"),
        pytest.param('{"day": 0}', "stored group state g-id0/google day is out of range", id="day-zero"),
        pytest.param('{"day": 1, "blocked_at": "soon"}', "blocked_at is not a number", id="blocked-at-text"),
    ],
)
async def test_unreadable_group_state_names_the_place(redis: Redis, raw: str, message: str) -> None:
    """A stored group state that cannot be read fails with one line naming the identity and group."""
    await redis.hset(keys.IdentityKeys(IDENTITY).groups, "google", raw)
    with pytest.raises(BadStoredValueError, match=message):
        await group_state.load(redis, IDENTITY)


async def test_one_read_of_the_deferral_minutes_serves_every_identity_of_a_tick(redis: Redis) -> None:
    """The pacer's tick shares the minute hashes it read: the second identity's burst is still found from them."""
    spec = Campaign.model_validate(
        {
            "name": "t",
            "identities": [{"id": i, "from": f"n@{i}.example.com"} for i in ("g-a", "g-b")],
            "template": {"id": 1, "subject": "Hello"},
            "recipients": {"file": "r.csv"},
            "shaping": {"per_domain_from_day": 1, "per_domain_from_daily": 1},
        }
    )
    minute = int(NOW // DEFERRAL_BUCKET_S)
    await redis.hset(keys.fb_deferrals(minute - 1), mapping={"g-a|google|d": 6, "g-a|google|o": 6, "g-b|naver|o": 3})
    await redis.hset(keys.fb_deferrals(minute), mapping={"g-b|naver|d": 6, "g-b|naver|o": 6, "g-a|naver|o": 9})
    read: dict[int, dict[object, object]] = {}
    a = await group_state.shaping_limits(redis, "c", spec, "g-a", 3, Caps(2000, 400), NOW, read)
    assert minute - 1 in read
    assert minute in read
    await redis.delete(keys.fb_deferrals(minute - 1), keys.fb_deferrals(minute))  # the second must not need them
    b = await group_state.shaping_limits(redis, "c", spec, "g-b", 3, Caps(2000, 400), NOW, read)
    assert a is not None
    assert b is not None
    assert (a["google"][0], b["naver"][0]) == (0, 0)  # each identity's own burst held its own group
    assert "naver" not in a
    assert "google" not in b
    assert {g for g, s in (await group_state.load(redis, "g-b")).items() if s.blocked_at == NOW} == {"naver"}


def test_group_caps_are_worked_out_only_for_the_groups_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An identity with thousands of groups: a grant asks for a few, and only theirs are computed;
    each answer equals the caps worked out on their own, and the mapping still lists every group."""
    states = {f"d{n}.example.com": GroupState(day=1 + n % 7) for n in range(3000)}
    states["google"] = GroupState(day=2, blocked_at=NOW - 60, reason="FailedOperation.TemporaryBlocked")
    asked: list[GroupState] = []
    real = group_state.group_caps

    def counted(plan: object, state: GroupState, identity: Caps, now: float, share: float = 0.0) -> Caps:
        asked.append(state)
        return real(plan, state, identity, now, share)  # type: ignore[arg-type]

    monkeypatch.setattr(group_state, "group_caps", counted)
    caps = group_state.GroupCaps(states, PLAN, Caps(6000, 500), NOW)
    assert len(caps) == 3001
    assert "d5.example.com" in caps
    assert "other.example.com" not in caps
    assert caps["google"] == (0, 0, NOW - 60 + BLOCK_S)
    assert caps["d5.example.com"] == caps["d12.example.com"]  # the same day: equal caps
    assert len(asked) == 3  # google, then d5's state (day 6) and d12's (day 6) once each, not 3,001
    plain = real(PLAN, states["d5.example.com"], Caps(6000, 500), NOW)
    assert caps["d5.example.com"] == (plain.hourly, plain.daily, 0.0)


async def test_the_pacer_reads_an_identity_groups_again_only_when_a_write_moved_its_stamp(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shaping read keeps an identity's decoded groups while their stamp is unchanged; a block (a
    worker's TemporaryBlocked) or a day roll stamps anew and the next read sees it; a hash without a
    stamp (an older release's) is read every time."""
    spec = Campaign.model_validate(
        {
            "name": "t",
            "identities": [{"id": IDENTITY, "from": f"n@{IDENTITY}.example.com"}],
            "template": {"id": 1, "subject": "Hello"},
            "recipients": {"file": "r.csv"},
            "shaping": {"per_domain_from_day": 1, "per_domain_from_daily": 1},
        }
    )
    reads: list[str] = []
    real_hgetall = redis.hgetall

    async def counted(name: str) -> object:
        reads.append(name)
        return await real_hgetall(name)

    monkeypatch.setattr(redis, "hgetall", counted)
    ik = keys.IdentityKeys(IDENTITY)

    async def caps_now() -> group_state.GroupCaps:
        caps = await group_state.shaping_limits(redis, "c", spec, IDENTITY, 3, Caps(2000, 400), NOW, {})
        assert caps is not None
        return caps

    await redis.hset(ik.groups, "naver", group_state.encode(GroupState(day=2)))  # no stamp: read each time
    assert "naver" in await caps_now()
    assert "naver" in await caps_now()
    assert reads.count(ik.groups) == 2

    await group_state.block(redis, IDENTITY, "google", NOW, "FailedOperation.TemporaryBlocked", 3)
    assert (await caps_now())["google"][0] == 0  # the block is seen at the next read
    assert (await caps_now())["google"][0] == 0
    assert reads.count(ik.groups) == 3  # the second read kept what the first decoded

    await redis.hset(keys.IdentityKeys(IDENTITY).group_day("2026-12-01"), "naver", 900)
    await group_state.roll(redis, IDENTITY, PLAN, Caps(2000, 400), "2026-12-01", 3, 0.5)
    after = await caps_now()
    assert reads.count(ik.groups) == 5  # the roll's own read, then the new stamp's
    stored = await group_state.load(redis, IDENTITY)
    assert stored["naver"].day == 3  # 900 of day 2's 1,500: moved on

    await redis.hdel(ik.groups, "google")  # the documented way to lift a backoff by hand
    assert "google" not in await caps_now()
    await redis.hset(ik.groups, "naver", group_state.encode(GroupState(day=9)))  # in place, by hand
    await redis.delete(ik.groups_stamp)  # ... then the token, as documented
    edited = await group_state.load(redis, IDENTITY)
    assert edited["naver"].day == 9
    assert dict(await caps_now()) == dict(group_state.GroupCaps(edited, spec.build_plan(), Caps(2000, 400), NOW))
    assert dict(after) == dict(group_state.GroupCaps(stored, spec.build_plan(), Caps(2000, 400), NOW))
