"""Two campaigns on one identity mail the same person and both sends go into doubt, only the first
having reached Tencent. Tencent's status records name neither campaign, so the one mail found can
settle either send: a send whose own window holds a mail another send's lookup already took stays in
doubt for the operator instead of being sent again (the person would get one mail twice)."""

from __future__ import annotations

from collections import Counter

import pytest

from orchestrator.core.recipient_trace import ACCEPTED_LATE, RECONCILED_SENT
from orchestrator.core.sending import MailOwner
from orchestrator.pacing import PacerConfig
from orchestrator.ses.client import SHARED_MAIL, TencentSender
from orchestrator.ses.emulator import FaultRule
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import campaigns, compaction, events, keys, trace_index
from orchestrator.store.campaigns import State
from orchestrator.store.ledger import Ledger
from tests.pipeline_harness import VICTIM, VICTIM_DOMAIN, Pipeline, recipients_csv, settings_for

pytestmark = [pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning")]

AGAIN = {"id": 1, "subject": "Again {{name}}", "data": {"name": {"column": "first_name"}}}
CONFIG = PacerConfig(
    reconcile_after_s=60.0, reconcile_retry_s=60.0, reconcile_throttled_retry_s=30.0, reconcile_window_s=600.0
)


async def _two_sends_in_doubt(pipe: Pipeline, first_lookup_throttled: bool, hourly: int = 360) -> tuple[str, str]:
    """Campaign 1's send to the person reaches Tencent and its answer never comes; campaign 2's, one
    slot later (3600 / `hourly` s), never reaches it. Both go into doubt; returns the two campaign ids."""
    plan = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": hourly}]}}
    first = await pipe.submit(recipients_csv(n_others=0), extra=plan)
    second = await pipe.submit(recipients_csv(n_others=0), extra={"template": AGAIN, **plan}, new=True)
    pipe.emu.world.faults += [
        FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0),
        FaultRule(code="drop_before_accept", count=1, recipient_domain=VICTIM_DOMAIN),
    ]
    if first_lookup_throttled:  # campaign 1's first lookup comes back throttled: campaign 2's is made first
        pipe.emu.world.faults.append(FaultRule(code="RequestLimitExceeded", count=1, action="GetSendEmailStatus"))
    async with (
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender, CONFIG, workers=2) as run,
    ):
        await run.run_until(pipe.clock.now() + 3600, sweep_every_s=1.0)
    parked = [
        e.campaign for cid in (first, second) for e in await events.read(pipe.redis, cid) if e.type == "send_in_doubt"
    ]
    assert parked == [first, second]
    return first, second


async def _state(pipe: Pipeline, cid: str) -> str:
    return await Ledger(pipe.redis).state_of(keys.CampaignKeys(cid), 0)


@pytest.mark.parametrize("hourly", [360, 720, 1200], ids=["8s-apart", "3s-apart", "1s-apart"])
async def test_the_mail_of_the_send_looked_up_first_is_its_own_and_the_other_is_sent(
    pipe: Pipeline, hourly: int
) -> None:
    """In the usual order the first send's lookup takes its mail; the second send's window holds that
    mail only within the clock skew allowed (it was made before the second send's grant, even a second
    before), so it is found not sent and sent: one mail of each, whichever campaign was paced first."""
    first, second = await _two_sends_in_doubt(pipe, first_lookup_throttled=False, hourly=hourly)
    mails = pipe.sent_to(VICTIM)
    assert Counter(m.subject for m in mails) == {"Hi {{name}}": 1, "Again {{name}}": 1}  # Tencent's own log
    by_subject = {m.subject: m.message_id for m in mails}
    assert await _state(pipe, first) == f"a|{by_subject['Hi {{name}}']}"
    assert await _state(pipe, second) == f"a|{by_subject['Again {{name}}']}"


async def test_a_mail_taken_by_another_sends_lookup_is_never_sent_again(pipe: Pipeline) -> None:
    """The send that never reached Tencent is looked up first and takes the one mail (its window reaches it
    through the clock skew allowed): the send that made it, whose own window holds that mail, stays in
    doubt, never sent again."""
    first, second = await _two_sends_in_doubt(pipe, first_lookup_throttled=True)
    [mail] = pipe.sent_to(VICTIM)  # from Tencent's own send log: never a second mail
    # The campaigns are paced in no fixed order: the one whose mail reached Tencent is the one sent first.
    sent, other = (first, second) if mail.subject == "Hi {{name}}" else (second, first)
    assert await _state(pipe, other) == f"a|{mail.message_id}"  # took it: Tencent's record names no campaign
    assert (await _state(pipe, sent)).startswith("d|")  # still in doubt: the operator decides
    happened = await events.read(pipe.redis, sent)
    [parked] = [e for e in happened if e.type == "send_in_doubt"]
    [unresolved] = [e for e in happened if e.type == "in_doubt_unresolved"]
    assert unresolved.data["detail"] == SHARED_MAIL
    # Given up at the lookup that found it (about 90 s in), not after RECONCILE_WINDOW_S of asking again.
    assert unresolved.t - parked.t < 120


