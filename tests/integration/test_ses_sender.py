"""TencentSender against the SES emulator over HTTP, through the real async SDK."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from orchestrator.core.clock import VirtualClock
from orchestrator.core.credentials import AccountCredentials
from orchestrator.core.sending import LookupVerdict, MailOwner, OutcomeKind, SendOutcome, SendRequest, StatusQuery
from orchestrator.ses.client import SHARED_MAIL, TencentSender, build_sender
from orchestrator.ses.emulator import (
    Account,
    FaultRule,
    IdentityConfig,
    RunningEmulator,
    TemplateConfig,
    World,
    run_emulator,
)
from orchestrator.ses.errors import CODES
from orchestrator.settings import Settings
from tests.emulator_worlds import emulator_world
from tests.error_table import SPEC_TABLE

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

K = OutcomeKind
SECRET_ID, SECRET_KEY = "AKIDsendertest", "sender-test-secret-key"
FROM = "Acme News <news@news.example.com>"
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TIMEOUT_S = 0.4

#: The error table of docs/tencent.md: each row's codes and the class the sender must return, plus
#: HTTP 5xx answers; the SDK's own network exception names are not codes the emulator can inject.
TABLE: dict[str, OutcomeKind] = {
    **{code: kind for code, kind in SPEC_TABLE.items() if code not in ("ClientNetworkError", "ServerNetworkError")},
    "http_503": K.TRANSIENT,
    "http_429": K.TRANSIENT,
    # The gateway passed the request on: the API may have taken the mail (ses/failures.PASSED_ON_STATUSES).
    "http_500": K.IN_DOUBT,
    "http_502": K.IN_DOUBT,
    "http_504": K.IN_DOUBT,
}
#: Every other code Tencent may answer: the sender returns the class errors.py gives it.
OTHER_CODES = {code: kind for code, (kind, _text) in CODES.items() if code not in TABLE}


def make_world(**overrides: Any) -> World:
    """One account (plus a template-only one), one verified domain, one approved template."""
    fields: dict[str, Any] = {
        "more_accounts": [Account(name="tpl", secret_id="AKIDtpl", secret_key="tpl-secret-key", template_only=True)],
        "level": 2,
        "send_ips": ["203.0.113.7"],
        "templates": [TemplateConfig(id=1, name="welcome", html="<p>{{name}}님 안녕하세요</p>")],
        "account_rate_per_s": None,
    }
    fields.update(overrides)
    return emulator_world(SECRET_ID, SECRET_KEY, **fields)


def settings_for(emu: RunningEmulator, key: str = SECRET_KEY, timeout_s: float = TIMEOUT_S) -> Settings:
    return Settings(
        _env_file=None,
        SES_ENDPOINT=emu.url,
        SES_TIMEOUT_S=timeout_s,
        TENCENTCLOUD_SECRET_ID=SECRET_ID,
        TENCENTCLOUD_SECRET_KEY=key,
        ORCHESTRATE_ACCOUNTS={
            "tpl": AccountCredentials(secret_id=SecretStr("AKIDtpl"), secret_key=SecretStr("tpl-secret-key"))
        },
    )


def request(to: str = "jiwoo@example.org", data: dict[str, str] | None = None) -> SendRequest:
    return SendRequest("default", FROM, to, 1, {"name": "지우"} if data is None else data, "안녕하세요 {{name}}")


def query(to: str = "jiwoo@example.org") -> StatusQuery:
    return StatusQuery("default", FROM, to, date(2026, 12, 1), START)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START.timestamp())


@pytest.fixture
async def emu(clock: VirtualClock) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(make_world(), clock=clock) as running:
        yield running


@pytest.fixture
async def sender(emu: RunningEmulator) -> AsyncIterator[TencentSender]:
    async with build_sender(settings_for(emu)) as s:
        yield s


async def test_send_is_accepted_with_the_logged_message_id(sender: TencentSender, emu: RunningEmulator) -> None:
    """An accepted send returns the MessageId the emulator logged, with the template data intact."""
    outcome = await sender.send(request())
    assert outcome.kind is K.ACCEPTED
    assert [(r.message_id, r.template_data, r.to_address) for r in emu.send_log] == [
        (outcome.message_id, {"name": "지우"}, "jiwoo@example.org")
    ]


async def test_the_answers_request_id_is_the_one_both_logs_keep(sender: TencentSender, emu: RunningEmulator) -> None:
    """An accepted send's RequestId is the same in the answer, the send log and the call log (the call log
    once made up its own for accepted sends: a call could not be matched with its send)."""
    outcome = await sender.send(request())
    assert outcome.request_id
    assert [r.request_id for r in emu.send_log] == [outcome.request_id]
    assert [(r.action, r.request_id) for r in emu.call_log] == [("SendEmail", outcome.request_id)]


async def test_an_endpoint_host_written_with_capitals_signs_as_tencent_checks(emu: RunningEmulator) -> None:
    """TC3 signs the Host header lowercased: SES_ENDPOINT's host with capitals failed every call as a wrong key."""
    shouted = emu.url.replace("127.0.0.1", "LocalHost")
    async with build_sender(settings_for(emu).model_copy(update={"ses_endpoint": shouted})) as s:
        assert (await s.send(request())).kind is K.ACCEPTED


