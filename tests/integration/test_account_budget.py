"""The per-account API budget: evenly spaced call slots shared through Redis, checked where Tencent counts."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import SystemClock, VirtualClock
from orchestrator.core.sending import OutcomeKind, SendRequest
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Account, RunningEmulator, World, run_emulator
from orchestrator.settings import Settings
from orchestrator.store import keys
from orchestrator.store.account_budget import RESTART_LOSS_S, RedisAccountBudget
from orchestrator.store.connection import redis_from_url
from tests.pipeline_helpers import max_in_rolling_window
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning")]

RATE = AccountRate(rate_per_s=18.0, other_per_s=2.0, guard_s=0.05, max_wait_s=30.0)
T0 = 1_796_000_000.0


@pytest.fixture
async def clients(redis_url: str, redis: Redis) -> AsyncIterator[list[Redis]]:
    """Three separate connections, as three worker hosts would have (the `redis` fixture empties the db)."""
    conns = [redis_from_url(redis_url) for _ in range(3)]
    yield conns
    for c in conns:
        await c.aclose()


async def wait_of(budget: RedisAccountBudget, account: str, kind: CallKind) -> float | None:
    """The wait for the slot reserved, or None when the budget refused it."""
    ok, wait = await budget.reserve(account, kind)
    return wait if ok else None


async def _slots(budgets: list[RedisAccountBudget], n: int, kind: CallKind, clock: VirtualClock) -> list[float]:
    """Reserve `n` slots concurrently, spread over the budgets; the times the calls may leave."""
    now = clock.now()
    waits = await asyncio.gather(*(wait_of(budgets[i % len(budgets)], "default", kind) for i in range(n)))
    assert all(w is not None for w in waits)
    return sorted(now + w for w in waits if w is not None)


async def test_account_budget_spaces_slots_across_processes(clients: list[Redis]) -> None:
    """Concurrent callers on three connections get slots one gap apart: the rate holds in every window."""
    clock = VirtualClock(T0)
    budgets = [RedisAccountBudget(c, clock, RATE) for c in clients]
    slots = await _slots(budgets, 100, CallKind.SEND, clock)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(RATE.gap_s(CallKind.SEND), abs=1e-6)
    assert slots[0] == T0
    assert max_in_rolling_window(slots, 1.0 + RATE.guard_s) <= RATE.send_per_s
    assert max_in_rolling_window(slots, 1.0) <= RATE.send_per_s


async def test_account_budget_reserves_a_share_for_lookups(clients: list[Redis]) -> None:
    """With sends booked seconds ahead, a status lookup still leaves at once and the total stays in budget."""
    clock = VirtualClock(T0)
    budget = RedisAccountBudget(clients[0], clock, RATE)
    sends = await _slots([budget], 80, CallKind.SEND, clock)
    assert sends[-1] - T0 > 4.0  # the send timeline is booked well ahead
    others = await _slots([budget], 10, CallKind.OTHER, clock)
    assert others[0] == T0
    assert max_in_rolling_window(sends + others, 1.0 + RATE.guard_s) <= RATE.rate_per_s


async def test_account_budget_never_bursts_after_an_outage(clients: list[Redis]) -> None:
    """Slots not used in their moment are gone: after a pause of minutes, calls resume at the rate, not in a burst."""
    clock = VirtualClock(T0)
    budget = RedisAccountBudget(clients[0], clock, RATE)
    await _slots([budget], 30, CallKind.SEND, clock)
    clock.advance(300.0)
    after = await _slots([budget], 40, CallKind.SEND, clock)
    assert after[0] == clock.now()
    assert max_in_rolling_window(after, 1.0) <= RATE.send_per_s


async def test_account_budget_refuses_a_slot_too_far_ahead(clients: list[Redis]) -> None:
    """A call whose slot is more than max_wait_s away is refused at once, and books nothing."""
    clock = VirtualClock(T0)
    rate = AccountRate(rate_per_s=3.0, other_per_s=1.0, guard_s=0.0, max_wait_s=2.1)
    budget = RedisAccountBudget(clients[0], clock, rate)
    waits = [await wait_of(budget, "default", CallKind.SEND) for _ in range(6)]
    assert waits[0] == 0.0
    assert waits[1:5] == [pytest.approx(k * 0.5, abs=1e-4) for k in range(1, 5)]
    assert waits[5] is None
    clock.advance(0.5)
    assert await wait_of(budget, "default", CallKind.SEND) == pytest.approx(2.0, abs=1e-4)


async def test_account_budget_call_woken_late_books_a_new_slot(clients: list[Redis]) -> None:
    """A call whose process stalled past its slot does not go then, on top of later slots' calls: it books again."""
    clock = VirtualClock(T0)
    gap = RATE.gap_s(CallKind.SEND)
    others = RedisAccountBudget(clients[1], clock, RATE)  # other workers, on time
    stalled = [0.3]

    async def sleep(wait_s: float) -> None:
        # While this process is held up, the others book the next ten slots; it wakes 0.3 s late.
        await _slots([others], 10, CallKind.SEND, clock)
        clock.advance(wait_s + (stalled.pop() if stalled else 0.0))

    await _slots([others], 1, CallKind.SEND, clock)  # T0
    budget = RedisAccountBudget(clients[0], clock, RATE, sleep=sleep, monotonic=clock.now)
    assert await budget.acquire("default", CallKind.SEND) is None
    # Its first slot was T0 + gap; it woke at T0 + gap + 0.3 and went at the slot after the others' ten.
    assert clock.now() == pytest.approx(T0 + 12 * gap, abs=1e-6)