@pytest.mark.parametrize(
    ("found_by_lookup", "decision", "owner"),
    [
        pytest.param(True, RECONCILED_SENT, MailOwner.ANOTHER_BY_LOOKUP, id="found-by-a-lookup"),
        pytest.param(False, ACCEPTED_LATE, MailOwner.ANOTHER, id="the-sends-own-late-answer"),
    ],
)
async def test_a_doubt_settled_by_its_own_late_answer_holds_its_mail_for_certain(
    pipe: Pipeline, found_by_lookup: bool, decision: str, owner: MailOwner
) -> None:
    """An accept recorded while the send was in doubt is the send's own late SendEmail answer (certainly its
    mail) or what a status lookup found (maybe another send's): the history tells them apart, and so does
    what another send's lookup makes of that MessageId."""
    pipe.emu.world.faults.append(
        FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0)
    )
    cid = await pipe.submit(recipients_csv(n_others=0))
    async with (
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender, CONFIG, workers=1) as run,
    ):
        await run.run_until(pipe.clock.now() + 30, sweep_every_s=3600.0)  # parked, not looked up yet
        ck, ledger = keys.CampaignKeys(cid), Ledger(pipe.redis)
        entry = await ledger.entry_of(ck, 0)
        [mail] = pipe.sent_to(VICTIM)
        now = pipe.clock.now()
        assert await ledger.finish(
            ck, entry.identity, 0, entry.get("token"), now, "accepted", value=mail.message_id,
            found_by_lookup=found_by_lookup,
        )  # fmt: skip
        attempt = (await trace_index.history(pipe.redis, cid, 0))[-1]
        assert (attempt.decision, attempt.code) == (decision, mail.message_id)
        assert await run.sweeper._taken_by_another("another-campaign", 0, mail.message_id) is owner
        assert await run.sweeper._taken_by_another(cid, 0, mail.message_id) is MailOwner.NONE


async def test_a_finished_campaigns_mail_is_kept_for_a_later_campaigns_lookup(pipe: Pipeline) -> None:
    """Retention 0: campaign 1 mailed the person and completed; campaign 2 mails them again, its send lost
    before Tencent took it. Campaign 1 is not compacted while its mail counts, so the lookup tells that
    mail from campaign 2's own send and campaign 2 sends it: compacted first, campaign 1's MessageId was
    gone and its mail was taken for campaign 2's, which was never sent. Compacted once MAIL_KEPT_S is over."""
    config = PacerConfig(
        completed_retention_s=0.0, reconcile_after_s=60.0, reconcile_retry_s=60.0, reconcile_window_s=600.0
    )
    first = await pipe.submit(recipients_csv(n_others=0))
    async with (
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender, config) as run,
    ):
        await run.run_until(pipe.clock.now() + 120, sweep_every_s=1.0)
        assert (await campaigns.load(pipe.redis, first)).state is State.COMPLETED  # type: ignore[union-attr]
        second = await pipe.submit(recipients_csv(n_others=0), extra={"template": AGAIN})
        pipe.emu.world.faults.append(FaultRule(code="drop_before_accept", count=1, recipient_domain=VICTIM_DOMAIN))
        await run.run_until(pipe.clock.now() + 1800, sweep_every_s=1.0)
        assert await compaction.compacted(pipe.redis, [first]) == []
        mails = {m.subject: m.message_id for m in pipe.sent_to(VICTIM)}  # Tencent's own log
        assert set(mails) == {"Hi {{name}}", "Again {{name}}"}
        assert await _state(pipe, second) == f"a|{mails['Again {{name}}']}"
        changed = float(await pipe.redis.hget(keys.campaign(first), "changed_at"))
        run.clock.set(changed + compaction.MAIL_KEPT_S)
        await run.sweeper.sweep()
    [gone] = await compaction.compacted(pipe.redis, [first])
    assert gone.done
