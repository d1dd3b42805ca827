"""The SES emulator as the unmodified official SDK (sync and async) sees it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign
from tencentcloud.ses.v20201002 import models, ses_client, ses_client_async

from orchestrator.core.clock import SystemClock, VirtualClock
from orchestrator.ses.emulator import (
    Account,
    Behaviour,
    FaultRule,
    IdentityConfig,
    RunningEmulator,
    TemplateConfig,
    World,
    WorldFileError,
    load_world,
    permissive_world,
    run_emulator,
)
from tests.callback_app import serve
from tests.emulator_worlds import emulator_world

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

SECRET_ID, SECRET_KEY = "AKIDemulatortest", "emulator-test-key"
FROM = "Acme News <news@news.example.com>"
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC).timestamp()  # 09:00 in Asia/Shanghai


def make_world(**overrides: Any) -> World:
    """A small world: one verified domain at level 1, an approved and a pending template, one blocked address."""
    fields: dict[str, Any] = {
        "more_accounts": [Account(name="tpl", secret_id="AKIDtemplateonly", secret_key="tpl-key", template_only=True)],
        "more_identities": [IdentityConfig(domain="unverified.example.com", verified=False, sending_enabled=False)],
        "send_ips": ["203.0.113.7"],
        "templates": [
            TemplateConfig(id=1, name="welcome", html="<p>Hi {{name}}</p>", text="Hi {{name}}"),
            TemplateConfig(id=2, name="draft", text="Draft", status=1),
        ],
        "blocklist": ["blocked@example.net"],
    }
    fields.update(overrides)
    return emulator_world(SECRET_ID, SECRET_KEY, **fields)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def emu(clock: VirtualClock) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(make_world(), clock=clock) as running:
        yield running


def profile(emu: RunningEmulator) -> ClientProfile:
    http = HttpProfile(protocol="http", endpoint=emu.endpoint, reqTimeout=5)
    return ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)


def sync_client(emu: RunningEmulator, secret_id: str = SECRET_ID, key: str = SECRET_KEY) -> Any:
    return ses_client.SesClient(Credential(secret_id, key), "ap-guangzhou", profile(emu))


def async_client(emu: RunningEmulator, secret_id: str = SECRET_ID, key: str = SECRET_KEY) -> Any:
    return ses_client_async.SesClient(Credential(secret_id, key), "ap-guangzhou", profile(emu))


async def call(emu: RunningEmulator, flavour: str, action: str, params: dict[str, Any], **creds: str) -> Any:
    """One SDK call with the sync client (in a thread) or the async client."""
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(params))
    if flavour == "sync":
        client = sync_client(emu, **creds)
        return await asyncio.to_thread(getattr(client, action), request)
    async with async_client(emu, **creds) as client:
        return await getattr(client, action)(request)


def send_params(to: str = "jiwoo@example.org", data: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    template = {
        "TemplateID": kw.pop("template_id", 1),
        "TemplateData": json.dumps({"name": "Jiwoo"} if data is None else data),
    }
    return {
        "FromEmailAddress": kw.pop("sender", FROM),
        "Destination": [to],
        "Template": template,
        "Subject": kw.pop("subject", "Hello"),
        **kw,
    }


async def error_code(emu: RunningEmulator, flavour: str, action: str, params: dict[str, Any], **creds: str) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        await call(emu, flavour, action, params, **creds)
    return str(info.value.code)


FLAVOURS = [pytest.param("sync", id="sync-sdk"), pytest.param("async", id="async-sdk")]


# --- every action, both SDKs ---


def _check_send(resp: Any, emu: RunningEmulator) -> None:
    assert resp.MessageId.startswith("qcloudses-")
    assert [r.message_id for r in emu.send_log] == [resp.MessageId]


def _check_identities(resp: Any, emu: RunningEmulator) -> None:
    found = {i.IdentityName: i for i in resp.EmailIdentities}
    assert found["news.example.com"].DailyQuota == 500
    assert found["news.example.com"].SendIp == ["203.0.113.7"]
    assert found["unverified.example.com"].SendingEnabled is False


def _check_identity(resp: Any, emu: RunningEmulator) -> None:
    assert resp.VerifiedForSendingStatus is True
    assert {a.Type for a in resp.Attributes} == {"MX", "TXT"}


def _check_template(resp: Any, emu: RunningEmulator) -> None:
    assert resp.TemplateStatus == 0
    assert resp.TemplateName == "welcome"
    assert resp.TemplateContent.Text == "SGkge3tuYW1lfX0="  # base64 of "Hi {{name}}"


def _check_templates(resp: Any, emu: RunningEmulator) -> None:
    assert resp.TotalCount == 2
    assert [(t.TemplateID, t.TemplateStatus) for t in resp.TemplatesMetadata] == [(1, 0), (2, 1)]


def _check_blacklist(resp: Any, emu: RunningEmulator) -> None:
    assert resp.TotalCount == 1
    assert resp.BlackList[0].EmailAddress == "blocked@example.net"


def _check_status(resp: Any, emu: RunningEmulator) -> None:
    assert resp.EmailStatusList == []


def _check_delete(resp: Any, emu: RunningEmulator) -> None:
    assert "blocked@example.net" not in emu.service.blocked


ACTIONS: list[tuple[str, dict[str, Any], Callable[[Any, RunningEmulator], None]]] = [
    ("SendEmail", send_params(), _check_send),
    ("ListEmailIdentities", {}, _check_identities),
    ("GetEmailIdentity", {"EmailIdentity": "news.example.com"}, _check_identity),
    ("GetEmailTemplate", {"TemplateID": 1}, _check_template),
    ("ListEmailTemplates", {"Limit": 10, "Offset": 0}, _check_templates),
    (
        "ListBlackEmailAddress",
        {"StartDate": "2026-11-01", "EndDate": "2026-12-01", "Limit": 10, "Offset": 0},
        _check_blacklist,
    ),
    ("GetSendEmailStatus", {"RequestDate": "2026-12-01", "Limit": 10, "Offset": 0}, _check_status),
    ("DeleteBlackList", {"EmailAddressList": ["blocked@example.net"]}, _check_delete),
]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("action", "params", "check"), ACTIONS, ids=[a[0] for a in ACTIONS])
async def test_sdk_gets_correct_answers_for_every_action(
    emu: RunningEmulator,
    flavour: str,
    action: str,
    params: dict[str, Any],
    check: Callable[[Any, RunningEmulator], None],
) -> None:
    """The official SDK, sync and async, calls each implemented action and reads a correct answer."""
    resp = await call(emu, flavour, action, params)
    check(resp, emu)
    assert resp.RequestId


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sdk_raises_emulated_api_errors(emu: RunningEmulator, flavour: str) -> None:
    """An error answer reaches the SDK as a TencentCloudSDKException with Tencent's code."""
    assert await error_code(emu, flavour, "GetEmailTemplate", {"TemplateID": 99}) == (
        "InvalidParameterValue.TemplateNotExist"
    )