async def test_account_budget_keeps_accounts_apart(clients: list[Redis]) -> None:
    """Two Tencent accounts have two budgets: one account's queue never delays the other."""
    clock = VirtualClock(T0)
    budget = RedisAccountBudget(clients[0], clock, RATE)
    await _slots([budget], 50, CallKind.SEND, clock)
    assert await wait_of(budget, "marketing", CallKind.SEND) == 0.0


@pytest.fixture
async def emulator_20_per_s() -> AsyncIterator[RunningEmulator]:
    """The emulator enforcing Tencent's 20 calls/s per account, on the real clock."""
    world = World(
        accounts=[Account(name="default", secret_id="AKIDbudget", secret_key="budget-secret-key")],
        permissive=True,
        account_rate_per_s=20.0,
        per_address_per_hour=None,
    )
    async with run_emulator(world, clock=SystemClock()) as running:
        yield running


@pytest.mark.slow
async def test_sender_with_budget_holds_tencents_rate_at_the_provider(
    clients: list[Redis], emulator_20_per_s: RunningEmulator
) -> None:
    """Three senders sharing one budget fire 120 sends at once: the emulator sees every rolling second within budget."""
    settings = Settings(
        _env_file=None,
        SES_ENDPOINT=emulator_20_per_s.url,
        TENCENTCLOUD_SECRET_ID="AKIDbudget",
        TENCENTCLOUD_SECRET_KEY="budget-secret-key",
    )
    senders = [
        TencentSender(settings, budget=RedisAccountBudget(c, SystemClock(), settings.account_rate())) for c in clients
    ]
    try:
        outcomes = await asyncio.gather(
            *(
                senders[i % 3].send(
                    SendRequest("default", "News <news@d.example.com>", f"u{i}@example.org", 1, {}, "Hi")
                )
                for i in range(120)
            )
        )
    finally:
        for s in senders:
            await s.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.ACCEPTED] * 120
    times = [r.time for r in emulator_20_per_s.send_log]
    assert len(times) == 120
    # The slots are spaced for SendEmail's share (16/s); at the provider, arrival jitter of a busy
    # event loop may bunch two of them, but never past the account's rate, below Tencent's 20/s.
    assert max_in_rolling_window(times, 1.0) <= settings.account_rate().rate_per_s


async def test_account_budget_after_a_restart_waits_out_reservations_it_may_have_lost(
    clients: list[Redis], redis_server: RedisServer
) -> None:
    """A restarted Redis may have lost the last reservations: no new slot before they could all have been used."""
    clock = VirtualClock(T0)
    budget = RedisAccountBudget(clients[0], clock, RATE)
    await _slots([budget], 5, CallKind.SEND, clock)
    assert await wait_of(budget, "default", CallKind.OTHER) == 0.0
    # What a restart does to the budget: the AOF-backed hash remains, written by another server's run.
    await clients[0].hset(keys.account_budget("default"), "run", "an-earlier-run")
    clock.advance(0.5)
    floor = min(clock.now(), T0 + RESTART_LOSS_S) + RATE.max_wait_s
    assert await wait_of(budget, "default", CallKind.OTHER) == pytest.approx(floor - clock.now())
    clock.set(floor)
    assert await wait_of(budget, "default", CallKind.SEND) == 0.0
    # Long idle before the restart: nothing can have been lost, nothing waits.
    clock.advance(3600.0 - 1.0)
    await clients[0].hset(keys.account_budget("default"), "run", "an-earlier-run")
    assert await wait_of(budget, "default", CallKind.SEND) == 0.0


