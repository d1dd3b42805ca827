"""The error table end to end: the emulator answers a code, the whole pipeline takes that row's action.

Each test runs the real pacer, Lua limiter, arq send job and ledger on a virtual clock, with the
official SDK (TencentSender) talking over HTTP to the SES emulator, which shares the clock.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from orchestrator.core.calendar import midnight_after
from orchestrator.core.campaign_state import Transition
from orchestrator.core.clock import VirtualClock
from orchestrator.ses.emulator import FaultRule, StatusRecord, run_emulator
from orchestrator.store import campaigns, keys, suppression
from orchestrator.store.campaigns import State
from tests.pipeline_harness import (
    CAMPAIGN_DOMAINS,
    SECRET_KEY,
    SPACING_S,
    START,
    VICTIM,
    VICTIM_DOMAIN,
    Pipeline,
    assert_accepted_with_logged_ids,
    make_world,
    recipients_csv,
)

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

# --- transient: retried with backoff, accepted once ---------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("InternalError", id="internal-error"),
        pytest.param("FailedOperation.ServiceNotAvailable", id="service-not-available"),
        pytest.param("http_503", id="http-503"),
    ],
)
async def test_transient_error_is_retried_with_backoff_then_accepted_once(pipe: Pipeline, code: str) -> None:
    """A transient answer twice in a row: the recipient is retried after 30 s then 60 s (+jitter), sent once."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=code, count=2, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(3600)
    victim = await pipe.index_of(VICTIM)
    retries = [e for e in await pipe.events("send_retry") if e.data["index"] == str(victim)]
    assert [e.data["attempt"] for e in retries] == ["1", "2"]
    [accepted] = pipe.sent_to(VICTIM)
    first, second = (e.t for e in retries)
    # Base 30 s doubling, up to 10 % jitter, then at most one spacing slot until the limiter grants it.
    assert 30 <= second - first <= 33 + SPACING_S
    assert 60 <= accepted.time - second <= 66 + SPACING_S
    assert pipe.emu.world.faults[0].count == 0
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


# --- recipient later / recipient domain later ----------------------------------------------------


async def test_frequency_limit_defers_the_recipient_an_hour(pipe: Pipeline) -> None:
    """FailedOperation.FrequencyLimit: that recipient's accepted retry comes at least an hour after the refusal."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.FrequencyLimit", count=1, recipient_domain=VICTIM_DOMAIN)
    )
    await pipe.run(3 * 3600)
    [refusal] = [r for r in pipe.emu.service.status_log if r.to_address == VICTIM and r.send_status == 1006]
    [accepted] = pipe.sent_to(VICTIM)
    others = [r.time for r in pipe.emu.send_log if r.to_address != VICTIM]
    assert accepted.time - refusal.request_time >= 3600
    assert max(others) - refusal.request_time < 600  # nobody else waited for it
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


async def test_temporary_block_holds_the_recipient_domain_ten_minutes(pipe: Pipeline) -> None:
    """FailedOperation.TemporaryBlocked: that domain sends nothing for 10 min while the other domains go on."""
    csv_text = "email,first_name\n" + "".join(
        f"user{i}@{'gmail.com' if i % 2 else 'naver.com'},Name{i}\n" for i in range(40)
    )
    await pipe.submit(csv_text)
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.TemporaryBlocked", count=1, recipient_domain="gmail.com")
    )
    await pipe.run(6 * 3600)
    [refusal] = [r for r in pipe.emu.service.status_log if r.send_status == 3008]
    blocked_until = refusal.request_time + 600
    gmail = [r.time for r in pipe.emu.send_log if r.to_address.endswith("@gmail.com")]
    naver = [r.time for r in pipe.emu.send_log if r.to_address.endswith("@naver.com")]
    assert not [t for t in gmail if refusal.request_time <= t < blocked_until]
    assert min(t for t in gmail if t > refusal.request_time) >= blocked_until
    assert len([t for t in naver if refusal.request_time < t < blocked_until]) >= 10  # the others kept going
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        pytest.param("FailedOperation.TemporaryBlocked", 3008, id="domain-blocked"),
        pytest.param("FailedOperation.FrequencyLimit", 1006, id="address-frequency"),
    ],
)
async def test_a_recipient_deferred_more_times_than_its_tries_is_sent_not_failed(
    pipe: Pipeline, code: str, status: int
) -> None:
    """Tencent deferring the mail 10 times (more than retry.max_attempts, 8): it was never taken, so no try
    is used up; the recipient goes out once the deferrals stop, its attempt count untouched."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=code, count=10, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(14 * 3600)
    refusals = [r for r in pipe.emu.service.status_log if r.to_address == VICTIM and r.send_status == status]
    assert len(refusals) == 10
    [accepted] = pipe.sent_to(VICTIM)  # Tencent's own send log: sent, once
    assert accepted.time > max(r.request_time for r in refusals)
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)
    assert (await pipe.record()).counts["failed"] == 0