async def test_answers_carry_exactly_application_json(emu: RunningEmulator) -> None:
    """Success and error answers both have Content-Type exactly application/json (no charset)."""
    async with httpx.AsyncClient() as http:
        error = await http.post(emu.url + "/", content=b"{}", headers={"X-TC-Action": "SendEmail"})
    resp = await call(emu, "async", "ListEmailIdentities", {})
    assert error.headers["content-type"] == "application/json"
    assert error.json()["Response"]["Error"]["Code"] == "NoSuchVersion"
    assert resp.RequestId


async def call_undeclared(emu: RunningEmulator, flavour: str, action: str) -> Any:
    """Call an action through the SDK's generic entry points (no typed method needed)."""
    if flavour == "sync":
        return await asyncio.to_thread(sync_client(emu).call_json, action, {})
    async with async_client(emu) as client:
        return await client.call_and_deserialize(action, {}, dict)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_unknown_action_is_invalid_action(emu: RunningEmulator, flavour: str) -> None:
    """An action the emulator does not implement is refused with InvalidAction."""
    with pytest.raises(TencentCloudSDKException) as info:
        await call_undeclared(emu, flavour, "BatchSendEmail")
    assert info.value.code == "InvalidAction"


# --- signatures ---


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_wrong_key_is_signature_failure(emu: RunningEmulator, flavour: str) -> None:
    """A request signed with the wrong SecretKey is refused with AuthFailure.SignatureFailure."""
    code = await error_code(emu, flavour, "ListEmailIdentities", {}, key="not-the-key")
    assert code == "AuthFailure.SignatureFailure"


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_unknown_secret_id_is_not_found(emu: RunningEmulator, flavour: str) -> None:
    """A SecretId the emulator does not know is refused with AuthFailure.SecretIdNotFound."""
    code = await error_code(emu, flavour, "ListEmailIdentities", {}, secret_id="AKIDnobody")
    assert code == "AuthFailure.SecretIdNotFound"


