"""The delivery follow-up: with no callbacks, GetSendEmailStatus lookups to the emulator settle the counts."""

from __future__ import annotations

from collections import Counter

from redis.asyncio import Redis

from orchestrator.pacing import PacerConfig
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Behaviour
from orchestrator.store import keys
from orchestrator.store.connection import redis_from_url
from orchestrator.store.feedback import FeedbackStore
from tests.integration.test_callbacks import BEHAVIOUR, emulator_counts
from tests.pipeline_harness import START, Pipeline, recipients_csv, settings_for
from workers.followup import AT_ONCE, PER_SWEEP, feedback_pass
from workers.pacer import build_pacer


async def test_followup_settles_counts_without_callbacks(pipe: Pipeline) -> None:
    """With no callback URL, the follow-up's status lookups count what the emulator logged, once per message."""
    pipe.emu.world.behaviour = BEHAVIOUR
    await pipe.submit(recipients_csv(n_others=60, victim=False), identities=2)
    await pipe.run(3000)
    pipe.clock.advance(START + 7 * 3600 - pipe.clock.now())
    now = pipe.clock.now()
    async with TencentSender(settings_for(pipe.emu)) as sender:
        pacer = build_pacer(pipe.redis, pipe.clock, PacerConfig(), sender=sender)
        first = await feedback_pass(pacer, now)
        again = await feedback_pass(pacer, now)
    store = FeedbackStore(pipe.redis)
    totals = Counter[str]()
    for (metric, _identity, _campaign), count in (await store.totals()).items():
        totals[metric] += count
    expected = emulator_counts([e for e in pipe.emu.events if e["timestamp"] <= now])
    for metric in ("delivered", "hard_bounce", "open", "click", "complaint", "unsubscribe", "dropped"):
        assert totals[metric] == expected[metric], metric
    assert expected["delivered"] > 0
    assert expected["hard_bounce"] > 0
    assert totals["deferred"] == expected["soft_bounce"] + expected["deferred"]  # the status API cannot tell them apart
    # Asked about again later: the deferred, and the delivered once their day has passed (complaints, opens).
    assert await pipe.redis.zcard(keys.FB_PENDING) == totals["deferred"] + totals["delivered"]
    lookups = [c for c in pipe.emu.call_log if c.action == "GetSendEmailStatus"]
    assert len(lookups) == pipe.n  # one per message
    assert first["followup_recheck"] == totals["delivered"]
    assert first["followup_settled"] == pipe.n - totals["deferred"] - totals["delivered"]
    assert not any(v for k, v in again.items() if k.startswith("followup_"))
    assert pipe.emu.poster.posted == 0


async def test_followup_reads_a_delivered_mail_again_once_its_day_has_passed(pipe: Pipeline) -> None:
    """Complaints (and opens) come for a day after delivery: a mail the follow-up found delivered at 7 h is
    asked about once more a day after its send, so what came later is counted too, each once; then it is
    done (no third lookup)."""
    pipe.emu.world.behaviour = Behaviour(open_rate=0.5, spamreport_rate=0.5)
    await pipe.submit(recipients_csv(n_others=60, victim=False), identities=2)
    await pipe.run(3000)
    store = FeedbackStore(pipe.redis)

    async def passes(at: float) -> None:
        pipe.clock.advance(at - pipe.clock.now())
        async with TencentSender(settings_for(pipe.emu)) as sender:
            pacer = build_pacer(pipe.redis, pipe.clock, PacerConfig(), sender=sender)
            await feedback_pass(pacer, pipe.clock.now())

    def complaints(upto: float) -> int:
        return emulator_counts([e for e in pipe.emu.events if e["timestamp"] <= upto])["complaint"]

    await passes(START + 7 * 3600)
    early = sum(n for (m, _i, _c), n in (await store.totals()).items() if m == "complaint")
    assert early == complaints(START + 7 * 3600)
    assert complaints(START + 25 * 3600) > early  # the test needs complaints after the first look
    await passes(START + 25 * 3600)
    later = sum(n for (m, _i, _c), n in (await store.totals()).items() if m == "complaint")
    assert later == complaints(START + 25 * 3600)
    assert await pipe.redis.zcard(keys.FB_PENDING) == 0
    await passes(START + 50 * 3600)
    lookups = [c for c in pipe.emu.call_log if c.action == "GetSendEmailStatus"]
    assert len(lookups) == 2 * pipe.n  # each mail twice: at 7 h, and once its day had passed


async def test_followup_of_more_mails_than_the_pool_has_connections(pipe: Pipeline, redis_url: str) -> None:
    """A hundred lookups due at once run a few at a time: a client with a pool of 8 connections serves them."""
    await pipe.submit(recipients_csv(n_others=150, victim=False), identities=2)
    await pipe.run(3000)
    assert pipe.n > PER_SWEEP
    pipe.clock.advance(START + 7 * 3600 - pipe.clock.now())
    small = redis_from_url(redis_url, max_connections=AT_ONCE)
    try:
        async with TencentSender(settings_for(pipe.emu)) as sender:
            pacer = build_pacer(small, pipe.clock, PacerConfig(), sender=sender)
            first = await feedback_pass(pacer, pipe.clock.now())
            second = await feedback_pass(pacer, pipe.clock.now())
    finally:
        await small.aclose()
    assert sum(v for k, v in first.items() if k.startswith("followup_")) == PER_SWEEP
    assert sum(v for k, v in (first | second).items() if k.startswith("followup_")) >= pipe.n - PER_SWEEP
    lookups = [c for c in pipe.emu.call_log if c.action == "GetSendEmailStatus"]
    assert len(lookups) == pipe.n  # every mail asked about once over the two passes


async def test_a_followup_never_puts_back_a_mail_a_callback_settled_meanwhile(redis: Redis) -> None:
    """Looked up with no delivery yet (Tencent still queues it), and the delivered callback arrives while the
    lookup is in flight: the mail is done, not asked about again six hours later."""
    from types import SimpleNamespace

    from workers.followup import Followup

    followup = Followup(SimpleNamespace(redis=redis), 3600.0)  # type: ignore[arg-type]
    await redis.zadd(keys.FB_PENDING, {"m-open": 100.0, "m-settled": 100.0})
    await redis.zrem(keys.FB_PENDING, "m-settled")  # the callback's settling ZREM, mid-lookup
    for message_id in ("m-open", "m-settled"):
        await followup._again(message_id, 5000.0)
    assert await redis.zrange(keys.FB_PENDING, 0, -1) == ["m-open"]