async def test_a_listed_sender_written_with_capitals_may_send(clock: VirtualClock) -> None:
    """A world's `senders` list allows the address as written there, whatever its case."""
    listed = IdentityConfig(domain="shop.example.com", reputation_level=2, senders=["News@shop.example.com"])
    as_listed = dataclasses.replace(request(), from_address="Shop <News@shop.example.com>")
    other = dataclasses.replace(request(), from_address="Shop <sales@shop.example.com>")
    async with (
        run_emulator(make_world(more_identities=[listed]), clock=clock) as emu,
        build_sender(settings_for(emu)) as s,
    ):
        assert [(await s.send(r)).kind for r in (as_listed, other)] == [K.ACCEPTED, K.CAMPAIGN_FATAL]


async def _injected(emu: RunningEmulator, sender: TencentSender, code: str) -> SendOutcome:
    emu.world.faults.append(FaultRule(code=code, count=1))
    outcome = await sender.send(request())
    assert emu.send_log == []
    return outcome


@pytest.mark.parametrize(("code", "kind"), sorted(TABLE.items()), ids=sorted(TABLE))
async def test_error_table_row(emu: RunningEmulator, sender: TencentSender, code: str, kind: OutcomeKind) -> None:
    """The emulator answers with one code of the error table; the sender returns that row's class."""
    outcome = await _injected(emu, sender, code)
    assert outcome.kind is kind
    assert outcome.message_id is None
    assert outcome.defer_s == {K.RECIPIENT_LATER: 3600, K.DOMAIN_LATER: 600, K.THROTTLED: 1}.get(kind)


@pytest.mark.parametrize(("code", "kind"), sorted(OTHER_CODES.items()), ids=sorted(OTHER_CODES))
async def test_every_other_code_is_classified(
    emu: RunningEmulator, sender: TencentSender, code: str, kind: OutcomeKind
) -> None:
    """Every other known code arrives through the SDK intact and gets its class, never ACCEPTED."""
    outcome = await _injected(emu, sender, code)
    assert (outcome.kind, outcome.code) == (kind, code)


async def test_unknown_code_is_fatal_not_accepted(emu: RunningEmulator, sender: TencentSender) -> None:
    """A code nobody has seen before pauses the campaign rather than counting as sent."""
    outcome = await _injected(emu, sender, "FailedOperation.BrandNewReason")
    assert outcome.kind is K.CAMPAIGN_FATAL


async def test_real_frequency_limit_defers_an_hour(sender: TencentSender, clock: VirtualClock) -> None:
    """The emulator's own per-address limit (not an injected code) comes back as RECIPIENT_LATER, 1 h."""
    for _ in range(10):
        assert (await sender.send(request())).kind is K.ACCEPTED
        clock.advance(30)
    outcome = await sender.send(request())
    assert (outcome.kind, outcome.defer_s) == (K.RECIPIENT_LATER, 3600)


async def test_real_missing_variable_is_recipient_data(sender: TencentSender) -> None:
    """Template data lacking a template variable is RECIPIENT_DATA."""
    outcome = await sender.send(request(data={"other": "x"}))
    assert (outcome.kind, outcome.code) == (K.RECIPIENT_DATA, "InvalidParameterValue.TemplateNotMatchData")