async def test_a_recipient_throttled_more_times_than_its_tries_is_sent_not_failed(pipe: Pipeline) -> None:
    """Tencent refusing the call over its API rate limit 10 times (more than retry.max_attempts, 8): nothing
    was taken, so no try is used up; the recipient goes out within seconds of the last refusal, not after
    a backoff of minutes, and nothing is counted failed."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code="RequestLimitExceeded", count=10, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(3600)
    assert pipe.emu.world.faults[0].count == 0  # all 10 refusals were answered
    victim = await pipe.index_of(VICTIM)
    assert [e for e in await pipe.events("send_retry") if e.data["index"] == str(victim)] == []
    [accepted] = pipe.sent_to(VICTIM)
    throttled = [c.time for c in pipe.emu.call_log if c.error == "RequestLimitExceeded"]
    assert len(throttled) == 10
    assert 0 < accepted.time - max(throttled) <= 2 + SPACING_S
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)
    assert (await pipe.record()).counts["failed"] == 0


# --- recipient never / recipient data ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "blocklisted", "unsubscribed"),
    [
        pytest.param("FailedOperation.EmailAddrInBlacklist", True, False, id="blacklist"),
        pytest.param("FailedOperation.RejectedByRecipients", True, False, id="rejected"),
        pytest.param("FailedOperation.ReceiverHasUnsubscribed", False, True, id="unsubscribed"),
        pytest.param("FailedOperation.IncorrectEmail", False, False, id="incorrect-email"),
        pytest.param("FailedOperation.UnsupportMailType", False, False, id="unsupported-mail-type"),
        pytest.param("InvalidParameterValue.IllegalEmailAddress", False, False, id="illegal-address"),
        pytest.param("InvalidParameterValue.ReceiverEmailInvalid", False, False, id="receiver-invalid"),
        pytest.param("InvalidParameterValue.EmailAddressIsNULL", False, False, id="address-null"),
    ],
)
async def test_recipient_never_code_suppresses_without_retry(
    pipe: Pipeline, code: str, blocklisted: bool, unsubscribed: bool
) -> None:
    """A recipient-never code: the recipient is suppressed with the code after exactly one call, the rest go on."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=code, count=1, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(3600)
    states = await pipe.states()
    rec = await pipe.record()
    # The rule fired once; any second call would have been accepted and logged.
    assert pipe.emu.world.faults[0].count == 0
    assert pipe.sent_to(VICTIM) == []
    assert states.pop(VICTIM) == f"s|{code}"
    assert set(states.values()) == {"a|" + r.message_id for r in pipe.emu.send_log}
    assert (rec.state, rec.counts["accepted"], rec.counts["suppressed"]) == (State.COMPLETED, pipe.n - 1, 1)
    mirrored = await pipe.redis.hexists(keys.BLOCKLIST, VICTIM)
    everywhere = await pipe.redis.hexists(keys.SUPPRESS_ALL, VICTIM)
    assert (mirrored or everywhere) == blocklisted
    assert mirrored == (code == "FailedOperation.EmailAddrInBlacklist")
    assert await pipe.redis.hexists(keys.suppression("d0.example.com"), VICTIM) == unsubscribed


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("InvalidParameterValue.TemplateDataError", id="template-data-error"),
        pytest.param("InvalidParameterValue.InValidTemplateData", id="invalid-template-data"),
        pytest.param("InvalidParameterValue.TemplateDataLenLimit", id="template-data-too-long"),
        pytest.param("InvalidParameterValue.TemplateNotMatchData", id="template-not-match-data"),
        pytest.param("InvalidParameterValue.TemplateDataInconsistent", id="template-data-inconsistent"),
        pytest.param("FailedOperation.WrongContentJson", id="wrong-content-json"),
    ],
)
async def test_recipient_data_code_fails_the_recipient(pipe: Pipeline, code: str) -> None:
    """A recipient-data code: that recipient fails with the code, once; one failure does not pause the campaign."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=code, count=1, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(3600)
    states = await pipe.states()
    rec = await pipe.record()
    assert pipe.emu.world.faults[0].count == 0
    assert pipe.sent_to(VICTIM) == []
    assert states.pop(VICTIM) == f"f|{code}"
    assert set(states.values()) == {"a|" + r.message_id for r in pipe.emu.send_log}
    assert (rec.state, rec.counts["accepted"], rec.counts["failed"]) == (State.COMPLETED, pipe.n - 1, 1)


# --- identity today ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "resume_local"),
    [
        # The refusal comes at the first send, 00:00 UTC = 08:00 in China. Tencent's quota day turns at
        # midnight in China (16:00 UTC): the identity may send again once both its own day and
        # Tencent's have turned.
        pytest.param("Asia/Seoul", "01:00", id="seoul-waits-for-tencents-day"),
        pytest.param("Asia/Shanghai", "00:00", id="shanghai"),
        pytest.param("UTC", "00:00", id="utc"),
        pytest.param("America/Los_Angeles", "08:00", id="los-angeles-waits-for-tencents-day"),
    ],
)
async def test_exceed_send_limit_stops_the_identity_until_the_next_day(
    pipe: Pipeline, timezone: str, resume_local: str
) -> None:
    """ExceedSendLimit: the identity sends nothing before local midnight, nor before Tencent's day turns."""
    zone = ZoneInfo(timezone)
    # 10 a day per identity: the other identity uses its day, and both have mail left for the next day.
    plan = {"plan": {"rows": [{"days": "1-5", "daily": 10, "hourly": 360}]}, "timezone": timezone}
    await pipe.submit(recipients_csv(n_others=39, victim=False), identities=2, extra=plan)
    pipe.emu.world.faults.append(FaultRule(code="FailedOperation.ExceedSendLimit", count=1))
    await pipe.run(3 * 86400)
    [refusal] = [r for r in pipe.emu.service.status_log if r.send_status == 1010]
    stopped = refusal.from_address
    midnight = midnight_after(refusal.request_time, zone)
    times = [r.time for r in pipe.emu.send_log if stopped in r.from_address]
    others = [r.time for r in pipe.emu.send_log if stopped not in r.from_address]
    resumed = min(t for t in times if t > refusal.request_time)
    assert not [t for t in times if refusal.request_time <= t < midnight]
    assert resumed >= midnight
    assert datetime.fromtimestamp(resumed, tz=zone).strftime("%H:%M") == resume_local  # within the minute
    assert len([t for t in others if refusal.request_time <= t < midnight]) == 10  # the other one went on
    [event] = await pipe.events("identity_stopped_today")
    assert event.data["code"] == "FailedOperation.ExceedSendLimit"
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