@pytest.mark.parametrize("rewrite", [False, True], ids=["aof", "aof-rewritten-before-the-crash"])
async def test_account_budget_knows_a_restart_whatever_the_aof_kept(
    clients: list[Redis], redis_server: RedisServer, rewrite: bool
) -> None:
    """After a real SIGKILL and restart of redis-server the first slot waits out what the crash may have
    lost, also when an AOF rewrite (or an RDB snapshot, or a replica's full sync) had stored the whole
    budget just before: the server's run_id changed, whatever the data carried over."""
    clock = VirtualClock(T0)
    budget = RedisAccountBudget(clients[0], clock, RATE)
    await clients[0].execute_command("CONFIG", "SET", "appendfsync", "always")
    assert await wait_of(budget, "default", CallKind.SEND) == 0.0
    if rewrite:
        await clients[0].execute_command("BGREWRITEAOF")
        for _ in range(100):
            if (await clients[0].info("persistence"))["aof_rewrite_in_progress"] == 0:
                break
            await asyncio.sleep(0.05)
    redis_server.restart()
    assert await clients[1].hget(keys.account_budget("default"), "send") is not None  # the AOF kept it
    after = RedisAccountBudget(clients[1], clock, RATE)
    assert await wait_of(after, "default", CallKind.SEND) == pytest.approx(RATE.max_wait_s, abs=0.01)


async def test_account_budget_lookups_borrow_idle_send_slots(clients: list[Redis]) -> None:
    """With SendEmail idle, lookups are not held to their reserved 2/s: they take the send timeline's free slots."""
    clock = VirtualClock(T0)
    budget = RedisAccountBudget(clients[0], clock, RATE)
    others = await _slots([budget], 9, CallKind.OTHER, clock)
    assert others[-1] - others[0] < 1.0  # nine lookups in under a second, not four and a half seconds
    assert max_in_rolling_window(others, 1.0 + RATE.guard_s) <= RATE.rate_per_s
    sends = await _slots([budget], 16, CallKind.SEND, clock)
    assert max_in_rolling_window(sends + others, 1.0 + RATE.guard_s) <= RATE.rate_per_s


async def test_account_budget_without_a_clock_uses_redis_time(clients: list[Redis]) -> None:
    """In production the budget reads Redis's clock, so hosts whose clocks differ still share one timeline."""
    budget = RedisAccountBudget(clients[0], None, RATE)
    assert await wait_of(budget, "default", CallKind.SEND) == 0.0
    server_s, server_us = await clients[0].time()
    last = float(await clients[0].hget(keys.account_budget("default"), "last"))
    assert abs(last - (server_s + server_us / 1e6)) < 1.0
    assert await wait_of(budget, "default", CallKind.SEND) == pytest.approx(RATE.gap_s(CallKind.SEND), abs=0.05)


async def test_a_send_that_waited_for_its_slot_is_not_made_once_its_campaign_stopped(clients: list[Redis]) -> None:
    """A send claimed before a pause but still waiting for its API slot asks again once the slot comes:
    its campaign no longer sends, so the call is not made (NOT_CALLED: the recipient goes back, unsent)
    and the emulator never sees it. A send that did not wait, or whose campaign still sends, goes out."""
    rate = AccountRate(rate_per_s=1.5, other_per_s=0.5, guard_s=0.05, max_wait_s=30.0)  # a slot every ~0.7 s
    world = World(
        accounts=[Account(name="default", secret_id="AKIDbudget", secret_key="budget-secret-key")],
        permissive=True,
        per_address_per_hour=None,
    )
    asked: list[str] = []

    def wanted(name: str, answer: bool) -> Any:
        async def ask() -> bool:
            asked.append(name)
            return answer

        return ask

    async with run_emulator(world, clock=SystemClock()) as emu:
        settings = Settings(
            _env_file=None,
            SES_ENDPOINT=emu.url,
            TENCENTCLOUD_SECRET_ID="AKIDbudget",
            TENCENTCLOUD_SECRET_KEY="budget-secret-key",
        )
        sender = TencentSender(settings, budget=RedisAccountBudget(clients[0], SystemClock(), rate))
        try:
            outcomes = []
            for name, answer in (("first", False), ("paused", False), ("running", True)):
                request = SendRequest(
                    "default",
                    "News <news@d.example.com>",
                    f"{name}@example.org",
                    1,
                    {},
                    "Hi",
                    still_wanted=wanted(name, answer),
                )
                outcomes.append(await sender.send(request))
        finally:
            await sender.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.ACCEPTED, OutcomeKind.NOT_CALLED, OutcomeKind.ACCEPTED]
    assert asked == ["paused", "running"]  # the first took a free slot at once: nothing to ask
    assert [r.to_address for r in emu.send_log] == ["first@example.org", "running@example.org"]


async def test_the_workers_ask_the_campaigns_stored_state(redis: Redis) -> None:
    """What a send job asks after a long wait for its slot: is the campaign still running in Redis."""
    from workers.send import _still_sending

    await redis.hset(keys.campaign("c-1"), "state", "running")
    assert await _still_sending(redis, "c-1") is True
    for state in ("paused", "cancelled", "completed"):
        await redis.hset(keys.campaign("c-1"), "state", state)
        assert await _still_sending(redis, "c-1") is False
    assert await _still_sending(redis, "gone") is False
