"""Tencent's callbacks end to end: the emulator posts real events to the callback route after real sends."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.core.callback_event import parse_event
from orchestrator.core.clock import VirtualClock
from orchestrator.core.quality import METRICS
from orchestrator.ses.emulator import Behaviour
from orchestrator.simulation.report.signals import SIGNAL_NAMES, recorded_signals
from orchestrator.status import campaign_status
from orchestrator.store import keys
from orchestrator.store.feedback import FeedbackStore, parse_sent
from orchestrator.web.callbacks import MAX_BODY_BYTES
from tests.callback_app import TOKEN, callback_server
from tests.pipeline_harness import START, Pipeline, recipients_csv
from tests.spec_events import spec_metric

#: Hard and soft bounces come in different numbers (4 and 2 of 60 with the emulator's seed), so a mix-up of
#: the two would show in every count.
BEHAVIOUR = Behaviour(
    hard_bounce_rate=0.1,
    soft_bounce_rate=0.02,
    open_rate=0.5,
    click_rate=0.2,
    spamreport_rate=0.1,
    unsubscribe_rate=0.1,
)


def emulator_counts(events: list[dict[str, Any]]) -> Counter[str]:
    """What the emulator posted, each metric (the spec's, tests/spec_events.py) once per message."""
    return Counter(m for _, m in {(e["bulkId"], spec_metric(e["event"], e["bounceType"])) for e in events})


async def run_with_callbacks(pipe: Pipeline, n: int = 60) -> None:
    """Send `n` recipients within the first hour, then let a day pass and post every event."""
    pipe.emu.world.behaviour = BEHAVIOUR
    await pipe.submit(recipients_csv(n_others=n, victim=False), identities=2)
    async with callback_server(pipe.redis, pipe.clock) as server:
        pipe.emu.world.callback_url = server.url
        await pipe.run(3000)
        pipe.clock.advance(START + 25 * 3600 - pipe.clock.now())
        await pipe.emu.flush_callbacks()
        # The emulator's own poster may still be posting what it took before the flush: wait for it.
        for _ in range(200):
            if pipe.emu.poster.posted + pipe.emu.poster.failed >= len(pipe.emu.events):
                break
            await asyncio.sleep(0.05)


async def test_callbacks_counts_equal_emulator_log(pipe: Pipeline) -> None:
    """Every event the emulator posted is counted once per message and metric, in the all-time totals."""
    await run_with_callbacks(pipe)
    assert pipe.emu.poster.failed == 0
    totals = Counter[str]()
    for (metric, _identity, campaign), count in (await FeedbackStore(pipe.redis).totals()).items():
        assert campaign == pipe.cid
        totals[metric] += count
    expected = emulator_counts(pipe.emu.events)
    assert {m: totals[m] for m in METRICS} == {m: expected[m] for m in METRICS}
    assert totals["accepted"] == len(pipe.emu.send_log) == pipe.n
    assert expected["hard_bounce"] > expected["soft_bounce"] > 0
    assert expected["open"] > 0


async def test_callbacks_status_quality_equals_emulator_log(pipe: Pipeline) -> None:
    """The status's quality figures (per campaign and summed over identities) equal the emulator's log."""
    await run_with_callbacks(pipe)
    expected = emulator_counts(pipe.emu.events)
    early = await campaign_status(pipe.redis, pipe.cid, START + 3600)  # the sends' own rolling day
    late = await campaign_status(pipe.redis, pipe.cid, START + 25 * 3600)  # opens: sends a day old
    assert early is not None
    assert late is not None
    for metric in METRICS:
        st = late if metric in ("open", "click") else early
        assert st.quality["metrics"][metric]["count"] == expected[metric], metric
        per = expected["delivered"] if metric in ("open", "click") else pipe.n  # opens per delivered mail
        assert st.quality["metrics"][metric]["sample"] == per, metric
        assert sum(i.quality["metrics"][metric]["count"] for i in st.identities) == expected[metric], metric
    assert early.quality["accepted"] == pipe.n
    assert early.quality["window_s"] == 86400
    rate = early.quality["metrics"]["hard_bounce"]
    assert rate["rate"] == round(expected["hard_bounce"] / pipe.n, 6)
    rec = await pipe.record()
    line = {g.metric: g for g in rec.spec.guardrails.lines(rec.spec.content)}["hard_bounce"]
    assert (rate["hold"], rate["pause"]) == (line.hold, line.pause)  # the campaign's own guardrail lines


async def test_callbacks_replayed_count_once(pipe: Pipeline) -> None:
    """Posting every event a second time (Tencent's retries) changes no count."""
    await run_with_callbacks(pipe, n=20)
    store = FeedbackStore(pipe.redis)
    before = await store.totals()
    async with callback_server(pipe.redis, pipe.clock) as server, aiohttp.ClientSession() as session:
        for event in pipe.emu.events:
            async with session.post(server.url, json=event) as resp:
                assert resp.status == 200
        async with session.post(server.url, json=pipe.emu.events) as resp:  # and all of them in one list
            assert resp.status == 200
    assert await store.totals() == before


async def test_callbacks_wrong_token_changes_nothing(pipe: Pipeline) -> None:
    """A wrong, missing or unset token answers 404 and stores nothing."""
    await run_with_callbacks(pipe, n=10)
    event = pipe.emu.events[0]
    before = {k: await pipe.redis.dump(k) for k in await pipe.redis.keys("*")}
    async with aiohttp.ClientSession() as session:
        async with callback_server(pipe.redis, pipe.clock) as server:
            for path in (f"/callbacks/tencent/{TOKEN[:-1]}x", "/callbacks/tencent/", f"/callbacks/tencent/{TOKEN}0"):
                async with session.post(server.base + path, json=event) as resp:
                    assert resp.status == 404, path
        async with (
            callback_server(pipe.redis, pipe.clock, token=None) as unset,
            session.post(unset.url, json=event) as resp,
        ):
            assert resp.status == 404
    after = {k: await pipe.redis.dump(k) for k in await pipe.redis.keys("*")}
    assert after == before


async def test_callbacks_suppression_scopes(pipe: Pipeline) -> None:
    """An unsubscribe suppresses for its sender domain only; a complaint and a hard bounce for every domain."""
    await run_with_callbacks(pipe)
    by_metric: dict[str, set[tuple[str, str]]] = {}
    for e in pipe.emu.events:
        by_metric.setdefault(spec_metric(e["event"], e["bounceType"]), set()).add((e["email"], e["fromDomain"]))
    assert by_metric["unsubscribe"]
    assert by_metric["complaint"]
    for address, domain in by_metric["unsubscribe"]:
        entry = json.loads(await pipe.redis.hget(keys.suppression(domain), address) or "{}")  # type: ignore[misc]
        assert entry["source"] == "unsubscribe"
        others = {d for _, d in by_metric["unsubscribe"] | by_metric.get("delivered", set())} - {domain}
        for other in others:
            assert await pipe.redis.hget(keys.suppression(other), address) is None  # type: ignore[misc]
    everywhere = await pipe.redis.hgetall(keys.SUPPRESS_ALL)  # type: ignore[misc]
    sources = {a: json.loads(v)["source"] for a, v in everywhere.items()}
    for address, _ in by_metric["hard_bounce"]:
        assert sources[address] == "hard_bounce"
    for address, _ in by_metric["complaint"]:
        assert sources[address] in ("complaint", "hard_bounce")
    assert set(sources) == {a for a, _ in by_metric["hard_bounce"] | by_metric["complaint"]}


async def test_callbacks_message_map_names_identity(pipe: Pipeline) -> None:
    """The MessageId map names the campaign, index, identity and send time of each accepted send."""
    await run_with_callbacks(pipe, n=6)
    values = await pipe.redis.hgetall(keys.MESSAGE_IDS)  # type: ignore[misc]
    sent = {m: parse_sent(v) for m, v in values.items()}
    assert {s.campaign for s in sent.values() if s} == {pipe.cid}
    assert {s.identity for s in sent.values() if s} == {"t-id0", "t-id1"}
    assert all(s is not None and s.sent_at is not None and START <= s.sent_at < START + 3600 for s in sent.values())


async def test_callbacks_before_send_recorded_apply_later(redis: Redis, pipe: Pipeline) -> None:
    """An event whose MessageId is not recorded yet is kept, counted as unknown, and applied once the send is."""
    await run_with_callbacks(pipe, n=6)
    store = FeedbackStore(redis)
    values = await redis.hgetall(keys.MESSAGE_IDS)  # type: ignore[misc]
    plain = [m for m in values if not await redis.hexists(keys.fb_message(m), "u:complaint")]  # type: ignore[misc]
    message_id = plain[0]
    value = values[message_id]
    await redis.hdel(keys.MESSAGE_IDS, message_id)  # type: ignore[misc]
    early = {
        "bulkId": message_id,
        "event": "spamreport",
        "timestamp": int(START) + 99,
        "email": "late@example.org",
        "fromDomain": "d0.example.com",
    }
    async with (
        callback_server(redis, pipe.clock) as server,
        aiohttp.ClientSession() as session,
        session.post(server.url, json=early) as resp,
    ):
        assert resp.status == 200
    before = sum(c for (m, _, _), c in (await store.totals()).items() if m == "complaint")
    assert await store.unknown() == 1
    await redis.hset(keys.MESSAGE_IDS, message_id, value)  # type: ignore[misc]
    assert await store.retry_early(pipe.clock.now()) == 1
    after = sum(c for (m, _, _), c in (await store.totals()).items() if m == "complaint")
    assert after == before + 1
    assert [e["event"] for e in await store.trace(message_id)].count("spamreport") == 1


async def test_a_complaint_or_unsubscribe_for_an_unknown_message_still_suppresses(redis: Redis) -> None:
    """A complaint (or an unsubscribe, or a hard bounce) whose MessageId is no longer mapped, as after the
    campaign was compacted, still puts the address on its list: it is never mailed again, and the event
    is kept for later as any early one."""
    clock = VirtualClock(START)
    events = [
        {"bulkId": "gone-1", "event": "spamreport", "timestamp": int(START), "email": "angry@example.org"},
        {
            "bulkId": "gone-2",
            "event": "unsubscribe",
            "timestamp": int(START),
            "email": "left@example.org",
            "fromDomain": "d0.example.com",
        },
        {"bulkId": "gone-3", "event": "delivered", "timestamp": int(START), "email": "fine@example.org"},
    ]
    async with (
        callback_server(redis, clock) as server,
        aiohttp.ClientSession() as session,
        session.post(server.url, json=events) as resp,
    ):
        assert resp.status == 200
    assert await redis.hexists(keys.SUPPRESS_ALL, "angry@example.org")  # type: ignore[misc]
    assert await redis.hexists(keys.suppression("d0.example.com"), "left@example.org")  # type: ignore[misc]
    assert not await redis.hexists(keys.SUPPRESS_ALL, "left@example.org")  # type: ignore[misc]
    assert not await redis.hexists(keys.SUPPRESS_ALL, "fine@example.org")  # type: ignore[misc]
    assert await FeedbackStore(redis).unknown() == 3


async def test_callbacks_bad_bodies_400_store_nothing(redis: Redis) -> None:
    """Malformed JSON, an unknown event, a wrong type, too many events, an oversized body, nesting past the
    decoder's depth or a lone surrogate: 400 with one line, nothing stored."""
    good = {"event": "open", "bulkId": "m1", "email": "a@example.com", "timestamp": 1, "fromDomain": "d.example"}
    bodies = [
        b"{nope",
        json.dumps({**good, "event": "bogus"}).encode(),
        json.dumps({**good, "timestamp": "soon"}).encode(),
        json.dumps([good, 3]).encode(),
        json.dumps([good] * 1001).encode(),
        b" " * (300 * 1024),
        b"[" * 5000 + b"]" * 5000,  # nested past the decoder's depth
        json.dumps({**good, "email": "\ud800@example.com"}).encode(),  # a lone surrogate, escaped as JSON allows
        json.dumps({**good, "timestamp": "\u00b2"}).encode(),  # a digit to str.isdigit, not to int()
        json.dumps({**good, "event": "unsubscribe", "fromDomain": "not a domain/.."}).encode(),
    ]
    await redis.hset(keys.MESSAGE_IDS, "m1", "c:0|i|1.0")  # type: ignore[misc]
    before = {k: await redis.dump(k) for k in await redis.keys("*")}
    async with callback_server(redis, VirtualClock(START)) as server, aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(server.url, data=body) as resp:
                text = await resp.text()
                assert resp.status == 400, body[:40]
                assert text.count("\n") == 1, text
        after = {k: await redis.dump(k) for k in await redis.keys("*")}
        async with session.post(server.url, json=good) as resp:
            assert resp.status == 200
    assert after == before
    assert await FeedbackStore(redis).totals() == {("open", "i", "c"): 1}


async def test_report_signals_agree_with_emulator_log(pipe: Pipeline) -> None:
    """The report's signals, drawn from the feedback store, equal the emulator's log per day of send."""
    await run_with_callbacks(pipe)
    sent_on = {s.message_id: datetime.fromtimestamp(s.time, tz=UTC).date().isoformat() for s in pipe.emu.send_log}
    expected: dict[str, Counter[str]] = {}
    for (message_id, metric), _ in Counter(
        (e["bulkId"], spec_metric(e["event"], e["bounceType"])) for e in pipe.emu.events
    ).items():
        if metric in SIGNAL_NAMES:
            expected.setdefault(sent_on[message_id], Counter())[SIGNAL_NAMES[metric]] += 1
    for day in sent_on.values():  # every accepted send, the denominator of bounces and complaints
        expected.setdefault(day, Counter())["accepted"] += 1
    rows = await recorded_signals(pipe.redis, pipe.cid, ZoneInfo("UTC"), pipe.clock.now(), 86_400)
    assert [{k: v for k, v in r.items() if k != "settled"} for r in rows] == [
        {"date": d, **dict(c)} for d, c in sorted(expected.items())
    ]
    assert rows[0]["hard_bounces"] > 0


async def test_status_command_shows_quality(pipe: Pipeline, redis_url: str) -> None:
    """`status --json` carries the quality figures the emulator's log implies; `status` prints a line per identity."""
    await run_with_callbacks(pipe)
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(START + 3600))  # `status` reads the run's virtual time
    expected = emulator_counts(pipe.emu.events)
    as_json = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", pipe.cid, "--json"], env={"REDIS_URL": redis_url}
    )
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["quality"]["accepted"] == pipe.n
    assert data["quality"]["metrics"]["hard_bounce"]["count"] == expected["hard_bounce"]
    assert data["quality"]["metrics"]["delivered"]["count"] == expected["delivered"]
    assert {i["id"]: i["quality"]["window_s"] for i in data["identities"]} == {"t-id0": 86400, "t-id1": 86400}
    text = await asyncio.to_thread(CliRunner().invoke, main, ["status", pipe.cid], env={"REDIS_URL": redis_url})
    assert text.exit_code == 0, text.output
    assert text.output.count(" quality: 24h accepted ") == 2
    assert f"(n={data['identities'][0]['quality']['metrics']['hard_bounce']['sample']:,})" in text.output


