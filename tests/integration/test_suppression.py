"""The suppression store through submit, claim and the send job; Tencent's blocklist mirrored over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator import blocklist, export
from orchestrator.core.callback_event import CallbackEvent
from orchestrator.ses.client import TencentSender
from orchestrator.settings import Settings
from orchestrator.store import keys
from orchestrator.store import suppression as store
from orchestrator.store.feedback import FeedbackStore
from orchestrator.store.suppression import BLOCKLIST_KEEP_S, BlockEntry, Entry
from orchestrator.submit import submit
from tests.pipeline_harness import VICTIM, Pipeline, recipients_csv, settings_for
from tests.pipeline_helpers import load, write_campaign
from workers.settings import process_options

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

NOW = 1_800_000_000.0
#: A campaign sending from d1.example.com (the pipeline's default campaign sends from d0).
FROM_D1 = {"identities": [{"id": "b-id0", "from": "News <news@d1.example.com>"}]}


async def _submit_from(redis: Redis, tmp_path: Path, name: str, extra: dict[str, object] | None, now: float) -> int:
    """Submit 12 recipients (user1@naver.com among them); the number suppressed."""
    path = write_campaign(tmp_path, 12, name=name, identities=1, extra=extra)
    campaign, fp = load(path)
    return (await submit(redis, campaign, fp, now, str(path), force_new=True)).stats.suppressed  # one list, twice


async def test_domain_entry_suppresses_that_sender_domain_only(redis: Redis, tmp_path: Path) -> None:
    """An unsubscribe from d0 drops the address from d0's later campaigns, not from d1's."""
    await store.put(redis, [Entry("user1@naver.com", "d0.example.com", "unsubscribed", NOW, "unsubscribe")], NOW)
    assert await _submit_from(redis, tmp_path, "a", None, NOW) == 1
    assert await _submit_from(redis, tmp_path, "b", FROM_D1, NOW) == 0


async def test_all_domains_entry_suppresses_everywhere(redis: Redis, tmp_path: Path) -> None:
    """An all-domains entry drops the address from every sender domain's campaign."""
    await store.put(redis, [Entry("user1@naver.com", "", "spam report", NOW, "complaint")], NOW)
    assert await _submit_from(redis, tmp_path, "a", None, NOW) == 1
    assert await _submit_from(redis, tmp_path, "b", FROM_D1, NOW) == 1


@pytest.mark.parametrize(
    ("bounced_ago_s", "suppressed"),
    [
        pytest.param(3600.0, 1, id="fresh"),
        pytest.param(BLOCKLIST_KEEP_S + 1.0, 0, id="expired"),
    ],
)
async def test_blocklist_entry_suppresses_until_it_expires(
    redis: Redis, tmp_path: Path, bounced_ago_s: float, suppressed: int
) -> None:
    """A blocklist entry drops the address (whatever its case) until 14 days after the bounce."""
    await store.block(redis, BlockEntry("user1@naver.com", NOW - bounced_ago_s, 0.0, "550", "default"), NOW)
    assert await _submit_from(redis, tmp_path, "a", None, NOW) == suppressed


async def test_old_sets_become_hashes_with_the_legacy_reason(redis: Redis) -> None:
    """Lists written as SETs by the old code are converted on first use, reason and source kept apart."""
    await redis.sadd(keys.BLOCKLIST, "Kim@Example.com")
    await redis.sadd(keys.suppression("d0.example.com"), "Lee@example.com")
    entries = await store.entries(redis, None, NOW)
    assert [(e.address, e.sender_domain, e.reason, e.source) for e in entries] == [
        ("Lee@example.com", "d0.example.com", store.LEGACY_REASON, "unsubscribe")
    ]
    mirror = await store.blocklist(redis, NOW)
    assert [(e.address, e.reason, e.expires_at) for e in mirror] == [
        ("kim@example.com", store.LEGACY_REASON, NOW + BLOCKLIST_KEEP_S)
    ]
    assert {await redis.type(keys.BLOCKLIST), await redis.type(keys.suppression("d0.example.com"))} == {"hash"}
    assert await store.migrate_all(redis, NOW) == 0  # nothing left to convert