async def test_wrong_key_is_fatal_and_never_leaks_secrets(emu: RunningEmulator) -> None:
    """A wrong key pauses the campaign, and neither the outcome nor the logs name either half of the key pair."""
    with structlog.testing.capture_logs() as logs:
        async with TencentSender(settings_for(emu, key="wrong-secret-key")) as s:
            outcome = await s.send(request())
    texts = {"outcome": repr(outcome), "detail": str(outcome.detail), "logs": repr(logs)}
    assert (outcome.kind, outcome.code) == (K.CAMPAIGN_FATAL, "AuthFailure.SignatureFailure")
    for half in ("wrong-secret-key", SECRET_KEY, SECRET_ID):
        for place, text in texts.items():
            assert half not in text, f"{half!r} found in {place}"


async def test_missing_credentials_are_fatal(emu: RunningEmulator) -> None:
    """An identity naming an account without credentials pauses the campaign; nothing is sent."""
    async with TencentSender(settings_for(emu)) as s:
        outcome = await s.send(SendRequest("nobody", FROM, "a@example.org", 1, {"name": "x"}, "s"))
    assert (outcome.kind, outcome.code) == (K.CAMPAIGN_FATAL, "Orchestrator.NoCredentials")


async def test_credentials_set_to_nothing_are_missing_credentials(emu: RunningEmulator) -> None:
    """TENCENTCLOUD_SECRET_ID="" is named as missing credentials (the SDK's own answer was an unknown
    InvalidCredential code), and nothing reaches the endpoint."""
    settings = settings_for(emu).model_copy(update={"tencentcloud_secret_id": SecretStr("  ")})
    async with TencentSender(settings) as s:
        outcome = await s.send(request())
    assert (outcome.kind, outcome.code) == (K.CAMPAIGN_FATAL, "Orchestrator.NoCredentials")
    assert emu.send_log == []
    assert emu.send_log == []