# --- campaign fatal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("AuthFailure.SignatureFailure", id="wrong-key"),
        pytest.param("OperationDenied.DomainNotVerified", id="unverified-domain"),
        pytest.param("FailedOperation.HighRejectionRate", id="high-rejection-rate"),
    ],
)
async def test_campaign_fatal_code_pauses_the_campaign_and_loses_nothing(pipe: Pipeline, code: str) -> None:
    """A campaign-fatal code mid-run pauses the campaign with the code; the rest stay queued and finish on resume."""
    await pipe.submit(recipients_csv(n_others=30, victim=False))
    await pipe.run(55)  # a few sends go through first
    before = len(pipe.emu.send_log)
    key = SECRET_KEY
    if code == "AuthFailure.SignatureFailure":
        key = "not-the-secret-key"
    elif code == "OperationDenied.DomainNotVerified":
        pipe.emu.world.identities[0].verified = False
    else:
        pipe.emu.world.faults.append(FaultRule(code=code, count=1))
    await pipe.run(3600, key=key)
    rec = await pipe.record()
    assert (rec.state, rec.paused_by) == (State.PAUSED, "automatic")
    assert code in rec.reason
    assert rec.reason.endswith(f"(identity {rec.spec.identities[0].id}, account default)")  # which key, of several
    assert [e.data["code"] for e in await pipe.events("campaign_paused")] == [code]
    assert before > 0
    assert len(pipe.emu.send_log) == before
    assert {s: n for s, n in rec.counts.items() if n} == {"accepted": before, "queued": pipe.n - before}

    # The operator fixes the cause and resumes: every recipient is sent, each exactly once.
    pipe.emu.world.identities[0].verified = True
    outcome, _ = await campaigns.transition(pipe.redis, pipe.cid, Transition.RESUME, pipe.clock.now())
    assert outcome == "ok"
    await pipe.run(3600)
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