async def test_daily_counts_by_day_of_send(pipe: Pipeline) -> None:
    """The daily view of an identity sums its cohorts of that local day; the day after holds nothing."""
    await run_with_callbacks(pipe)
    zone = ZoneInfo("UTC")
    store = FeedbackStore(pipe.redis)
    day = datetime.fromtimestamp(START, tz=UTC).date()
    both = [await store.daily("i", i, day, zone) for i in ("t-id0", "t-id1")]
    assert sum(d.get("accepted", 0) for d in both) == pipe.n
    assert sum(d.get("hard_bounce", 0) for d in both) == emulator_counts(pipe.emu.events)["hard_bounce"]
    assert await store.daily("i", "t-id0", day + timedelta(days=1), zone) == {}
    groups = await store.daily("g", "google", day, zone)  # gmail.com's provider group
    assert groups["accepted"] == sum(1 for s in pipe.emu.send_log if s.to_address.endswith("@gmail.com"))


async def test_callbacks_read_older_message_map_values(redis: Redis) -> None:
    """A MessageId recorded in the older "campaign:index" form is counted under identity "-" in its event's hour."""
    await redis.hset(keys.MESSAGE_IDS, "old-1", "camp-a:7")  # type: ignore[misc]
    event = {"event": "delivered", "bulkId": "old-1", "email": "a@example.com", "timestamp": int(START) + 7200}
    async with (
        callback_server(redis, VirtualClock(START)) as server,
        aiohttp.ClientSession() as session,
        session.post(server.url, json=event) as resp,
    ):
        assert resp.status == 200
    store = FeedbackStore(redis)
    assert await store.totals() == {("delivered", "-", "camp-a"): 1}
    hour = int(START) // 3600 + 2
    assert await store.buckets("c", "camp-a", [hour]) == {hour: {"delivered": 1}}
    assert parse_sent("camp-a:7") == parse_sent("camp-a:7|-|")


