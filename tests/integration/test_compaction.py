"""Compaction of a finished campaign: bounded batches, idempotent, readable when cut short, summary kept."""

from __future__ import annotations

import pytest
import structlog
from rich.console import Console

from orchestrator import export
from orchestrator.commands.status import render_status
from orchestrator.core.clock import VirtualClock
from orchestrator.status import campaign_status
from orchestrator.store import campaigns, compaction, keys, suppression
from orchestrator.store.suppression import Entry
from orchestrator.trace import trace
from orchestrator.web.page import campaign_section
from tests.pipeline_harness import START, Pipeline, recipients_csv
from workers.pacer import build_pacer
from workers.sweep import Sweeper

DAY = 86400.0
N_OTHERS = 240  # 241 recipients: three ledger buckets, a few hundred keys in all


async def _finished(pipe: Pipeline) -> str:
    await suppression.put(pipe.redis, [Entry("gone@naver.com", "", "asked", START - DAY, "operator")], START)
    await pipe.submit(recipients_csv(N_OTHERS))
    await pipe.run(4 * 3600)
    rec = await pipe.record()
    assert rec.state.value == "completed"
    return pipe.cid


async def _per_recipient_keys(pipe: Pipeline) -> list[str]:
    base = keys.CampaignKeys(pipe.cid).base
    found = [str(k) async for k in pipe.redis.scan_iter(match=f"{base}*")]
    return sorted(k for k in found if not k.endswith(":counts"))


async def _message_ids(pipe: Pipeline) -> list[str]:
    values = await pipe.redis.hgetall(keys.MESSAGE_IDS)
    return [m for m, v in values.items() if str(v).startswith(f"{pipe.cid}:")]


async def test_only_a_finished_campaign_past_its_retention_is_due(pipe: Pipeline) -> None:
    cid = await _finished(pipe)
    changed = float(await pipe.redis.hget(keys.campaign(cid), "changed_at"))
    assert await compaction.due(pipe.redis, changed + 30 * DAY - 1, 30 * DAY) == []
    assert await compaction.due(pipe.redis, changed + 30 * DAY, 30 * DAY) == [cid]
    await pipe.redis.hset(keys.campaign(cid), "state", "running")
    assert await compaction.due(pipe.redis, changed + 60 * DAY, 30 * DAY) == []
    assert await compaction.compact(pipe.redis, cid, changed + 60 * DAY) == (False, 0)
    assert await _per_recipient_keys(pipe)


async def test_a_campaign_that_sent_mail_is_due_no_sooner_than_its_mail_stops_counting(pipe: Pipeline) -> None:
    """Retention 0: due MAIL_KEPT_S after it finished (its MessageIds feed guardrails and other campaigns'
    lookups that long); one that sent nothing is due at once."""
    cid = await _finished(pipe)
    changed = float(await pipe.redis.hget(keys.campaign(cid), "changed_at"))
    assert await compaction.due(pipe.redis, changed + compaction.MAIL_KEPT_S - 1, 0.0) == []
    assert await compaction.due(pipe.redis, changed + compaction.MAIL_KEPT_S, 0.0) == [cid]
    await pipe.redis.hset(keys.CampaignKeys(cid).counts, mapping={"accepted": 0, "in_doubt": 0})
    assert await compaction.due(pipe.redis, changed, 0.0) == [cid]
    await pipe.redis.hset(keys.CampaignKeys(cid).counts, "in_doubt", 1)  # left in doubt: it may have gone
    assert await compaction.due(pipe.redis, changed + compaction.MAIL_KEPT_S - 1, 0.0) == []


async def test_compaction_keeps_the_summary_and_removes_every_per_recipient_key(pipe: Pipeline) -> None:
    cid = await _finished(pipe)
    before = await pipe.record()
    assert await _per_recipient_keys(pipe)
    assert len(await _message_ids(pipe)) == before.counts["accepted"] > 0
    now = pipe.clock.now() + 31 * DAY
    done, removed = await compaction.compact(pipe.redis, cid, now)
    assert done
    assert removed > 0
    assert await _per_recipient_keys(pipe) == []
    assert await _message_ids(pipe) == []
    after = await pipe.record()
    assert (after.state, after.counts, after.submit) == (before.state, before.counts, before.submit)
    assert [e.address for e in await suppression.entries(pipe.redis, None, now)] == ["gone@naver.com"]
    assert await compaction.compact(pipe.redis, cid, now + 1) == (True, 0)  # idempotent
    assert float(await pipe.redis.hget(keys.campaign(cid), "compacted_at")) == now