# --- in doubt ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("timeout_after_accept", id="timeout-after-accept"),
        pytest.param("drop_after_accept", id="drop-after-accept"),
        pytest.param("http_504_after_accept", id="gateway-504-after-accept"),
    ],
)
async def test_in_doubt_send_is_reconciled_as_accepted_without_resend(pipe: Pipeline, fault: str) -> None:
    """The mail left but the answer was lost: parked in doubt, the sweeper finds its MessageId, never resends."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=fault, count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0))
    await pipe.run(3600)
    victim = await pipe.index_of(VICTIM)
    [parked] = await pipe.events("send_in_doubt")
    [resolved] = await pipe.events("in_doubt_resolved")
    assert (parked.data["index"], resolved.data["index"], resolved.data["verdict"]) == (str(victim),) * 2 + ("sent",)
    assert resolved.t >= parked.t + 60  # the first lookup waits for Tencent's log to settle
    assert len(pipe.sent_to(VICTIM)) == 1
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


class _Skewed:
    """Tencent's clock: `skew_s` off ours (it stamps RequestTime by it)."""

    def __init__(self, clock: VirtualClock, skew_s: float) -> None:
        self.clock, self.skew_s = clock, skew_s

    def now(self) -> float:
        return self.clock.now() + self.skew_s


@pytest.mark.parametrize("skew_s", [-240.0, 240.0])
async def test_an_in_doubt_send_under_clock_skew_is_found_not_sent_again(
    redis: Redis, redis_url: str, tmp_path: Path, skew_s: float
) -> None:
    """Tencent's clock 4 minutes off ours (inside the 5 it accepts a signature from) and one answer lost:
    the lookup still finds the mail, and the person gets one mail, not two."""
    clock = VirtualClock(START)
    async with run_emulator(make_world(CAMPAIGN_DOMAINS), clock=_Skewed(clock, skew_s)) as emu:
        pipe = Pipeline(redis, redis_url, clock, emu, tmp_path)
        await pipe.submit(recipients_csv())
        emu.world.faults.append(
            FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0)
        )
        await pipe.run(3600)
        [resolved] = await pipe.events("in_doubt_resolved")
        assert resolved.data["verdict"] == "sent"
        pipe.assert_each_sent_once()
        await assert_accepted_with_logged_ids(pipe)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("drop_before_accept", id="drop-before-accept"),
        pytest.param("http_502", id="gateway-502"),
    ],
)
async def test_dropped_before_accept_is_reconciled_as_not_sent_and_resent_once(pipe: Pipeline, fault: str) -> None:
    """The connection died (or the gateway failed) before Tencent took the mail: in doubt, the lookup
    says not sent, it is sent once."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=fault, count=1, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(3600)
    victim = await pipe.index_of(VICTIM)
    [parked] = await pipe.events("send_in_doubt")
    [resolved] = await pipe.events("in_doubt_resolved")
    assert (parked.data["index"], resolved.data["index"], resolved.data["verdict"]) == (str(victim),) * 2 + (
        "not_sent",
    )
    [accepted] = pipe.sent_to(VICTIM)
    assert accepted.time >= resolved.t
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


async def _victim_in_doubt(pipe: Pipeline) -> StatusRecord:
    """Run until the victim's send (its answer held back past the timeout) is in doubt, not yet looked up
    (the lookup waits a minute more); its row in the emulator's status log."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(
        FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0)
    )
    for _ in range(30):
        await pipe.run(SPACING_S)
        if await pipe.events("send_in_doubt"):
            break
    assert not await pipe.events("in_doubt_resolved")
    [row] = [r for r in pipe.emu.service.status_log if r.to_address == VICTIM]
    return row