async def test_a_posted_event_is_always_a_callback_never_a_status_lookup(redis: Redis) -> None:
    """`source: status` marks what the follow-up learned from GetSendEmailStatus; a poster cannot claim it:
    a posted event is stored and traced as a callback (the early list keeps what the follow-up wrote)."""
    forged = {"event": "spamreport", "bulkId": "m-forged", "email": "x@example.org", "timestamp": int(START)}
    await redis.hset(keys.MESSAGE_IDS, "m-forged", "c:0|i|1.0")  # type: ignore[misc]
    async with (
        callback_server(redis, VirtualClock(START)) as server,
        aiohttp.ClientSession() as session,
        session.post(server.url, json={**forged, "source": "status"}) as resp,
    ):
        assert resp.status == 200
    [stored] = await FeedbackStore(redis).trace("m-forged")
    assert stored["source"] == "callback"
    assert parse_event(stored, stored=True).source == "callback"
    assert parse_event({**forged, "source": "status"}, stored=True).source == "status"  # what Redis kept


async def test_an_oversized_body_is_refused_however_it_is_sent(redis: Redis) -> None:
    """Past MAX_BODY_BYTES the body is a 400 whether its length was announced, sent in chunks with none,
    or compressed (a 300 KB body gzipped to a few hundred bytes is counted as it unpacks): nothing stored."""
    events = json.dumps([{"event": "open", "bulkId": "m1", "email": "a@example.com", "timestamp": 1}] * 1000)
    big = events.ljust(300 * 1024).encode()
    assert len(big) > MAX_BODY_BYTES

    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(big), 16 * 1024):
            yield big[at : at + 16 * 1024]

    before = {k: await redis.dump(k) for k in await redis.keys("*")}
    async with callback_server(redis, VirtualClock(START)) as server, aiohttp.ClientSession() as session:
        async with session.post(server.url, data=chunks()) as resp:  # Transfer-Encoding: chunked
            assert resp.status == 400
            assert "more than" in await resp.text()
        packed = gzip.compress(big)
        assert len(packed) < MAX_BODY_BYTES / 100
        async with session.post(server.url, data=packed, headers={"Content-Encoding": "gzip"}) as resp:
            assert resp.status == 400
            assert "more than" in await resp.text()
    assert {k: await redis.dump(k) for k in await redis.keys("*")} == before
