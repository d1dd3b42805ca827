"""The ledger's scripts on a real Redis: a grant counts everywhere, a certain non-send gives it all back."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core.calendar import tencent_day
from orchestrator.core.campaign_state import Outcome, Transition
from orchestrator.core.domains import address_group
from orchestrator.core.plan import Caps
from orchestrator.store import campaigns, keys
from orchestrator.store.ledger import Ledger, _finish_keys
from orchestrator.store.limiter import Limiter, Limits
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign
from workers.jobs import SEND_JOBS

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
LIMITS = Limits(Caps(100, 50), Caps(100, 50), 0.05, 20, 2.0, 0.0)


async def _one_grant(redis: Redis, tmp_path: Path) -> tuple[Ledger, keys.CampaignKeys, str, int, str]:
    path = write_campaign(tmp_path, 3, identities=1)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START, str(path))).campaign_id
    ledger = Ledger(redis)
    ck = keys.CampaignKeys(cid)
    identity = campaign.identities[0].id
    result = await Limiter(ledger.scripts, SEND_JOBS).grant(
        ck, identity, "default", START, 1, LIMITS, "2026-12-01", 12, 43200.0, quota=10
    )
    assert len(result.grants) == 1
    g = result.grants[0]
    return ledger, ck, identity, g.idx, g.grant


async def _finish_claimed(
    ledger: Ledger,
    ck: keys.CampaignKeys,
    identity: str,
    idx: int,
    grant: str,
    grant_time: float,
    action: str,
    value: str,
    refund: bool,
    ready_at: float = START + 60,
) -> bool:
    """Finish the send claimed with token "tok" (at START + 2, a retry due at `ready_at`)."""
    return await ledger.finish(
        ck,
        identity,
        idx,
        "tok",
        START + 2,
        action,
        value=value,
        ready_at=ready_at,
        refund=refund,
        grant_member=f"{ck.cid}:{idx}:{grant.rsplit(':', 1)[1]}",
        grant_local_date="2026-12-01",
        grant_time=grant_time,
    )


async def _counters(redis: Redis, identity: str) -> list[int]:
    ik = keys.IdentityKeys(identity)
    return [
        int(await redis.zcard(ik.hour)),
        int(await redis.get(ik.day("2026-12-01")) or 0),
        int(await redis.get(ik.quota_day(tencent_day(START)[0])) or 0),
    ]


@pytest.mark.parametrize(
    ("action", "refund", "expected"),
    [
        pytest.param("retry", True, [0, 0, 0], id="not-sent-gives-back"),
        pytest.param("accepted", False, [1, 1, 1], id="sent-keeps"),
        pytest.param("in_doubt", False, [1, 1, 1], id="maybe-sent-keeps"),
    ],
)
async def test_finish_refunds_every_counter_only_when_not_sent(
    redis: Redis, tmp_path: Path, action: str, refund: bool, expected: list[int]
) -> None:
    """Identity hour and day, pool hour and day, Tencent-day quota: all given back on a certain non-send."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    assert await _counters(redis, identity) == [1, 1, 1]
    claim = await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    assert claim is not None
    assert await _finish_claimed(ledger, ck, identity, idx, grant, claim.grant_time, action, "m-1", refund)
    assert await _counters(redis, identity) == expected


async def test_claim_and_finish_refuse_a_stale_holder(redis: Redis, tmp_path: Path) -> None:
    """A second claim of one grant, or a finish with another token, changes nothing: never sent twice."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    first = await ledger.claim(ck, idx, grant, "tok-1", START + 1, 90.0)
    assert first is not None
    assert await ledger.claim(ck, idx, grant, "tok-2", START + 1, 90.0) is None
    assert not await ledger.finish(ck, identity, idx, "tok-2", START + 2, "accepted", value="m-2")
    assert (await ledger.state_of(ck, idx)).startswith("c|tok-1|")


async def test_a_claim_stopped_by_a_damaged_key_writes_nothing(redis: Redis, tmp_path: Path) -> None:
    """A suppression list left as an old-style SET (WRONGTYPE for HGET) stops the claim before any write:
    the recipient stays granted under its grant (the sweeper grants it again), never in flight under a
    token no worker holds, and the counts do not move."""
    ledger, ck, _identity, idx, grant = await _one_grant(redis, tmp_path)
    await redis.sadd(keys.SUPPRESS_ALL, "someone@example.org")
    before = (await ledger.state_of(ck, idx), await redis.hgetall(ck.counts), await redis.zcard(ck.inflight))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    after = (await ledger.state_of(ck, idx), await redis.hgetall(ck.counts), await redis.zcard(ck.inflight))
    assert after == before
    assert before[0].startswith("g|")
    await redis.delete(keys.SUPPRESS_ALL)
    assert await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0) is not None  # the same grant, whole


@pytest.mark.parametrize(
    ("action", "attempts_after"),
    [
        pytest.param("retry", "1", id="a-try-that-left-counts"),
        pytest.param("postpone", "0", id="a-call-that-never-left-does-not"),
    ],
)
async def test_finish_counts_a_try_only_when_the_call_was_made(
    redis: Redis, tmp_path: Path, action: str, attempts_after: str
) -> None:
    """Retry and postpone both wait in `later` with the budget given back; only a real try uses up an attempt."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    claim = await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    assert claim is not None
    assert claim.attempt == 1
    busy = "Orchestrator.AccountBudgetBusy"
    assert await _finish_claimed(ledger, ck, identity, idx, grant, claim.grant_time, action, busy, True, START + 30)
    assert await ledger.state_of(ck, idx) == f"q|{attempts_after}"
    assert await redis.zscore(ck.later, str(idx)) == START + 30
    assert await _counters(redis, identity) == [0, 0, 0]