async def test_connection_refused_is_transient() -> None:
    """Nothing listening at the endpoint: the request never left, so the send is TRANSIENT."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        _env_file=None, SES_ENDPOINT=f"http://127.0.0.1:{port}", TENCENTCLOUD_SECRET_ID="a", TENCENTCLOUD_SECRET_KEY="b"
    )
    async with TencentSender(settings) as s:
        outcome = await s.send(request())
        found = await s.lookup(query())
    assert outcome.kind is K.TRANSIENT
    assert found.verdict is LookupVerdict.UNKNOWN


# --- in doubt, and the lookup that settles it ---


@pytest.mark.parametrize("fault", ["timeout_after_accept", "drop_after_accept", "http_504_after_accept"])
async def test_in_doubt_after_accept_is_found_by_lookup(
    emu: RunningEmulator, sender: TencentSender, fault: str
) -> None:
    """A timeout or dropped connection after the emulator accepted is IN_DOUBT; lookup finds the same MessageId."""
    emu.world.faults.append(FaultRule(code=fault, count=1, hang_s=5))
    outcome = await sender.send(request())
    found = await sender.lookup(query())
    assert outcome.kind is K.IN_DOUBT
    assert len(emu.send_log) == 1
    assert (found.verdict, found.message_id) == (LookupVerdict.SENT, emu.send_log[0].message_id)


async def test_a_lookup_the_gateway_answers_with_504_is_asked_again_soon(
    emu: RunningEmulator, sender: TencentSender
) -> None:
    """Only a SendEmail answered with a gateway error is in doubt: a status lookup answered so failed
    like any other call that can be repeated safely, and is asked again within seconds."""
    emu.world.faults.append(FaultRule(code="http_504", count=1, action="GetSendEmailStatus"))
    found = await sender.lookup(query())
    assert (found.verdict, found.retry_soon) == (LookupVerdict.UNKNOWN, True)
    assert "ServerNetworkError" in found.detail


async def test_drop_before_accept_is_in_doubt_then_not_sent(emu: RunningEmulator, sender: TencentSender) -> None:
    """A connection dropped before acceptance is IN_DOUBT to the sender; lookup then says NOT_SENT."""
    emu.world.faults.append(FaultRule(code="drop_before_accept", count=1))
    outcome = await sender.send(request())
    found = await sender.lookup(query())
    assert outcome.kind is K.IN_DOUBT
    assert found.verdict is LookupVerdict.NOT_SENT
    assert emu.send_log == []


async def test_resend_only_when_lookup_says_not_sent_leaves_no_duplicate(
    emu: RunningEmulator, sender: TencentSender
) -> None:
    """Resolving every in-doubt send by lookup before resending delivers each recipient exactly once."""
    faults = ["timeout_after_accept", "drop_before_accept", "drop_after_accept", None, "InternalError"]
    recipients = [f"r{i}@example.org" for i in range(len(faults))]
    for to, fault in zip(recipients, faults, strict=True):
        if fault:
            emu.world.faults.append(FaultRule(code=fault, count=1, recipient_domain="example.org", hang_s=5))
        outcome = await sender.send(request(to))
        while outcome.kind is not K.ACCEPTED:
            if outcome.kind is K.IN_DOUBT:
                found = await sender.lookup(query(to))
                if found.verdict is LookupVerdict.SENT:
                    break
                assert found.verdict is LookupVerdict.NOT_SENT
            outcome = await sender.send(request(to))
    logged = [r.to_address for r in emu.send_log]
    assert sorted(logged) == recipients
    assert len({r.message_id for r in emu.send_log}) == len(recipients)


async def test_lookup_ignores_refused_and_earlier_sends(
    emu: RunningEmulator, sender: TencentSender, clock: VirtualClock
) -> None:
    """A refused attempt (SendStatus 1006) or a send made before not_before, less the clock skew Tencent
    tolerates and a minute (6 minutes), is not the send looked for."""
    for _ in range(10):
        await sender.send(request())
    clock.advance(600)
    refused = await sender.send(request())
    later = StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), START.replace(hour=1, minute=7))
    found = await sender.lookup(later)
    assert refused.kind is K.RECIPIENT_LATER
    assert found.verdict is LookupVerdict.NOT_SENT


async def test_lookup_pages_past_one_hundred_records(clock: VirtualClock) -> None:
    """The matching record is found even when more than one page of records precede it."""
    world = make_world(
        per_address_per_hour=None,
        identities=[IdentityConfig(domain="news.example.com"), IdentityConfig(domain="other.example.com")],
    )
    async with run_emulator(world, clock=clock) as emu, build_sender(settings_for(emu, timeout_s=5)) as s:
        for _ in range(130):
            await s.send(SendRequest("default", "o@other.example.com", "jiwoo@example.org", 1, {"name": "x"}, "s"))
        sent = await s.send(request())
        found = await s.lookup(query())
    assert (found.verdict, found.message_id) == (LookupVerdict.SENT, sent.message_id)


@pytest.mark.parametrize("skew_s", [-290.0, -90.0, 90.0, 290.0])
async def test_a_send_is_found_whatever_clock_skew_tencent_accepts(skew_s: float) -> None:
    """Tencent stamps RequestTime by its own clock and takes a request signed up to 5 minutes off it: a
    send it took under such a skew is found by the lookup, never taken for one not sent (and mailed again)."""
    tencent = VirtualClock(START.timestamp() + skew_s)
    async with run_emulator(make_world(), clock=tencent) as emu, build_sender(settings_for(emu)) as s:
        sent = await s.send(request())
        found = await s.lookup(StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), START, START))
    assert (found.verdict, found.message_id) == (LookupVerdict.SENT, sent.message_id)


async def test_lookup_takes_a_naive_not_before_as_utc(sender: TencentSender, monkeypatch: pytest.MonkeyPatch) -> None:
    """A naive not_before means UTC whatever the machine's time zone, so the send is still found."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        sent = await sender.send(request())
        found = await sender.lookup(
            StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), START.replace(tzinfo=None))
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert (found.verdict, found.message_id) == (LookupVerdict.SENT, sent.message_id)


async def test_lookup_failure_is_unknown(emu: RunningEmulator, sender: TencentSender) -> None:
    """When GetSendEmailStatus itself fails the verdict is UNKNOWN, never NOT_SENT."""
    await sender.send(request())
    emu.world.faults.append(FaultRule(code="InternalError", action="GetSendEmailStatus", rate=1.0))
    found = await sender.lookup(query())
    assert found.verdict is LookupVerdict.UNKNOWN


# --- read-only helpers ---


