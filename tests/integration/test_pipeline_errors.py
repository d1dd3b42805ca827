"""The error table end to end: the emulator answers a code, the whole pipeline takes that row's action.

Each test runs the real pacer, Lua limiter, arq send job and ledger on a virtual clock, with the
official SDK (TencentSender) talking over HTTP to the SES emulator, which shares the clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.calendar import midnight_after
from orchestrator.core.campaign_state import Transition
from orchestrator.core.clock import VirtualClock
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import (
    Account,
    FaultRule,
    IdentityConfig,
    RunningEmulator,
    TemplateConfig,
    World,
    run_emulator,
)
from orchestrator.settings import Settings
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import campaigns, events, keys
from orchestrator.store.campaigns import State
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
SECRET_ID, SECRET_KEY = "AKIDpipelinetest", "pipeline-test-secret-key"
VICTIM = "victim@victim.example.net"
VICTIM_DOMAIN = "victim.example.net"
OTHERS = ["gmail.com", "naver.com", "daum.net", "outlook.com", "nate.com", "example.org"]
#: One send every 10 s per identity, no daily limit in the way, no domain share: errors are the only brake.
SPACING_S = 10.0
FAST: dict[str, Any] = {
    "plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 360}]},
    "shaping": {"max_domain_share": 1.0},
}


def recipients_csv(n_others: int = 11, victim: bool = True) -> str:
    """`n_others` recipients spread over common domains, and the one recipient the faults aim at."""
    rows = ["email,first_name"]
    if victim:
        rows.append(f"{VICTIM},Victim")
    rows += [f"user{i}@{OTHERS[i % len(OTHERS)]},Name{i}" for i in range(n_others)]
    return "\n".join(rows) + "\n"


def make_world(sender_domains: list[str]) -> World:
    """One account; the campaign's sender domains verified at the top level; template 1 approved."""
    return World(
        accounts=[Account(name="default", secret_id=SECRET_ID, secret_key=SECRET_KEY)],
        identities=[IdentityConfig(domain=d, reputation_level=20) for d in sender_domains],
        templates=[TemplateConfig(id=1, name="news", html="<p>Hello {{name}}</p>")],
        account_rate_per_s=None,
    )


def settings_for(emu: RunningEmulator, key: str = SECRET_KEY, timeout_s: float = 2.0) -> Settings:
    return Settings(
        _env_file=None,
        SES_ENDPOINT=emu.url,
        SES_TIMEOUT_S=timeout_s,
        TENCENTCLOUD_SECRET_ID=SecretStr(SECRET_ID),
        TENCENTCLOUD_SECRET_KEY=SecretStr(key),
    )


@dataclass
class Pipeline:
    """A submitted campaign, the emulator and the shared virtual clock."""

    redis: Redis
    redis_url: str
    clock: VirtualClock
    emu: RunningEmulator
    tmp_path: Path
    cid: str = ""
    n: int = 0

    async def submit(self, csv_text: str, identities: int = 1, extra: dict[str, Any] | None = None) -> str:
        path = write_campaign(
            self.tmp_path, 0, identities=identities, extra={**FAST, **(extra or {})}, csv_text=csv_text
        )
        campaign, fp = load(path)
        result = await submit(self.redis, campaign, fp, self.clock.now(), str(path))
        self.cid, self.n = result.campaign_id, result.stats.valid
        return self.cid

    async def run(self, seconds: float, key: str = SECRET_KEY, timeout_s: float = 2.0, workers: int = 2) -> None:
        """Drive the pipeline for `seconds` of virtual time (or until nothing is left to do)."""
        async with (
            TencentSender(settings_for(self.emu, key=key, timeout_s=timeout_s)) as sender,
            VirtualRun(self.redis_url, self.clock, sender, workers=workers) as run,
        ):
            await run.run_until(self.clock.now() + seconds)

    async def states(self) -> dict[str, str]:
        """Every recipient's ledger state, by address."""
        ledger = Ledger(self.redis)
        ck = keys.CampaignKeys(self.cid)
        out = {}
        for idx in range(self.n):
            address, _ = await ledger.record_of(ck, idx)
            out[address] = await ledger.state_of(ck, idx)
        return out

    async def index_of(self, address: str) -> int:
        ledger = Ledger(self.redis)
        ck = keys.CampaignKeys(self.cid)
        for idx in range(self.n):
            if (await ledger.record_of(ck, idx))[0] == address:
                return idx
        raise LookupError(address)

    async def events(self, etype: str) -> list[events.Event]:
        return [e for e in await events.read(self.redis, self.cid, count=100_000) if e.type == etype]

    async def record(self) -> campaigns.CampaignRecord:
        rec = await campaigns.get(self.redis, self.cid)
        assert rec is not None
        return rec

    def sent_to(self, address: str) -> list[Any]:
        return [r for r in self.emu.send_log if r.to_address == address]

    def assert_each_sent_once(self) -> None:
        """The emulator accepted every recipient exactly once, and the ledger holds those MessageIds."""
        counts = Counter(r.to_address for r in self.emu.send_log)
        assert len(counts) == self.n
        assert set(counts.values()) == {1}


@pytest.fixture
async def pipe(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    clock = VirtualClock(START)
    world = make_world([f"d{k}.example.com" for k in range(3)])
    async with run_emulator(world, clock=clock) as emu:
        yield Pipeline(redis, redis_url, clock, emu, tmp_path)


async def assert_accepted_with_logged_ids(pipe: Pipeline) -> None:
    """Every ledger entry is accepted with the MessageId the emulator gave that recipient."""
    logged = {r.to_address: r.message_id for r in pipe.emu.send_log}
    assert await pipe.states() == {a: f"a|{m}" for a, m in logged.items()}
    rec = await pipe.record()
    assert rec.state is State.COMPLETED
    assert rec.counts["accepted"] == pipe.n


# --- transient: retried with backoff, accepted once ---------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("InternalError", id="internal-error"),
        pytest.param("RequestLimitExceeded", id="request-limit"),
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
    assert await pipe.redis.sismember(keys.BLOCKLIST, VICTIM) == blocklisted
    assert await pipe.redis.sismember(keys.suppression("d0.example.com"), VICTIM) == unsubscribed


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
    ],
)
async def test_in_doubt_send_is_reconciled_as_accepted_without_resend(pipe: Pipeline, fault: str) -> None:
    """The mail left but the answer was lost: parked in doubt, the sweeper finds its MessageId, never resends."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code=fault, count=1, recipient_domain=VICTIM_DOMAIN, hang_s=2.0))
    await pipe.run(3600, timeout_s=0.5)
    victim = await pipe.index_of(VICTIM)
    [parked] = await pipe.events("send_in_doubt")
    [resolved] = await pipe.events("in_doubt_resolved")
    assert (parked.data["index"], resolved.data["index"], resolved.data["verdict"]) == (str(victim),) * 2 + ("sent",)
    assert resolved.t >= parked.t + 60  # the first lookup waits for Tencent's log to settle
    assert len(pipe.sent_to(VICTIM)) == 1
    pipe.assert_each_sent_once()
    await assert_accepted_with_logged_ids(pipe)


async def test_dropped_before_accept_is_reconciled_as_not_sent_and_resent_once(pipe: Pipeline) -> None:
    """The connection died before Tencent took the mail: in doubt, the lookup says not sent, it is sent once."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(FaultRule(code="drop_before_accept", count=1, recipient_domain=VICTIM_DOMAIN))
    await pipe.run(3600, timeout_s=0.5)
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