async def test_a_compaction_cut_short_is_read_and_finished_later(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after one batch (a kill between batches leaves this): status, trace, export answer; a rerun ends it."""
    cid = await _finished(pipe)
    address = "user0@gmail.com"
    total = len(await _per_recipient_keys(pipe))
    monkeypatch.setattr(compaction, "BATCH", 10)
    now = pipe.clock.now() + 31 * DAY
    done, removed = await compaction.compact(pipe.redis, cid, now, batches=1)
    assert not done
    assert len(await _per_recipient_keys(pipe)) == total - removed > 0
    status = await campaign_status(pipe.redis, cid, now)
    assert status is not None
    assert status.state == "completed"
    assert status.compacted_at is None  # not finished yet
    found = await trace(pipe.redis, address, now)
    assert [(c.cid, c.done) for c in found.compacted] == [(cid, False)]
    # Its index may still name the row whose ledger entry went: read as queued, it was "not sent yet".
    assert found.outcomes == []
    assert found.verdict is None
    with pytest.raises(export.ExportError, match="being compacted since"):
        async for _ in export.rows(pipe.redis, cid):
            pass
    for _ in range(100):
        done, _ = await compaction.compact(pipe.redis, cid, now + 60)
        if done:
            break
    assert done
    assert await _per_recipient_keys(pipe) == []
    found = await trace(pipe.redis, address, now + 120)
    assert found.outcomes == []
    assert [(c.cid, c.done, c.counts["accepted"]) for c in found.compacted] == [(cid, True, N_OTHERS + 1)]
    assert "compacted on" in compaction.describe(found.compacted[0])
    rec = await campaigns.get(pipe.redis, cid)
    assert rec is not None
    status = await campaign_status(pipe.redis, cid, now + 120)
    assert status is not None
    assert status.compacted_at


async def test_an_export_under_way_when_compaction_begins_stops_with_an_error(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows read before compaction are right; the next chunk would read empty records as queued rows."""
    cid = await _finished(pipe)
    monkeypatch.setattr(export, "CHUNK", 50)
    rows = export.rows(pipe.redis, cid)
    got = [await anext(rows) for _ in range(50)]  # the first chunk, read whole before compaction
    assert all(r["email"] for r in got)
    done, _ = await compaction.compact(pipe.redis, cid, pipe.clock.now() + 31 * DAY, batches=1000)
    assert done
    later: list[dict[str, object]] = []

    async def the_rest() -> None:
        async for r in rows:
            later.append(r)

    with pytest.raises(export.ExportError, match="it began while exporting"):
        await the_rest()
    assert later == []  # without the check: rows with an empty address, state queued


async def test_a_cancelled_campaign_with_a_send_in_flight_waits(pipe: Pipeline) -> None:
    """A job still running writes to the ledger: no compaction until nothing is granted or in flight."""
    cid = await _finished(pipe)
    await pipe.redis.hset(keys.campaign(cid), "state", "cancelled")
    changed = float(await pipe.redis.hget(keys.campaign(cid), "changed_at"))
    await pipe.redis.hincrby(keys.CampaignKeys(cid).counts, "inflight", 1)
    assert await compaction.due(pipe.redis, changed + 60 * DAY, 30 * DAY) == []
    assert await compaction.compact(pipe.redis, cid, changed + 60 * DAY) == (False, 0)
    assert await _per_recipient_keys(pipe)
    await pipe.redis.hincrby(keys.CampaignKeys(cid).counts, "inflight", -1)
    assert await compaction.due(pipe.redis, changed + 60 * DAY, 30 * DAY) == [cid]
    assert (await compaction.compact(pipe.redis, cid, changed + 60 * DAY))[0]


async def test_a_cancelled_campaign_with_a_send_awaiting_its_lookup_waits(pipe: Pipeline) -> None:
    """A send in doubt whose status lookup is still due keeps its campaign from compaction: the lookup
    records the MessageId its bounces and complaints are counted under."""
    cid = await _finished(pipe)
    await pipe.redis.hset(keys.campaign(cid), "state", "cancelled")
    changed = float(await pipe.redis.hget(keys.campaign(cid), "changed_at"))
    doubt = keys.CampaignKeys(cid).doubt
    await pipe.redis.zadd(doubt, {"7": changed + 60})
    assert await compaction.due(pipe.redis, changed + 60 * DAY, 30 * DAY) == []
    assert await compaction.compact(pipe.redis, cid, changed + 60 * DAY) == (False, 0)
    assert await compaction.in_flight(pipe.redis, cid)
    assert await _per_recipient_keys(pipe)
    await pipe.redis.zrem(doubt, "7")  # looked up
    assert await compaction.due(pipe.redis, changed + 60 * DAY, 30 * DAY) == [cid]
    assert (await compaction.compact(pipe.redis, cid, changed + 60 * DAY))[0]


async def _commands(pipe: Pipeline) -> int:
    stats = await pipe.redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


async def test_the_status_of_a_compacted_campaign_is_its_summary_read_in_a_few_commands(pipe: Pipeline) -> None:
    """A compacted campaign's status is its state, final counts and compaction time: no identity rows (their
    figures are the identities' other campaigns'), no quality. Every status, page and scrape read it in full
    (some 20 Redis commands a campaign), so thousands of old campaigns made the page time out."""
    cid = await _finished(pipe)
    before = await campaign_status(pipe.redis, cid, pipe.clock.now())
    assert before is not None
    assert before.identities
    now = pipe.clock.now() + 31 * DAY
    assert (await compaction.compact(pipe.redis, cid, now))[0]
    used = await _commands(pipe)
    after = await campaign_status(pipe.redis, cid, now)
    used = await _commands(pipe) - used
    assert after is not None
    assert (after.state, after.progress, after.submit) == ("completed", before.progress, before.submit)
    assert after.compacted_at is not None
    assert (after.identities, after.quality, after.estimated_completion) == ([], {}, None)
    assert used <= 6, used
    # `status` and the live page show that summary, not an empty identity table and a pool of 0/day
    console = Console(width=200, record=True)
    console.print(render_status(after))
    text = console.export_text()
    assert f"per-recipient data compacted {after.compacted_at}" in text
    assert "pool today" not in text
    assert "identity" not in text
    page = campaign_section(1, after.as_json())
    assert f"per-recipient data compacted {after.compacted_at}" in page
    assert "pool today" not in page
    assert "<table" not in page


async def test_a_compacted_campaign_still_accounts_for_the_rows_submit_dropped(pipe: Pipeline) -> None:
    """trace's line for a compacted campaign names the rows submit dropped beside the ledger's summary: an
    address dropped at submit is accounted for there, not only in `status`."""
    await suppression.put(pipe.redis, [Entry("gone@naver.com", "", "asked", START - DAY, "operator")], START)
    extra = "not-an-address,Bad\nUSER0@gmail.com,Again\ngone@naver.com,Gone\n"
    await pipe.submit(recipients_csv(N_OTHERS) + extra)
    await pipe.run(4 * 3600)
    now = pipe.clock.now() + 31 * DAY
    assert (await compaction.compact(pipe.redis, pipe.cid, now))[0]
    found = await trace(pipe.redis, "gone@naver.com", now)
    assert found.outcomes == []
    [gone] = found.compacted
    assert gone.at_submit == {"invalid": 1, "duplicates": 1, "suppressed": 1}
    assert compaction.describe(gone).endswith("; dropped at submit: invalid 1, duplicates 1, suppressed 1")
    assert compaction.as_json(gone)["at_submit"] == gone.at_submit


async def test_a_campaign_whose_ledger_cannot_be_read_is_kept_whole_and_the_next_is_compacted(
    pipe: Pipeline,
) -> None:
    """One recipient left in doubt and its ledger bucket damaged: the in-doubt list cannot be kept, so that
    campaign is not compacted (nothing removed, compaction_refused said, asked again an hour later) and
    the campaign after it still is, in the same sweep."""
    await pipe.submit(recipients_csv(3))
    await pipe.run(3600)
    await pipe.submit(recipients_csv(3), new=True)
    await pipe.run(3600)
    blocked, other = [str(c) for c in await pipe.redis.zrange(keys.CAMPAIGNS, 0, -1)]
    ck = keys.CampaignKeys(blocked)
    await pipe.redis.hset(ck.counts, "in_doubt", 1)
    await pipe.redis.delete(ck.state(0))
    await pipe.redis.set(ck.state(0), "not a hash")
    before = len([k async for k in pipe.redis.scan_iter(match=f"{ck.base}*")])
    now = pipe.clock.now() + 31 * DAY
    clock = VirtualClock(now)
    sweeper = Sweeper(build_pacer(pipe.redis, clock, wall=clock))
    with structlog.testing.capture_logs() as logs:
        assert await sweeper._compact(now, [blocked, other]) == 1
        assert await sweeper._compact(now + 60, [blocked, other]) == 0  # not read again within the hour
    assert [e["campaign"] for e in logs if e["event"] == "compaction_refused"] == [blocked]
    assert await pipe.redis.hget(keys.campaign(other), "compacted_at") is not None
    assert await pipe.redis.hget(keys.campaign(blocked), "compacted_at") is None
    assert len([k async for k in pipe.redis.scan_iter(match=f"{ck.base}*")]) == before
