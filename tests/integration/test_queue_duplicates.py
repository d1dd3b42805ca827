"""A queue entry written twice (a retried write whose first reply was lost) never sends its recipient twice.

Submit writes the queue with pipelined RPUSHes, and the client retries a pipeline on a connection error:
when Redis ran the pushes but the reply was lost (a restart on the AOF, a network reset), a chunk is
queued twice. The grant only takes an entry whose recipient is still queued, so the copies are dropped.
"""

from __future__ import annotations

from orchestrator.store import keys
from orchestrator.store.campaigns import State
from tests.pipeline_harness import Pipeline, assert_accepted_with_logged_ids, recipients_csv


async def test_every_queue_entry_twice_sends_each_recipient_once_and_completes(pipe: Pipeline) -> None:
    await pipe.submit(recipients_csv(n_others=29))
    k = keys.CampaignKeys(pipe.cid)
    entries = await pipe.redis.lrange(k.queue, 0, -1)
    assert len(entries) == pipe.n == 30
    await pipe.redis.rpush(k.queue, *entries)  # the whole list again, as a retried write would leave it
    await pipe.redis.lpush(k.queue, entries[0], entries[0])  # and one recipient three times in a row
    await pipe.run(3 * 3600)
    pipe.assert_each_sent_once()
    assert len(pipe.emu.send_log) == pipe.n
    record = await pipe.record()
    assert (record.state, record.counts["accepted"], record.counts["queued"]) == (State.COMPLETED, pipe.n, 0)
    await assert_accepted_with_logged_ids(pipe)
