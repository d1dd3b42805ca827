"""Generated callback bodies: never a traceback, a one-line reason naming the place, and counts that replays
and reordering cannot change.

Bodies are parsed in-process with `parse_body` (what the route calls); the counting cases go through
the real callback route over HTTP to one Redis, cleaned between cases.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from orchestrator.core.callback_event import MAX_EVENTS, REASON_CHARS, BadEventError, parse_body
from orchestrator.core.clock import VirtualClock
from orchestrator.core.quality import metric_of
from orchestrator.store import keys
from orchestrator.store.connection import redis_from_url
from orchestrator.store.feedback import FeedbackStore, message_value
from tests.callback_app import callback_server
from tests.property.conftest import EXAMPLES, HOSTILE, SEEDED
from tests.redis_server import RedisServer
from tests.spec_events import SPEC_METRICS, SPEC_SUPPRESSING, spec_metric

#: The event names Tencent sends (spec/tencent-ses.md), each once.
EVENTS = sorted({event for event, _ in SPEC_METRICS})
ODD = ["", "\x00", "\x1b[2J", "\u202e", "<script>", "=cmd|' /C calc'!A0", "한국", "a" * 300, "\ud800"]
FIELDS = ["event", "bulkId", "email", "timestamp", "fromDomain", "from", "bounceType", "reason", "source"]


def _odd_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2**40, 2**63, 10**30, 1.5, float("nan"), float("inf")])
    if kind in (2, 3, 4, 5):
        return rng.choice([*ODD, *EVENTS, "hard_bounce", "17", "x@example.com"])
    if kind in (6, 7):
        return [_odd_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(FIELDS + ODD): _odd_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _good_event(rng: random.Random) -> dict[str, Any]:
    """A well-formed event of one of five messages (each message has one recipient, as at Tencent)."""
    n = rng.randrange(5)
    return {
        "event": rng.choice(EVENTS),
        "bulkId": f"m{n}",
        "email": f"u{n}@example.com",
        "timestamp": 1_700_000_000 + rng.randrange(100),
        "fromDomain": "news.example.com",
        "bounceType": rng.choice(["hard_bounce", "soft_bounce", ""]),
    }


PLACE = re.compile(r"body(\[\d+\])?(\.\w+)?: ")
SURROGATE_BODY = json.dumps(
    {"event": "unsubscribe", "bulkId": "m1", "email": "a@example.com", "timestamp": 1, "fromDomain": "\ud800"}
).encode()


def odd_body(seed: int) -> bytes:
    """A body: random JSON, a good event with one field bent, a list of both, or bytes that are no JSON."""
    rng = random.Random(seed)
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if kind == 1:
        return json.dumps(_odd_json(rng)).encode("utf-8", "surrogatepass")
    event = _good_event(rng)
    for _ in range(rng.randint(1, 2)):
        name = rng.choice(FIELDS)
        if rng.random() < 0.3:
            event.pop(name, None)
        else:
            event[name] = _odd_json(rng)
    if kind == 2:
        body: Any = event
    elif kind == 3:
        body = [_good_event(rng) for _ in range(rng.randint(0, 3))] + [event]
    elif kind == 4:
        body = [event] * rng.choice([MAX_EVENTS, MAX_EVENTS + 1])
    else:
        body = _good_event(rng)
    return json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


@HOSTILE
@SEEDED
@given(body=st.integers(0, 2**64).map(odd_body))
@example(body=b"[" * 100_000 + b"]" * 100_000).via("nested deeper than the JSON decoder recurses: was a 500")
@example(body=SURROGATE_BODY).via("a lone surrogate, escaped as JSON allows, could not be stored: was a 500")
def test_generated_callback_body_is_events_or_one_placed_reason(body: bytes) -> None:
    """Any body gives checked events or a BadEventError naming the body or the event's field, in one line."""
    try:
        events = parse_body(body)
    except BadEventError as exc:
        reason = str(exc)
        assert PLACE.match(reason), reason  # body, body.field, body[n] or body[n].field
        assert "\n" not in reason
        return
    assert 1 <= len(events) <= MAX_EVENTS
    for e in events:
        e.as_json().encode("utf-8")  # what the store writes: valid UTF-8 or it fails in Redis's client
        assert e.metric == spec_metric(e.event, e.bounce_type)
        assert e.address.count("@") == 1
        assert len(e.reason) <= REASON_CHARS


@pytest.mark.parametrize(("event", "bounce_type"), [*SPEC_METRICS, ("bounce", "")])
def test_each_event_of_the_spec_counts_in_the_spec_metric(event: str, bounce_type: str) -> None:
    """Each event the spec names (a bounce of each type, and one without a type) counts in the metric the
    tests' own table gives it (tests/spec_events.py), parsed from a body as from `metric_of` itself."""
    body = {"event": event, "bulkId": "m1", "email": "a@example.com", "timestamp": 1, "fromDomain": "news.example.com"}
    [parsed] = parse_body(json.dumps({**body, "bounceType": bounce_type}).encode())
    assert parsed.metric == metric_of(event, bounce_type) == spec_metric(event, bounce_type)


# --- counting over HTTP: replays and reordering change nothing -----------------------------------

#: MessageId -> the send it stands for ("campaign:index|identity|sent_at"); m4 has no send yet.
SENDS = {f"m{i}": message_value(f"c{i % 2}", i, f"id-{i % 3}", 1_700_000_000.0) for i in range(4)}


