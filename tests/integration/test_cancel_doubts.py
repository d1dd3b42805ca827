"""A cancelled campaign's sends in doubt may have reached Tencent: its rows are not mailed again by a new
submit until the sweeper has settled them (the export lists them as not accepted meanwhile)."""

from __future__ import annotations

import pytest

from orchestrator.control import cancel_campaign
from orchestrator.ses.emulator import FaultRule
from orchestrator.store import keys
from orchestrator.submit import ListOverlapError
from tests.pipeline_harness import VICTIM, VICTIM_DOMAIN, Pipeline, recipients_csv


async def test_a_list_sharing_a_cancelled_campaigns_doubt_waits_until_the_sweeper_settles_it(pipe: Pipeline) -> None:
    first = await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN))
    for _ in range(60):
        await pipe.run(5)
        if await pipe.events("send_in_doubt"):
            break
    assert (await pipe.record()).counts["in_doubt"] == 1
    report = await cancel_campaign(pipe.redis, first, pipe.clock, "wrong list", "operator")
    assert isinstance(report, dict)
    assert report["in_doubt"] == 1  # `cancel` says so: these rows are not to be mailed again yet

    # The rows it did not accept, the doubt among them, as a new list: refused while the doubt is open.
    with pytest.raises(ListOverlapError, match=rf"campaign {first} \(cancelled, 1 in flight or in doubt\)"):
        await pipe.submit(f"email,first_name\n{VICTIM},Victim\n")
    assert len(pipe.sent_to(VICTIM)) == 1

    pipe.cid = first
    await pipe.run(600)  # the sweeper asks Tencent: the mail left
    assert [e.data["verdict"] for e in await pipe.events("in_doubt_resolved")] == ["sent"]
    assert (await pipe.record()).counts["accepted"] >= 1
    again = await pipe.submit(f"email,first_name\n{VICTIM},Victim\n")  # settled: a new campaign may have it
    assert again != first


async def test_a_damaged_key_of_a_cancelled_campaign_stops_no_unrelated_submit(pipe: Pipeline) -> None:
    """Its counts unreadable, it may still be sending: a list sharing its addresses is refused, another
    list goes (the pipeline raised WRONGTYPE and every submit failed)."""
    first = await pipe.submit(recipients_csv())
    await cancel_campaign(pipe.redis, first, pipe.clock, "wrong list", "operator")
    await pipe.redis.delete(keys.CampaignKeys(first).doubt)
    await pipe.redis.set(keys.CampaignKeys(first).doubt, "x")
    with pytest.raises(ListOverlapError, match=rf"campaign {first} \(cancelled, its counts unreadable\)"):
        await pipe.submit(f"email,first_name\n{VICTIM},Victim\n")
    assert await pipe.submit("email,first_name\nsomeone.else@example.org,Else\n") != first