async def test_helpers_return_plain_values(sender: TencentSender) -> None:
    """The check helpers turn SDK models into plain dataclasses: identities, identity, template, blocklist."""
    listing = await sender.list_identities()
    detail = await sender.get_identity("news.example.com")
    template = await sender.get_template(1)
    blocked = await sender.list_blacklist(date(2026, 11, 1), date(2026, 12, 1))
    assert [(i.name, i.reputation_level, i.daily_quota, i.send_ips) for i in listing.identities] == [
        ("news.example.com", 2, 1000, ("203.0.113.7",))
    ]
    assert detail.verified
    assert (template.status, template.html) == (0, "<p>{{name}}님 안녕하세요</p>")
    assert blocked.total_count == 0


async def test_probe_detects_template_only_account(sender: TencentSender, emu: RunningEmulator) -> None:
    """The recipient-less probe reports a template-only account and sends nothing."""
    assert await sender.probe_template_only(FROM, account="tpl") is True
    assert await sender.probe_template_only(FROM) is False
    assert emu.send_log == []


async def test_lookup_finds_a_send_that_left_on_a_later_china_day_than_its_grant(
    sender: TencentSender, clock: VirtualClock
) -> None:
    """Granted at 23:58 China time, sent at 00:03 (a backlog, or a lost job granted again under its first
    grant time): Tencent files it under the next day, which the send's window (up to `not_after`) reaches."""
    granted = datetime(2026, 12, 1, 15, 58, tzinfo=UTC)  # 23:58 in Shanghai
    clock.set(granted.timestamp() + 300)
    sent = await sender.send(request())
    found = await sender.lookup(
        StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), granted, not_after=clock_dt(clock))
    )
    assert (found.verdict, found.message_id) == (LookupVerdict.SENT, sent.message_id)


async def test_lookup_never_takes_another_sends_mail_to_the_same_address(
    sender: TencentSender, clock: VirtualClock
) -> None:
    """A mail whose MessageId belongs to another send (another campaign on the identity mailed the same
    person), or one made after the send's window, is not the send looked for: it was never made."""
    window_end = clock_dt(clock)
    other = await sender.send(request())
    taken = {other.message_id}

    async def is_taken(message_id: str) -> MailOwner:
        return MailOwner.ANOTHER if message_id in taken else MailOwner.NONE

    looked = StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), START, window_end, is_taken)
    assert (await sender.lookup(looked)).verdict is LookupVerdict.NOT_SENT
    clock.advance(3600)  # long after the window: the same recipient mailed again (recorded for that send)
    again = await sender.send(request())
    assert (await sender.lookup(looked)).verdict is LookupVerdict.NOT_SENT
    taken.add(again.message_id)
    ours = await sender.send(request())
    clock_ours = StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), clock_dt(clock), None, is_taken)
    found = await sender.lookup(clock_ours)
    assert (found.verdict, found.message_id) == (LookupVerdict.SENT, ours.message_id)


async def test_a_mail_another_doubt_took_by_lookup_is_undecidable_only_inside_the_sends_own_window(
    sender: TencentSender, clock: VirtualClock
) -> None:
    """A mail another in-doubt send took by a lookup: inside this send's own window (from its grant) either
    may be the one that left (UNKNOWN, undecidable: never sent again); before its grant, within the skew
    allowance only, it is the other's (NOT_SENT: send it)."""
    other = await sender.send(request())

    async def by_lookup(message_id: str) -> MailOwner:
        return MailOwner.ANOTHER_BY_LOOKUP if message_id == other.message_id else MailOwner.NONE

    made = clock_dt(clock)
    clock.advance(3)
    granted_later = clock_dt(clock)
    later = StatusQuery(
        "default", FROM, "jiwoo@example.org", date(2026, 12, 1), granted_later, granted_later, by_lookup
    )
    assert (await sender.lookup(later)).verdict is LookupVerdict.NOT_SENT
    same_second = StatusQuery("default", FROM, "jiwoo@example.org", date(2026, 12, 1), made, made, by_lookup)
    found = await sender.lookup(same_second)
    assert (found.verdict, found.undecidable, found.detail) == (LookupVerdict.UNKNOWN, True, SHARED_MAIL)


def clock_dt(clock: VirtualClock) -> datetime:
    return datetime.fromtimestamp(clock.now(), tz=UTC)