def signed_request(emu: RunningEmulator, timestamp: int, action: str = "ListEmailIdentities") -> httpx.Request:
    """A request signed by hand, the TC3 way, at `timestamp`."""
    body = b"{}"
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:application/json\nhost:{emu.endpoint}\n\ncontent-type;host\n"
        + hashlib.sha256(body).hexdigest()
    )
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/ses/tc3_request\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = Sign.sign_tc3(SECRET_KEY, date, "ses", to_sign)
    auth = (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/ses/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    headers = {
        "Content-Type": "application/json",
        "Host": emu.endpoint,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": "2020-10-02",
        "X-TC-Region": "ap-guangzhou",
        "Authorization": auth,
    }
    return httpx.Request("POST", emu.url + "/", content=body, headers=headers)


@pytest.mark.parametrize(
    ("age_s", "code"),
    [
        pytest.param(0, None, id="fresh"),
        pytest.param(290, None, id="within-5-minutes"),
        pytest.param(600, "AuthFailure.SignatureExpire", id="10-minutes-old"),
        pytest.param(-600, "AuthFailure.SignatureExpire", id="10-minutes-ahead"),
    ],
)
async def test_stale_timestamp_is_signature_expire(emu: RunningEmulator, age_s: int, code: str | None) -> None:
    """A correct signature over a timestamp more than 5 minutes from the real clock is refused."""
    request = signed_request(emu, int(SystemClock().now()) - age_s)
    async with httpx.AsyncClient() as http:
        answer = (await http.send(request)).json()["Response"]
    assert answer.get("Error", {}).get("Code") == code


# --- SendEmail rules ---


@pytest.mark.parametrize(
    ("params", "creds", "code"),
    [
        pytest.param(send_params(data={}), {}, "InvalidParameterValue.TemplateNotMatchData", id="missing-var"),
        pytest.param(
            send_params(data={"name": "<b>x</b>"}), {}, "InvalidParameterValue.InValidTemplateData", id="html-in-data"
        ),
        pytest.param(send_params(template_id=2), {}, "OperationDenied.TemplateStatusError", id="pending-template"),
        pytest.param(send_params(template_id=9), {}, "InvalidParameterValue.TemplateNotExist", id="no-template"),
        pytest.param(
            send_params(sender="a@unverified.example.com"),
            {},
            "OperationDenied.DomainNotVerified",
            id="unverified-domain",
        ),
        pytest.param(
            send_params(sender="a@nowhere.example.com"), {}, "InvalidParameterValue.NotExistDomain", id="unknown-domain"
        ),
        pytest.param(
            send_params(sender="A: B <a@news.example.com>"), {}, "FailedOperation.IncorrectSender", id="colon-in-alias"
        ),
        pytest.param(
            send_params(sender="A<a@news.example.com>"), {}, "FailedOperation.IncorrectSender", id="no-space-alias"
        ),
        pytest.param(
            send_params(sender="A  <a@news.example.com>"), {}, "FailedOperation.IncorrectSender", id="two-spaces"
        ),
        pytest.param(
            send_params(sender=" A <a@news.example.com>"), {}, "FailedOperation.IncorrectSender", id="leading-space"
        ),
        pytest.param({**send_params(), "Unsubscribe": "en"}, {}, "InvalidParameterValue", id="unsubscribe-en"),
        pytest.param({**send_params(), "Unsubscribe": "13"}, {}, "InvalidParameterValue", id="unsubscribe-13"),
        pytest.param(
            send_params(to="blocked@example.net"), {}, "FailedOperation.EmailAddrInBlacklist", id="blocklisted"
        ),
        pytest.param(
            send_params(to="not-an-address"), {}, "InvalidParameterValue.ReceiverEmailInvalid", id="bad-recipient"
        ),
        pytest.param(send_params(subject="x" * 101), {}, "InvalidParameterValue.SubjectLengthError", id="subject"),
        pytest.param(
            {"FromEmailAddress": FROM, "Destination": ["a@example.org"], "Subject": "s", "Simple": {"Text": "eA=="}},
            {"secret_id": "AKIDtemplateonly", "key": "tpl-key"},
            "FailedOperation.WithOutPermission",
            id="template-only-plain-body",
        ),
    ],
)
async def test_send_email_refuses_like_tencent(
    emu: RunningEmulator, params: dict[str, Any], creds: dict[str, str], code: str
) -> None:
    """SendEmail refuses each invalid request with Tencent's code and logs no send."""
    assert await error_code(emu, "async", "SendEmail", params, **creds) == code
    assert emu.send_log == []


async def test_account_rate_limit_per_second(emu: RunningEmulator, clock: VirtualClock) -> None:
    """The 21st call within one second is RequestLimitExceeded; a second later calls pass again."""
    async with async_client(emu) as client:
        for _ in range(20):
            await client.ListEmailTemplates(models.ListEmailTemplatesRequest())
        with pytest.raises(TencentCloudSDKException) as info:
            await client.ListEmailTemplates(models.ListEmailTemplatesRequest())
        clock.advance(1.0)
        await client.ListEmailTemplates(models.ListEmailTemplatesRequest())
    assert info.value.code == "RequestLimitExceeded"


async def test_same_address_ten_an_hour(emu: RunningEmulator, clock: VirtualClock) -> None:
    """The 11th mail to one address within an hour is FailedOperation.FrequencyLimit; an hour later it goes."""
    for _ in range(10):
        await call(emu, "async", "SendEmail", send_params())
        clock.advance(60)
    code = await error_code(emu, "async", "SendEmail", send_params())
    clock.advance(3600)
    await call(emu, "async", "SendEmail", send_params())
    assert code == "FailedOperation.FrequencyLimit"
    assert len(emu.send_log) == 11


async def test_daily_quota_per_sender_domain(clock: VirtualClock) -> None:
    """Past the domain's daily quota sends fail with ExceedSendLimit until the next China-time day."""
    world = make_world(identities=[IdentityConfig(domain="news.example.com", daily_quota=2)])
    async with run_emulator(world, clock=clock) as emu:
        for n in range(2):
            await call(emu, "async", "SendEmail", send_params(to=f"r{n}@example.org"))
        code = await error_code(emu, "async", "SendEmail", send_params(to="r2@example.org"))
        clock.advance(15 * 3600)  # 09:00 -> 00:00 the next day in Asia/Shanghai
        await call(emu, "async", "SendEmail", send_params(to="r2@example.org"))
    assert code == "FailedOperation.ExceedSendLimit"
    assert len(emu.send_log) == 3


# --- faults ---


async def test_fault_count_injects_then_stops(clock: VirtualClock) -> None:
    """A rule with count 2 fails the next two matching calls with its code and then lets calls pass."""
    world = make_world(faults=[FaultRule(code="InternalError", count=2)])
    async with run_emulator(world, clock=clock) as emu:
        codes = [await error_code(emu, "async", "SendEmail", send_params()) for _ in range(2)]
        resp = await call(emu, "async", "SendEmail", send_params())
    assert codes == ["InternalError", "InternalError"]
    assert [r.message_id for r in emu.send_log] == [resp.MessageId]


async def test_fault_rule_matches_recipient_domain(clock: VirtualClock) -> None:
    """A rule limited to one recipient domain leaves mail to other domains alone."""
    rule = FaultRule(code="FailedOperation.TemporaryBlocked", rate=1.0, recipient_domain="naver.com")
    async with run_emulator(make_world(faults=[rule]), clock=clock) as emu:
        code = await error_code(emu, "async", "SendEmail", send_params(to="a@naver.com"))
        await call(emu, "async", "SendEmail", send_params(to="a@gmail.com"))
    assert code == "FailedOperation.TemporaryBlocked"
    assert [r.to_address for r in emu.send_log] == ["a@gmail.com"]


# --- recipients, events, callbacks ---


async def test_hard_bounce_blocklists_the_address(clock: VirtualClock) -> None:
    """After a simulated hard bounce the address is on the blocklist and a new send is refused."""
    world = make_world(behaviour=Behaviour(hard_bounce_rate=1.0))
    async with run_emulator(world, clock=clock) as emu:
        await call(emu, "async", "SendEmail", send_params(to="gone@example.org"))
        clock.advance(60)
        code = await error_code(emu, "async", "SendEmail", send_params(to="gone@example.org"))
        listed = await call(
            emu,
            "async",
            "ListBlackEmailAddress",
            {"StartDate": "2026-12-01", "EndDate": "2026-12-01", "EmailAddress": "gone@example.org"},
        )
    assert [(e["event"], e["bounceType"]) for e in emu.events] == [("bounce", "hard_bounce")]
    assert code == "FailedOperation.EmailAddrInBlacklist"
    assert [b.EmailAddress for b in listed.BlackList] == ["gone@example.org"]


async def test_unsubscribe_refuses_later_sends_from_that_sender_domain_only(clock: VirtualClock) -> None:
    """A simulated unsubscribe makes later sends to that address from the same sender domain fail with
    ReceiverHasUnsubscribed; another sender domain may still mail it (Tencent's rule: the FAQ)."""
    other = IdentityConfig(domain="other.example.com")
    world = make_world(domains={"example.org": Behaviour(unsubscribe_rate=1.0)})
    world.identities.append(other)
    async with run_emulator(world, clock=clock) as emu:
        await call(emu, "async", "SendEmail", send_params(to="bye@example.org"))
        clock.advance(2 * 86400)
        code = await error_code(emu, "async", "SendEmail", send_params(to="bye@example.org"))
        await call(emu, "async", "SendEmail", send_params(to="bye@example.org", sender="Other <a@other.example.com>"))
    assert code == "FailedOperation.ReceiverHasUnsubscribed"
    assert "unsubscribe" in [e["event"] for e in emu.events]
    assert [r.from_address for r in emu.send_log][-1] == "Other <a@other.example.com>"


async def test_callbacks_posted_when_due(clock: VirtualClock) -> None:
    """Tencent-shaped events reach the callback URL once the emulator's clock passes their time."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app) as base:
        world = make_world(behaviour=Behaviour(open_rate=1.0), callback_url=f"{base}/hook")
        async with run_emulator(world, clock=clock) as emu:
            resp = await call(emu, "async", "SendEmail", send_params())
            await emu.flush_callbacks()
            before = len(received)
            clock.advance(86400)
            await emu.flush_callbacks()
    assert before == 0
    assert [(e["event"], e["eventid"]) for e in received] == [("delivered", 1), ("open", 4)]
    assert {e["bulkId"] for e in received} == {resp.MessageId}
    assert {"email", "timestamp", "from", "fromDomain", "templateId", "subject"} <= set(received[0])


@contextlib.asynccontextmanager
async def hooked_emulator(
    hook: Callable[[web.Request], Awaitable[web.Response]], clock: VirtualClock
) -> AsyncIterator[RunningEmulator]:
    """The emulator posting its callbacks to `hook` (at /hook of a local server), polling every 10 ms."""
    app = web.Application()
    app.router.add_post("/hook", hook)
    async with (
        serve(app) as base,
        run_emulator(make_world(callback_url=f"{base}/hook"), clock=clock, callback_poll_s=0.01) as emu,
    ):
        yield emu


async def test_flush_waits_for_the_post_in_flight(clock: VirtualClock) -> None:
    """A flush while the poster's own loop is posting returns only once that post is answered and counted."""
    received: list[dict[str, Any]] = []
    entered = asyncio.Event()

    async def slow_hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        entered.set()
        await asyncio.sleep(0.5)
        return web.Response(text="ok")

    async with hooked_emulator(slow_hook, clock) as emu:
        await call(emu, "async", "SendEmail", send_params())
        clock.advance(60)
        await asyncio.wait_for(entered.wait(), 5)  # the loop's post is at the receiver now
        await emu.flush_callbacks()
        counted = [e["event"] for e in emu.poster.delivered]
    assert [e["event"] for e in received] == ["delivered"]
    assert counted == ["delivered"]


async def test_a_receiver_down_for_a_while_still_gets_its_events(clock: VirtualClock) -> None:
    """A failed post is tried again after a wait that doubles on the emulator's clock (1, 2, 4 ... s, at most
    60): a receiver that comes back within a minute or two loses nothing; one that never does gets the event
    POST_TRIES times, then a warning says it was given up."""
    from structlog.testing import capture_logs

    from orchestrator.ses.emulator.recipients import POST_TRIES

    up = [False]
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        if not up[0]:
            return web.Response(status=503)
        received.append((await request.json())["event"])
        return web.Response(text="ok")

    async with hooked_emulator(hook, clock) as emu:
        await call(emu, "async", "SendEmail", send_params())
        clock.advance(60)  # the delivered event is due
        for expected_failures in (1, 2, 3):  # retried 1 s, then 2 s, after each failure: never in between
            await _until(lambda n=expected_failures: emu.poster.failed == n)  # type: ignore[misc]
            await asyncio.sleep(0.1)
            assert emu.poster.failed == expected_failures
            clock.advance(2.0 ** (expected_failures - 1))
        up[0] = True
        await _until(lambda: received == ["delivered"])
        up[0] = False
        await call(emu, "async", "SendEmail", send_params(to="never@example.org"))
        clock.advance(60)
        with capture_logs() as logs:

            def given_up() -> bool:
                clock.advance(61)  # past any wait, however late the last post came back
                return any(e["event"] == "emulator_callback_given_up" for e in logs)

            await _until(given_up, timeout_s=30)
    assert emu.poster.failed == 3 + POST_TRIES
    assert received == ["delivered"]


async def _until(done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_status_reports_delivery(emu: RunningEmulator, clock: VirtualClock) -> None:
    """GetSendEmailStatus shows an accepted mail queued at once and delivered after its event time."""
    sent = await call(emu, "async", "SendEmail", send_params())
    query = {"RequestDate": "2026-12-01", "ToEmailAddress": "jiwoo@example.org", "Limit": 10, "Offset": 0}
    first = (await call(emu, "async", "GetSendEmailStatus", query)).EmailStatusList
    clock.advance(60)
    later = (await call(emu, "async", "GetSendEmailStatus", query)).EmailStatusList
    assert [(r.MessageId, r.SendStatus, r.DeliverStatus) for r in first] == [(sent.MessageId, 0, 0)]
    assert [r.DeliverStatus for r in later] == [1]


async def test_send_log_file_gets_json_lines(tmp_path: Path, clock: VirtualClock) -> None:
    """Each accepted send is appended to the send-log file as one JSON line."""
    log_file = tmp_path / "sends.jsonl"
    async with run_emulator(make_world(), clock=clock, send_log_path=log_file) as emu:
        resp = await call(emu, "async", "SendEmail", send_params())
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(r["message_id"], r["template_data"]) for r in lines] == [(resp.MessageId, {"name": "Jiwoo"})]


# --- the permissive world and world files ---


async def test_permissive_world_accepts_any_domain_and_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no world file the environment's key pair works and any domain and template id are accepted."""
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfromenv")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "key-from-env")
    async with run_emulator(permissive_world()) as emu:
        resp = await call(
            emu,
            "async",
            "SendEmail",
            send_params(sender="x@any.example", template_id=777, data={}),
            secret_id="AKIDfromenv",
            key="key-from-env",
        )
        code = await error_code(emu, "async", "ListEmailIdentities", {}, secret_id="emulator-id", key="emulator-key")
        identities = await call(emu, "async", "ListEmailIdentities", {}, secret_id="AKIDfromenv", key="key-from-env")
    assert resp.MessageId
    assert code == "AuthFailure.SecretIdNotFound"
    assert [(i.IdentityName, i.CurrentReputationLevel, i.DailyQuota) for i in identities.EmailIdentities] == [
        ("any.example", 20, 1_000_000)
    ]


def test_world_file_loads_yaml(tmp_path: Path) -> None:
    """A YAML world file builds the same World a test builds in code."""
    path = tmp_path / "world.yaml"
    path.write_text(
        "accounts: [{name: default, secret_id: AKID1, secret_key: k1, template_only: true}]\n"
        "identities: [{domain: a.example.com, reputation_level: 3, send_ips: [203.0.113.9]}]\n"
        "templates: [{id: 7, html: '<p>{{name}}</p>', status: 1}]\n"
        "faults: [{code: timeout_after_accept, count: 1, hang_s: 5}]\n"
        "domains: {naver.com: {hard_bounce_rate: 0.02}}\n"
    )
    world = load_world(path)
    assert world.accounts[0].template_only is True
    assert world.identities[0].quota == 2_000
    assert world.templates[0].status == 1
    assert world.faults[0].code == "timeout_after_accept"
    assert world.behaviour_for("NAVER.com").hard_bounce_rate == 0.02


def test_world_file_names_unknown_keys(tmp_path: Path) -> None:
    """A misspelt key in a world file is an error naming the key, not a silent default."""
    path = tmp_path / "world.yaml"
    path.write_text("accounts: [{name: a, secret_id: b, secret_key: c}]\nidentites: []\n")
    with pytest.raises(WorldFileError, match="identites"):
        load_world(path)


def test_docs_world_example_loads(tmp_path: Path) -> None:
    """The world file example in docs/tencent.md is a valid world."""
    doc = (Path(__file__).parents[2] / "docs" / "tencent.md").read_text()
    example = doc.split("### The world file")[1].split("```yaml")[1].split("```")[0]
    path = tmp_path / "world.yaml"
    path.write_text(example)
    world = load_world(path)
    assert [a.name for a in world.accounts] == ["default", "marketing"]
    assert [f.code for f in world.faults][-2:] == ["timeout_after_accept", "http_503"]