@pytest.mark.parametrize(
    ("send_status", "code", "listed"),
    [
        pytest.param(1007, "FailedOperation.EmailAddrInBlacklist", "blocklist", id="blocklisted-1007"),
        pytest.param(1013, "FailedOperation.ReceiverHasUnsubscribed", "domain:{}:unsubscribe", id="unsubscribed-1013"),
    ],
)
async def test_in_doubt_lookup_finding_the_recipients_refusal_suppresses_without_a_resend(
    pipe: Pipeline, send_status: int, code: str, listed: str
) -> None:
    """The lost answer's status row says the address is blocklisted (1007) or unsubscribed (1013): the
    send is suppressed as its own answer would have had it, the address kept on that list, never tried again."""
    row = await _victim_in_doubt(pipe)
    row.send_status = send_status  # Tencent took the request, then refused the mail for the recipient
    await pipe.run(3600)
    [resolved] = await pipe.events("in_doubt_resolved")
    assert (resolved.data["verdict"], resolved.data["code"]) == ("not_sent", code)
    assert [r.to_address for r in pipe.emu.service.status_log].count(VICTIM) == 1  # no second request
    assert (await pipe.states())[VICTIM] == f"s|{code}"
    sender = row.from_address.rstrip(">").rpartition("@")[2]
    why = await suppression.suppressed_why(pipe.redis, [VICTIM], [sender], pipe.clock.now())
    assert why == [listed.format(sender)]
    rec = await pipe.record()
    assert (rec.state, rec.counts["suppressed"], rec.counts["accepted"]) == (State.COMPLETED, 1, pipe.n - 1)


async def test_a_doubt_whose_outcome_a_damaged_key_refuses_pauses_and_is_left_for_the_operator(
    pipe: Pipeline,
) -> None:
    """The victim's history bucket is damaged while its send is in doubt: the lookup finds the mail but
    its outcome cannot be recorded, so the campaign pauses itself naming the key, the lookup is asked
    again each minute until the reconcile window is over, then the send is left in doubt for the
    operator (in_doubt_unresolved) and no longer asked about; it is never sent again."""
    row = await _victim_in_doubt(pipe)
    victim = await pipe.index_of(VICTIM)
    damaged = keys.history_bucket(pipe.cid, victim)
    await pipe.redis.delete(damaged)
    await pipe.redis.set(damaged, "not a hash")
    await pipe.run(7 * 3600)
    rec = await pipe.record()
    assert (rec.state, rec.paused_by) == (State.PAUSED, "automatic")
    assert damaged in rec.reason
    # The bucket holds other recipients' histories too: a send of one of them in flight at the pause
    # meets the same damage and is left in doubt the same way.
    unresolved = await pipe.events("in_doubt_unresolved")
    assert str(victim) in [e.data["index"] for e in unresolved]
    assert {e.data["detail"] for e in unresolved} == {"its outcome could not be recorded (a damaged key)"}
    assert not await pipe.events("in_doubt_resolved")
    lookups = [c for c in pipe.emu.call_log if c.action == "GetSendEmailStatus"]
    assert len(lookups) <= len(unresolved) * (6 * 60 + 5)  # once a minute for the 6-hour window, then no more
    assert set(Counter(r.to_address for r in pipe.emu.send_log).values()) == {1}  # nothing sent twice
    assert row.send_status == 0
    assert (await pipe.states())[VICTIM].startswith("d|")


async def test_in_doubt_lookup_finding_status_3030_pauses_the_campaign(pipe: Pipeline) -> None:
    """The lost answer's status row says 3030 (sender limited on bounces): the campaign pauses, nothing resent."""
    row = await _victim_in_doubt(pipe)
    row.send_status = 3030  # Tencent took the request but limits the sender: it did not send the mail
    await pipe.run(3600)
    rec = await pipe.record()
    assert (rec.state, rec.paused_by) == (State.PAUSED, "automatic")
    assert "SendStatus 3030" in rec.reason
    [resolved] = await pipe.events("in_doubt_resolved")
    assert resolved.data["verdict"] == "not_sent"
    assert len(pipe.sent_to(VICTIM)) == 1  # the one refused request: not sent again while paused
    assert (await pipe.states())[VICTIM].startswith("q")