@pytest.mark.parametrize(
    ("sender_domain", "source", "state"),
    [
        pytest.param("d0.example.com", "operator", "s|domain:operator", id="same-domain"),
        pytest.param("", "complaint", "s|all:complaint", id="all-domains"),
    ],
)
async def test_entry_added_after_submit_stops_the_send(
    pipe: Pipeline, sender_domain: str, source: str, state: str
) -> None:
    """An entry written between submit and send: the claim sees it, nothing is sent, the reason is recorded."""
    await pipe.submit(recipients_csv())
    now = pipe.clock.now()
    await store.put(pipe.redis, [Entry(VICTIM, sender_domain, "asked by phone", now, source)], now)
    await pipe.run(3600)
    states = await pipe.states()
    assert pipe.sent_to(VICTIM) == []
    assert states.pop(VICTIM) == state
    assert {s[:2] for s in states.values()} == {"a|"}
    traced = await pipe.events("send_suppressed")
    assert [(e.data.get("code"), e.data.get("detail")) for e in traced] == [(state[2:], "asked by phone")]
    # No call was made: the export counts no try (the claim had numbered it the first).
    [row] = [r async for r in export.rows(pipe.redis, pipe.cid) if r["email"] == VICTIM]
    assert (row["state"], row["reason"], row["attempts"]) == ("suppressed", state[2:], 0)


async def test_other_domain_entry_after_submit_does_not_stop_the_send(pipe: Pipeline) -> None:
    """An entry for another sender domain leaves this campaign's send alone."""
    await pipe.submit(recipients_csv())
    now = pipe.clock.now()
    await store.put(pipe.redis, [Entry(VICTIM, "d1.example.com", "elsewhere", now, "unsubscribe")], now)
    await pipe.run(3600)
    assert len(pipe.sent_to(VICTIM)) == 1


async def test_synced_blocklist_stops_the_send_and_release_clears_it(pipe: Pipeline) -> None:
    """Tencent lists the address: after `sync` it is never sent; `release` calls DeleteBlackList and clears our copy."""
    pipe.emu.service.blocked[VICTIM] = pipe.clock.now() - 3600
    await pipe.submit(recipients_csv())
    async with TencentSender(settings_for(pipe.emu)) as sender:
        report = await blocklist.sync(pipe.redis, sender, pipe.clock.now())
        assert report.accounts == {"default": {"listed": 1, "added": 1, "removed": 0}}
        await pipe.run(3600)
        assert pipe.sent_to(VICTIM) == []
        assert (await pipe.states())[VICTIM] == "s|blocklist"
        released = await blocklist.release(pipe.redis, sender, VICTIM.upper(), pipe.clock.now())
    assert (released.address, released.account) == (VICTIM, "default")
    deletes = [c for c in pipe.emu.call_log if c.action == "DeleteBlackList"]
    assert [(c.account, c.error) for c in deletes] == [("default", None)]
    assert VICTIM not in pipe.emu.service.blocked
    assert await store.blocklist(pipe.redis, pipe.clock.now()) == []


async def test_sync_drops_what_tencent_no_longer_lists(pipe: Pipeline) -> None:
    """An address Tencent released elsewhere (the console) leaves the mirror at the next sync; others stay."""
    now = pipe.clock.now()
    pipe.emu.service.blocked.update({"a@example.org": now - 60, "b@example.org": now - 60})
    async with TencentSender(settings_for(pipe.emu)) as sender:
        await blocklist.sync(pipe.redis, sender, now)
        del pipe.emu.service.blocked["a@example.org"]
        report = await blocklist.sync(pipe.redis, sender, now + 60)
    assert report.accounts["default"] == {"listed": 1, "added": 0, "removed": 1}
    assert [e.address for e in await store.blocklist(pipe.redis, now)] == ["b@example.org"]


async def test_release_of_an_unknown_address_calls_nothing(pipe: Pipeline) -> None:
    """An address not in the mirror is refused before any call to Tencent."""
    async with TencentSender(settings_for(pipe.emu)) as sender:
        with pytest.raises(blocklist.NotBlockedError, match="not in the blocklist mirror"):
            await blocklist.release(pipe.redis, sender, "nobody@example.org", pipe.clock.now())
    assert [c for c in pipe.emu.call_log if c.action == "DeleteBlackList"] == []