@pytest.mark.parametrize(
    ("sent_at", "kept"),
    [
        pytest.param(START + 2, START + 2, id="tencents-receipt-time"),
        pytest.param(START + 3 * 3600 + 60, START + 3 * 3600, id="never-after-the-settling"),
    ],
)
async def test_a_doubt_settled_later_keeps_the_time_tencent_received_the_send(
    redis: Redis, tmp_path: Path, sent_at: float, kept: float
) -> None:
    """Settled hours later by a lookup: the MessageId map, the cohort and the follow-up keep the send's time."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    claim = await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    assert claim is not None
    seq = grant.rsplit(":", 1)[1]
    common = {"grant_member": f"{ck.cid}:{idx}:{seq}", "grant_local_date": "2026-12-01", "grant_time": claim.grant_time}
    assert await ledger.finish(ck, identity, idx, "tok", START + 100, "in_doubt", ready_at=START + 600, **common)
    settled_at = START + 3 * 3600
    assert await ledger.finish(ck, identity, idx, "tok", settled_at, "accepted", value="m-9", sent_at=sent_at, **common)
    assert await redis.hget(keys.MESSAGE_IDS, "m-9") == f"{ck.cid}:{idx}|{identity}|{kept!r}"
    assert await redis.zscore(keys.FB_PENDING, "m-9") == kept
    hour = int(kept // 3600)
    assert await redis.hget(keys.FB_COHORTS, f"{hour}|accepted|i|{identity}") == "1"


async def test_a_lease_over_a_state_that_cannot_be_read_is_kept_not_dropped(redis: Redis, tmp_path: Path) -> None:
    """A damaged in-flight state under an overdue lease: the recipient stays counted in flight, its lease is
    looked at again after the grant deadline, and the caller is told; never dropped from every set unseen."""
    ledger, ck, _identity, idx, grant = await _one_grant(redis, tmp_path)
    assert await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0) is not None
    await redis.hset(ck.state(idx), str(idx), "c|tok")  # an in-flight state with too few fields
    assert await ledger.expire(ck, idx, START + 100, 120.0, START + 160) == ["unreadable", "c|tok"]
    assert await redis.zscore(ck.inflight, str(idx)) == START + 220
    assert (await ledger.counts(ck))["inflight"] == 1
    assert await redis.zcard(ck.doubt) == 0


FINISH_ACTIONS = [("accepted", False), ("retry", True), ("pause", True), ("suppressed", True), ("in_doubt", False)]


@pytest.mark.parametrize(("action", "refund"), FINISH_ACTIONS, ids=[a for a, _ in FINISH_ACTIONS])
@pytest.mark.parametrize("n", range(2, 22))  # finish.lua's KEYS 2-21
async def test_a_finish_that_meets_a_damaged_key_is_recorded_whole_or_not_at_all(
    redis: Redis, tmp_path: Path, n: int, action: str, refund: bool
) -> None:
    """finish.lua's key number `n` holds another type: the outcome is either refused with nothing written
    (the send stays in flight under its lease, which then parks it in doubt) or recorded whole, its state,
    counts and sets agreeing; never half written, the recipient out of every set and counted nowhere."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    claim = await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    assert claim is not None
    value = "MSGID-1" if action == "accepted" else "code"
    key = _finish_keys(ck, identity, idx, value if action == "accepted" else "-", "2026-12-01", claim.grant_time)[n - 1]
    kind = await redis.type(key)
    await redis.delete(key)
    await (redis.rpush(key, "x") if kind == "string" else redis.set(key, "x"))
    with contextlib.suppress(ResponseError):  # a write after the outcome itself may fail: only it is lost
        await _finish_claimed(ledger, ck, identity, idx, grant, claim.grant_time, action, value, refund)
    if key in (ck.counts, ck.state(idx)):
        return  # the counts or the state itself damaged: nothing to compare them with
    state = (await ledger.entry_of(ck, idx)).state.value
    counts = await ledger.counts(ck)
    assert counts[state] >= 1, (state, counts)
    assert counts["inflight"] == (1 if state == "inflight" else 0)
    if key != ck.inflight:
        assert (await redis.zscore(ck.inflight, str(idx)) is not None) == (state == "inflight")
    if state == "queued" and key not in (ck.queue, ck.later):
        assert await redis.zscore(ck.later, str(idx)) is not None or str(idx) in await redis.lrange(ck.queue, 0, -1)
    if state == "in_doubt" and key != ck.doubt:
        assert await redis.zscore(ck.doubt, str(idx)) is not None