@dataclass
class Served:
    redis: Redis
    session: aiohttp.ClientSession
    url: str


@pytest.fixture(scope="module")
def served(redis_server: RedisServer, loop: asyncio.Runner) -> Iterator[Served]:
    """One callback route on one Redis for every generated case."""
    stack = AsyncExitStack()

    async def start() -> Served:
        redis = redis_from_url(redis_server.url)
        stack.push_async_callback(redis.aclose)
        server = await stack.enter_async_context(callback_server(redis, VirtualClock(1_700_000_000.0)))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        return Served(redis, session, server.url)

    yield loop.run(start())
    loop.run(stack.aclose())


def expected_counts(events: list[dict[str, Any]]) -> tuple[Counter[tuple[str, str, str]], set[tuple[str, str]]]:
    """Each metric once per message with a known send; an unknown one waits for its send to be counted. A
    suppressing event suppresses its address either way (a complaint after the send's record is gone)."""
    totals: Counter[tuple[str, str, str]] = Counter()
    seen: set[tuple[str, str]] = set()
    suppressed: set[tuple[str, str]] = set()
    for e in events:
        metric = spec_metric(e["event"], e["bounceType"])
        scope = SPEC_SUPPRESSING.get(metric)
        if scope is not None:
            assert scope == "all" or e["fromDomain"], f"an unsubscribe without a sender domain was accepted: {e}"
            key = keys.SUPPRESS_ALL if scope == "all" else keys.suppression(e["fromDomain"])
            suppressed.add((key, e["email"]))
        if e["bulkId"] in SENDS and (e["bulkId"], metric) not in seen:
            seen.add((e["bulkId"], metric))
            head, identity, _ = SENDS[e["bulkId"]].split("|")
            totals[metric, identity, head.split(":")[0]] += 1
    return totals, suppressed


def accepted_events(body: bytes) -> list[dict[str, Any]]:
    """The events of an odd body the route accepted, as `expected_counts` reads them: no bounceType is "",
    and the sender domain is `fromDomain` when that is a domain name, else the domain of `from`.

    Of the values odd bodies are made of, only the good events' domain has a dot and no '@'.
    """
    data = json.loads(body)
    out = []
    for obj in data if isinstance(data, list) else [data]:
        assert isinstance(obj, dict), f"accepted, but not an event: {obj!r:.200}"
        assert obj.get("event") in EVENTS, f"accepted, but no event Tencent sends: {obj!r:.200}"
        assert isinstance(obj.get("bulkId"), str), f"accepted without a MessageId: {obj!r:.200}"
        assert isinstance(obj.get("email"), str), f"accepted without an address: {obj!r:.200}"
        domain = obj.get("fromDomain") or ""
        if "." not in domain or "@" in domain:
            domain = (obj.get("from") or "").rpartition("@")[2]
        out.append({**obj, "bounceType": obj.get("bounceType") or "", "fromDomain": domain})
    return out


async def _post_all(s: Served, bodies: list[Any]) -> None:
    for body in bodies:
        async with s.session.post(s.url, data=json.dumps(body)) as resp:
            assert resp.status == 200, await resp.text()


async def _post_odd(s: Served, body: bytes) -> int:
    async with s.session.post(s.url, data=body) as resp:
        assert resp.status in (200, 400), await resp.text()
        return resp.status


async def _state(s: Served) -> tuple[dict[tuple[str, str, str], int], set[tuple[str, str]]]:
    totals = await FeedbackStore(s.redis).totals()
    suppressed = {
        (key, field)
        for key in await s.redis.keys(f"{keys.PREFIX}supp:*")
        for field in await s.redis.hkeys(key)  # type: ignore[misc]
    }
    return totals, suppressed


async def _count_twice(s: Served, seed: int) -> None:
    rng = random.Random(seed)
    events = [_good_event(rng) for _ in range(rng.randint(1, 12))]
    odd = odd_body(seed)
    states, statuses = [], []
    for order in range(2):
        await s.redis.flushdb()
        await s.redis.hset(keys.MESSAGE_IDS, mapping=SENDS)  # type: ignore[misc]
        if order == 0:  # in order, then the odd body
            await _post_all(s, events)
            statuses.append(await _post_odd(s, odd))
        else:  # reordered, a third of them posted again, some in lists, the odd body somewhere among them
            replayed = events + rng.sample(events, len(events) // 3)
            rng.shuffle(replayed)
            cut = rng.randint(0, len(replayed))
            bodies: list[Any] = [replayed[:cut], *replayed[cut:]] if cut else replayed
            at = rng.randint(0, len(bodies))
            await _post_all(s, bodies[:at])
            statuses.append(await _post_odd(s, odd))
            await _post_all(s, bodies[at:])
        states.append(await _state(s))
    assert statuses[0] == statuses[1]
    # An odd body the route accepted counts as any other: its events are expected too.
    want = expected_counts(events + (accepted_events(odd) if statuses[0] == 200 else []))
    assert states[0] == (dict(want[0]), want[1])
    assert states[1] == states[0]


@settings(HOSTILE, max_examples=max(50, EXAMPLES // 8))
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_replayed_and_reordered_callbacks_count_alike(served: Served, loop: asyncio.Runner, seed: int) -> None:
    """Events posted in order, or shuffled with replays, with an odd body among them, give the same counts: those
    of the events and of the odd body's events when the route accepted it."""
    loop.run(_count_twice(served, seed))
