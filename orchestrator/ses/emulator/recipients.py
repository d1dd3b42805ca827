"""Simulated recipients: Tencent-shaped callback events for accepted mail, and posting them to a URL."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import structlog

from orchestrator.core.clock import Clock
from orchestrator.ses.emulator.world import Behaviour

log = structlog.get_logger(__name__)

EVENT_IDS: Final = {
    "delivered": 1,
    "dropped": 2,
    "bounce": 3,
    "open": 4,
    "click": 5,
    "spamreport": 6,
    "unsubscribe": 7,
    "deferred": 8,
}


@dataclass(frozen=True, slots=True)
class Fate:
    """What happens to one accepted mail: its events, and when it blocklists or unsubscribes."""

    events: list[dict[str, Any]]
    hard_bounce_at: float | None
    unsubscribed_at: float | None


def fate_of(
    rng: random.Random,
    behaviour: Behaviour,
    *,
    sent_at: float,
    account: str,
    from_address: str,
    to_address: str,
    message_id: str,
    template_id: int,
    subject: str,
) -> Fate:
    """Draw one mail's events with `rng`, after `sent_at` (s); `from_address` is SendEmail's parsed bare address."""
    from_domain = from_address.rpartition("@")[2]
    base = {
        "email": to_address,
        "bulkId": message_id,
        "username": account,
        "from": from_address,
        "fromDomain": from_domain,
        "templateId": template_id,
        "subject": subject,
        "messageId": f"<{message_id}@{from_domain}>",
        "sentTimestamp": int(sent_at),
        "taskId": "",
        "reason": "",
        "bounceType": "",
        "link": "",
        "useragent": "",
    }

    def event(name: str, at: float, **extra: str) -> dict[str, Any]:
        return {**base, "event": name, "eventid": EVENT_IDS[name], "timestamp": int(at), **extra}

    arrive = sent_at + rng.uniform(1, 30)
    roll = rng.random()
    if roll < behaviour.hard_bounce_rate:
        reason = "550 5.1.1 user unknown"
        return Fate([event("bounce", arrive, reason=reason, bounceType="hard_bounce")], arrive, None)
    if roll < behaviour.hard_bounce_rate + behaviour.soft_bounce_rate:
        reason = "452 4.2.2 mailbox full"
        return Fate([event("bounce", arrive, reason=reason, bounceType="soft_bounce")], None, None)
    if behaviour.delivered_rate is not None and rng.random() >= behaviour.delivered_rate:
        return Fate([event("deferred", arrive, reason="421 4.7.0 try again later")], None, None)
    events = [event("delivered", arrive)]
    unsubscribed_at: float | None = None
    if rng.random() < behaviour.open_rate:
        opened = arrive + rng.uniform(60, 6 * 3600)
        events.append(event("open", opened, useragent="Mozilla/5.0"))
        if rng.random() < behaviour.click_rate / max(behaviour.open_rate, 1e-9):
            events.append(event("click", opened + rng.uniform(5, 600), link="https://example.com/offer"))
    if rng.random() < behaviour.spamreport_rate:
        events.append(event("spamreport", arrive + rng.uniform(300, 24 * 3600)))
    if rng.random() < behaviour.unsubscribe_rate:
        unsubscribed_at = arrive + rng.uniform(120, 24 * 3600)
        events.append(event("unsubscribe", unsubscribed_at))
    events.sort(key=lambda e: e["timestamp"])
    return Fate(events, None, unsubscribed_at)


#: How many times one event is posted before the emulator gives up on it (a warning says so).
POST_TRIES: Final = 8
#: The wait on the emulator's clock before a failed event is posted again: doubling from 1 s, at most
#: this long, so a receiver down for a minute or two (a web process restarting) loses nothing.
RETRY_MAX_S: Final = 60.0


class CallbackPoster:
    """POSTs each event to the callback URL once its timestamp has come on the emulator's clock.

    Events wait in a heap by the time they may be posted (their timestamp, or a failed one's retry
    time), so a pass, and `next_at` for a virtual run that stops its clock at each event, costs only
    what is due, however many opens are scheduled days ahead.
    """

    def __init__(self, events: list[dict[str, Any]], clock: Clock, poll_s: float = 0.2) -> None:
        self._events = events
        self._clock = clock
        self._poll_s = poll_s
        self._next = 0  # events generated since the last pass start at this index
        self._heap: list[tuple[float, int, dict[str, Any]]] = []  # (may be posted at, order, event)
        self._order = itertools.count()
        self.posted = 0
        self.failed = 0  # failed attempts (each is tried again)
        self.delivered: list[dict[str, Any]] = []  # the events the receiver accepted
        self._tries: dict[int, int] = {}  # id(event) -> failed posts so far
        self._passing = asyncio.Lock()  # one pass at a time: a flush waits for the loop's pass in flight
        self._session: aiohttp.ClientSession | None = None

    async def run(self, url_of: Callable[[], str | None]) -> None:
        """Loop until cancelled; `url_of()` returns the current callback URL or None."""
        try:
            while True:
                url = url_of()
                if url:
                    await self.flush(self.session(), url)
                await asyncio.sleep(self._poll_s)
        finally:
            if self._session is not None:
                await self._session.close()

    def session(self) -> aiohttp.ClientSession:
        """The poster's HTTP session, opened on first use and closed when `run` ends."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self._session

    def _take_new(self) -> None:
        for event in self._events[self._next :]:
            heapq.heappush(self._heap, (float(event["timestamp"]), next(self._order), event))
        self._next = len(self._events)

    def next_at(self) -> float | None:
        """When the next event may be posted (its time, or a failed one's retry time); None: none waits."""
        self._take_new()
        return self._heap[0][0] if self._heap else None

    def has_due(self) -> bool:
        """Whether an event's time has come and it still waits to be posted, a failed one's retry too."""
        self._take_new()
        now = self._clock.now()
        return any(e["timestamp"] <= now for _, _, e in self._heap)

    def due(self, now_too: bool = False) -> list[dict[str, Any]]:
        """Events whose time has come and that were not posted yet; a failed one once its retry time
        has come too, or at once with `now_too` (an explicit flush)."""
        self._take_new()
        now = self._clock.now()
        if now_too:
            taken = [e for _, _, e in self._heap if e["timestamp"] <= now]
            self._heap = [item for item in self._heap if item[2]["timestamp"] > now]
            heapq.heapify(self._heap)
        else:
            taken = []
            while self._heap and self._heap[0][0] <= now:
                taken.append(heapq.heappop(self._heap)[2])
        return sorted(taken, key=lambda e: e["timestamp"])

    async def flush(self, session: aiohttp.ClientSession, url: str, now_too: bool = False) -> None:
        """Post what is due, once; a pass already under way (the loop's) ends first, so after this
        returns every event taken so far has its answer in `delivered` or back in the heap."""
        async with self._passing:
            await self._pass(session, url, now_too)

    async def _pass(self, session: aiohttp.ClientSession, url: str, now_too: bool = False) -> None:
        for event in self.due(now_too):
            try:
                async with session.post(url, json=event) as resp:
                    await resp.read()
                    ok = resp.status < 300
            except (aiohttp.ClientError, TimeoutError) as exc:
                ok = False
                log.debug("emulator_callback_failed", error=type(exc).__name__)
            if ok:
                self.posted += 1
                self.delivered.append(event)
            else:
                self.failed += 1
                tries = self._tries[id(event)] = self._tries.get(id(event), 0) + 1
                if tries < POST_TRIES:  # posted again once its wait is over
                    retry_at = self._clock.now() + min(2.0 ** (tries - 1), RETRY_MAX_S)
                    heapq.heappush(self._heap, (retry_at, next(self._order), event))
                else:
                    log.warning("emulator_callback_given_up", kind=event.get("event"), tries=tries)