@pytest.mark.parametrize("address", ["bad", "", "a b@example.com"])
def test_release_of_no_address_is_a_usage_error(address: str) -> None:
    """A mistyped ADDRESS exits 2 naming the argument, before any connection or credentials (it exited 1)."""
    from click.testing import CliRunner

    from orchestrator.cli import main

    out = CliRunner().invoke(main, ["blocklist", "release", address], env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert out.exit_code == 2, out.output
    assert "error: ADDRESS: not an e-mail address: " in out.output


async def test_a_worker_converts_the_older_lists_before_its_first_claim(redis: Redis, redis_url: str) -> None:
    """A worker started on a Redis written by an older version finds hashes, not SETs, at its first claim."""
    await redis.sadd(keys.BLOCKLIST, "old@example.net")
    await redis.sadd(keys.suppression("news.example.com"), "gone@example.com")
    await redis.zadd(keys.CAMPAIGNS, {"c1": 1.0})
    settings = Settings(_env_file=None, REDIS_URL=redis_url)
    options = process_options(settings)
    ctx: dict[str, Any] = {}
    await options["on_startup"](ctx)
    try:
        assert await redis.type(keys.BLOCKLIST) == "hash"
        assert await redis.type(keys.suppression("news.example.com")) == "hash"
        assert "old@example.net" in await redis.hkeys(keys.BLOCKLIST)
    finally:
        await options["on_shutdown"](ctx)


@pytest.mark.parametrize(
    ("written", "listed"),
    [
        pytest.param("USER1@naver.com", "user1@naver.com", id="a-complaint-in-capitals"),
        pytest.param("user1@naver.com", "User1@naver.com", id="a-list-in-capitals"),
    ],
)
async def test_suppression_holds_whatever_the_case_of_the_address(
    redis: Redis, tmp_path: Path, written: str, listed: str
) -> None:
    """A complaint reported as `USER1@` stops `user1@`, and one reported as `user1@` stops `User1@` in a
    later list: mailbox providers and Tencent read the local part without case."""
    event = CallbackEvent("m1", "spamreport", "complaint", int(NOW), written, "d0.example.com", "", "", "callback")
    await FeedbackStore(redis).ingest([event], NOW)
    csv = "email,first_name\n" + "".join(f"{listed if n == 1 else f'user{n}@naver.com'},N{n}\n" for n in range(12))
    path = write_campaign(tmp_path, 12, name="a", identities=1, csv_text=csv)
    campaign, fp = load(path)
    assert (await submit(redis, campaign, fp, NOW, str(path))).stats.suppressed == 1
    assert await store.suppressed_why(redis, [listed.upper(), listed], [], NOW) == ["all:complaint"] * 2


async def test_an_entry_written_before_lists_were_folded_still_stops_its_address(redis: Redis) -> None:
    """`Lee@example.com` stored as written by an older release: still found for that exact address."""
    await redis.hset(keys.SUPPRESS_ALL, "Lee@example.com", '{"reason":"x","at":1,"source":"import"}')
    assert await store.suppressed_why(redis, ["Lee@example.com", "lee@example.com"], [], NOW) == ["all:import", ""]
    assert await store.remove(redis, "Lee@example.com", "", NOW)
    assert await redis.hlen(keys.SUPPRESS_ALL) == 0


async def test_a_complaint_in_other_capitals_after_submit_stops_the_send(pipe: Pipeline) -> None:
    """Listed as `Victim@`, reported by a callback as `victim@` between submit and send: the claim finds it."""
    capitalised = "V" + VICTIM[1:]
    await pipe.submit(recipients_csv().replace(VICTIM, capitalised))
    now = pipe.clock.now()
    event = CallbackEvent("m9", "spamreport", "complaint", int(now), VICTIM, "d0.example.com", "", "", "callback")
    await FeedbackStore(pipe.redis).ingest([event], now)
    await pipe.run(3600)
    assert pipe.sent_to(capitalised) == []
    assert (await pipe.states()).pop(capitalised) == "s|all:complaint"


async def test_every_writer_keys_the_address_folded(redis: Redis) -> None:
    """A refusal at send time (`ReceiverHasUnsubscribed`, `RejectedByRecipients`) and the blocklist mirror
    write through the store, which folds: `Jiwoo@` written stops `jiwoo@` and `JIWOO@`."""
    await store.put(redis, [Entry("Jiwoo@example.org", "", "550 rejected", NOW, "hard_bounce")], NOW)
    await store.put(redis, [Entry("Min@example.org", "d0.example.com", "unsubscribed", NOW, "unsubscribe")], NOW)
    await store.block(redis, BlockEntry("Seo@example.org", NOW, 0.0, "550", "default"), NOW)
    asked = ["jiwoo@example.org", "JIWOO@example.org", "min@example.org", "SEO@example.org"]
    assert await store.suppressed_why(redis, asked, ["d0.example.com"], NOW) == [
        "all:hard_bounce",
        "all:hard_bounce",
        "domain:d0.example.com:unsubscribe",
        "blocklist",
    ]


async def test_the_operator_can_remove_an_entry_kept_with_capitals(redis: Redis) -> None:
    """`suppress remove Lee@example.com` takes off the entry an older release wrote as `Lee@example.com`."""
    from orchestrator import suppression as service

    await redis.hset(keys.SUPPRESS_ALL, "Lee@example.com", '{"reason":"x","at":1,"source":"import"}')
    assert await service.remove(redis, "Lee@example.com", None, NOW)
    assert await redis.hlen(keys.SUPPRESS_ALL) == 0