@pytest.mark.parametrize("counter", ["day", "quota_day", "counts", "gcra", "group_day"])
async def test_a_finish_that_meets_a_counter_holding_no_number_writes_nothing(
    redis: Redis, tmp_path: Path, counter: str
) -> None:
    """A counter the refund decrements holds text: the outcome is refused before any write (the send
    stays in flight) and its campaign pauses itself, naming the key; not stopped half way."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    claim = await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    assert claim is not None
    ik = keys.IdentityKeys(identity)
    target = {
        "day": ik.day("2026-12-01"),
        "quota_day": ik.quota_day(tencent_day(claim.grant_time)[0]),
        "counts": ck.counts,
        "gcra": ik.gcra,
        "group_day": ik.group_day("2026-12-01"),
    }[counter]
    if counter in ("counts", "gcra", "group_day"):
        field = {"counts": "queued", "gcra": "tat", "group_day": address_group(claim.address)}[counter]
        await redis.hset(target, field, "abc")
    else:
        await redis.set(target, "abc")
    settled = await _finish_claimed(ledger, ck, identity, idx, grant, claim.grant_time, "retry", "", refund=True)
    assert not settled
    assert (await ledger.state_of(ck, idx)).startswith("c|tok|")
    assert await redis.zscore(ck.inflight, str(idx)) is not None
    assert await redis.hget(ck.counts, "inflight") == "1"
    state, paused_by, reason = await redis.hmget(keys.campaign(ck.cid), ["state", "paused_by", "reason"])
    assert (state, paused_by) == ("paused", "automatic")
    assert target in reason


async def test_a_grant_that_meets_a_damaged_bucket_takes_no_recipient_off_the_queue(
    redis: Redis, tmp_path: Path
) -> None:
    """The queue's next recipient has a ledger bucket of another type: the grant fails before taking it
    off the queue, and once the bucket is repaired every recipient is granted; none was lost on the way."""
    path = write_campaign(tmp_path, 3, identities=1)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START, str(path))).campaign_id
    ledger, ck, identity = Ledger(redis), keys.CampaignKeys(cid), campaign.identities[0].id
    queue = await redis.lrange(ck.queue, 0, -1)
    damaged = ck.state(int(queue[0]))
    await redis.set(damaged, "not a hash")
    limiter = Limiter(ledger.scripts, SEND_JOBS)
    for _ in range(2):
        with pytest.raises(ResponseError):
            await limiter.grant(ck, identity, "default", START, 1, LIMITS, "2026-12-01", 12, 43200.0, quota=10)
    assert await redis.lrange(ck.queue, 0, -1) == queue
    await redis.delete(damaged)
    granted = []
    for k in range(3):
        result = await limiter.grant(
            ck, identity, "default", START + 100 * k, 1, LIMITS, "2026-12-01", 12, 43200.0, quota=10
        )
        granted += [g.idx for g in result.grants]
    assert sorted(granted) == [0, 1, 2]


@pytest.mark.parametrize("paused_by", ["kim", "worker"])
async def test_a_fatal_answer_landing_on_an_operators_pause_is_not_lost(
    redis: Redis, tmp_path: Path, paused_by: str
) -> None:
    """The operator (or a worker sending elsewhere) paused while the send was in flight; its answer was
    campaign-fatal. Left as the operator's pause, a plain resume lifted it and the next sends met the same
    error: it is the automatic pause now, with its reason, and the resume needs the acknowledgement."""
    ledger, ck, identity, idx, grant = await _one_grant(redis, tmp_path)
    claim = await ledger.claim(ck, idx, grant, "tok", START + 1, 90.0)
    assert claim is not None
    await campaigns.transition(redis, ck.cid, Transition.PAUSE, START + 1.5, reason="checking", by=paused_by)
    assert await ledger.finish(
        ck,
        identity,
        idx,
        "tok",
        START + 2,
        "pause",
        value="AuthFailure.SignatureFailure",
        refund=True,
        grant_member=f"{ck.cid}:{idx}:{grant.rsplit(':', 1)[1]}",
        grant_local_date="2026-12-01",
        grant_time=claim.grant_time,
        detail="AuthFailure.SignatureFailure: wrong key",
    )
    rec = await campaigns.get(redis, ck.cid)
    assert rec is not None
    assert (rec.state.value, rec.paused_by, rec.reason) == (
        "paused",
        "automatic",
        "AuthFailure.SignatureFailure: wrong key",
    )
    outcome, _ = await campaigns.transition(redis, ck.cid, Transition.RESUME, START + 3, by="kim", acknowledged=False)
    assert outcome is Outcome.NEEDS_ACK
