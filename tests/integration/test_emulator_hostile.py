"""The SES emulator answers hostile and absurd requests the way Tencent does, and keeps a call log."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign
from tencentcloud.ses.v20201002 import models, ses_client_async

from orchestrator.core.clock import SystemClock, VirtualClock
from orchestrator.ses.emulator import (
    LogFileError,
    RunningEmulator,
    World,
    WorldFileError,
    load_world,
    permissive_world,
    run_emulator,
)
from orchestrator.ses.emulator.world import PERMISSIVE_MEMORY
from tests.e2e.procs import BIN
from tests.emulator_worlds import emulator_world
from tests.redis_server import free_port

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

SECRET_ID, SECRET_KEY = "AKIDhostile", "hostile-key"
FROM = "News <news@news.example.com>"
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC).timestamp()
DEEP = 100_000


def make_world(**overrides: Any) -> World:
    """One account, one verified domain, one approved template."""
    return emulator_world(SECRET_ID, SECRET_KEY, level=5, **overrides)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def emu(clock: VirtualClock) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(make_world(), clock=clock, request_timeout_s=0.5) as running:
        yield running


def client(emu: RunningEmulator, secret_id: str = SECRET_ID, key: str = SECRET_KEY) -> Any:
    http = HttpProfile(protocol="http", endpoint=emu.endpoint, reqTimeout=10)
    profile = ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)
    return ses_client_async.SesClient(Credential(secret_id, key), "ap-guangzhou", profile)


async def sdk_call(emu: RunningEmulator, action: str, params: dict[str, Any], **creds: str) -> Any:
    """One call with the official async SDK; request fields are set as given, whatever their type."""
    request = getattr(models, f"{action}Request")()
    for name, value in params.items():
        setattr(request, name, value)
    async with client(emu, **creds) as c:
        return await getattr(c, action)(request)


async def sdk_error(emu: RunningEmulator, action: str, params: dict[str, Any], **creds: str) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        await sdk_call(emu, action, params, **creds)
    return str(info.value.code)


def signed_headers(endpoint: str, action: str, body: bytes) -> dict[str, str]:
    """TC3 headers for `endpoint` (host:port) signed by hand over `body`, as the SDK would sign them."""
    timestamp = int(SystemClock().now())
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:application/json\nhost:{endpoint}\n\ncontent-type;host\n"
        + hashlib.sha256(body).hexdigest()
    )
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/ses/tc3_request\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = Sign.sign_tc3(SECRET_KEY, date, "ses", to_sign)
    return {
        "Content-Type": "application/json",
        "Host": endpoint,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": "2020-10-02",
        "X-TC-Region": "ap-guangzhou",
        "Authorization": (
            f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/ses/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}"
        ),
    }


async def raw_post(emu: RunningEmulator, action: str, body: bytes) -> tuple[int, str, dict[str, Any]]:
    """POST a signed raw body; (HTTP status, Content-Type, parsed JSON answer)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(emu.url + "/", data=io.BytesIO(body), headers=signed_headers(emu.endpoint, action, body)) as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), json.loads(await resp.read())


def tencent_error(answer: dict[str, Any]) -> str:
    """The error code of a Tencent-shaped error answer (asserting the shape)."""
    response = answer["Response"]
    assert set(response) == {"Error", "RequestId"}
    assert set(response["Error"]) == {"Code", "Message"}
    return str(response["Error"]["Code"])


# --- wrong-typed and absurd parameters ---


@pytest.mark.parametrize(
    ("action", "params", "code", "names"),
    [
        pytest.param("SendEmail", {"Destination": 5}, "InvalidParameter", "Destination", id="destination-number"),
        pytest.param(
            "SendEmail",
            {"Destination": ["a@example.org", 5]},
            "InvalidParameter",
            "Destination.1",
            id="destination-item",
        ),
        pytest.param("SendEmail", {"Template": "x"}, "InvalidParameter", "Template", id="template-string"),
        pytest.param(
            "DeleteBlackList", {"EmailAddressList": True}, "InvalidParameter", "EmailAddressList", id="list-is-true"
        ),
        pytest.param("ListEmailTemplates", {"Offset": float("inf")}, "InvalidParameter", "", id="offset-infinity"),
        pytest.param("ListEmailTemplates", {"Limit": 1.5}, "InvalidParameter", "Limit", id="limit-fraction"),
        pytest.param("ListEmailTemplates", {"Offset": [1]}, "InvalidParameter", "Offset", id="offset-list"),
        pytest.param(
            "GetSendEmailStatus",
            {"RequestDate": "2026-12-01", "Offset": 2**70},
            "InvalidParameterValue",
            "Offset",
            id="offset-beyond-int64",
        ),
        pytest.param("GetEmailIdentity", {"EmailIdentity": {"a": 1}}, "InvalidParameter", "EmailIdentity", id="object"),
    ],
)
async def test_wrong_typed_parameters_are_invalid_parameter(
    emu: RunningEmulator, action: str, params: dict[str, Any], code: str, names: str
) -> None:
    """A parameter of the wrong type or range, sent by the SDK, is Tencent's InvalidParameter(Value), naming it."""
    with pytest.raises(TencentCloudSDKException) as info:
        await sdk_call(emu, action, params)
    assert info.value.code == code
    assert not names or f"`{names}`" in str(info.value.message)
    assert emu.send_log == []


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        pytest.param("ListEmailTemplates", b'{"Offset": 1e400}', "InvalidParameter", id="offset-1e400"),
        pytest.param("GetEmailTemplate", b'{"TemplateID": 1e400}', "InvalidParameter", id="template-id-1e400"),
        pytest.param(
            "SendEmail",
            b'{"FromEmailAddress": "a@news.example.com", "Destination": ["b@example.org"], "Subject": "s",'
            b' "Template": {"TemplateID": 1e400, "TemplateData": "{}"}}',
            "InvalidParameter",
            id="send-template-id-1e400",
        ),
        pytest.param("ListEmailTemplates", b'{"Offset": NaN}', "InvalidParameter", id="nan-literal"),
        pytest.param("ListEmailTemplates", b"[1, 2]", "InvalidParameter", id="body-not-object"),
        pytest.param("ListEmailTemplates", b"{", "InvalidParameter", id="body-not-json"),
        pytest.param("ListEmailTemplates", b'{"Offset": "\xff"}', "InvalidParameter", id="body-not-utf8"),
        pytest.param("ListEmailTemplates", b"[" * DEEP + b"]" * DEEP, "InvalidParameter", id="body-deep"),
        pytest.param("ListEmailTemplates", b'{"X": ' + b"[" * DEEP + b"}", "InvalidParameter", id="body-deep-open"),
        pytest.param(
            "SendEmail",
            json.dumps(
                {
                    "FromEmailAddress": "a@news.example.com",
                    "Destination": ["b@example.org"],
                    "Subject": "s",
                    "Template": {"TemplateID": 1, "TemplateData": "[" * DEEP + "]" * DEEP},
                }
            ).encode(),
            "InvalidParameterValue.TemplateDataError",
            id="template-data-deep",
        ),
    ],
)
async def test_absurd_bodies_get_tencent_errors(emu: RunningEmulator, action: str, body: bytes, code: str) -> None:
    """A body the SDK cannot produce (1e400, NaN, 100,000 brackets) gets a Tencent error JSON, never an HTTP 500."""
    status, content_type, answer = await raw_post(emu, action, body)
    assert (status, content_type, tencent_error(answer)) == (200, "application/json", code)
    assert (await sdk_call(emu, "ListEmailTemplates", {})).TotalCount == 1  # and it still serves


async def test_template_data_nesting_via_sdk_is_template_data_error(emu: RunningEmulator) -> None:
    """TemplateData of 100,000 nested brackets, sent by the SDK, is TemplateDataError and logs no send."""
    template = models.Template()
    template.TemplateID, template.TemplateData = 1, "[" * DEEP + "]" * DEEP
    params = {"FromEmailAddress": FROM, "Destination": ["b@example.org"], "Subject": "s", "Template": template}
    assert await sdk_error(emu, "SendEmail", params) == "InvalidParameterValue.TemplateDataError"
    assert emu.send_log == []


# --- size and time limits on a request ---


async def test_oversized_body_is_request_size_limit_exceeded(emu: RunningEmulator) -> None:
    """A body over Tencent's 10 MB limit gets RequestSizeLimitExceeded as Tencent JSON."""
    body = b'{"Pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    status, content_type, answer = await raw_post(emu, "ListEmailTemplates", body)
    assert (status, content_type, tencent_error(answer)) == (200, "application/json", "RequestSizeLimitExceeded")


async def test_body_under_the_size_limit_is_served(emu: RunningEmulator) -> None:
    """A 2 MB body (over aiohttp's default 1 MB, under Tencent's 10 MB) is answered normally."""
    body = b'{"Pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, _content_type, answer = await raw_post(emu, "ListEmailTemplates", body)
    assert (status, answer["Response"]["TotalCount"]) == (200, 1)


async def raw_exchange(emu: RunningEmulator, data: bytes, wait_s: float) -> tuple[bytes, float]:
    """Send `data` on a fresh connection and read until the server closes it; (bytes read, seconds taken)."""
    reader, writer = await asyncio.open_connection(emu.host, emu.port)
    started = time.monotonic()
    writer.write(data)
    await writer.drain()
    try:
        received = await asyncio.wait_for(reader.read(), timeout=wait_s)
    finally:
        writer.close()
    return received, time.monotonic() - started


def request_head(emu: RunningEmulator, content_length: int) -> bytes:
    """Signed request headers announcing `content_length` body bytes."""
    headers = signed_headers(emu.endpoint, "ListEmailTemplates", b"{}")
    headers["Content-Length"] = str(content_length)
    return ("POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


async def test_oversized_announced_body_is_answered_before_it_is_sent(emu: RunningEmulator) -> None:
    """A request announcing a 20 MB body gets RequestSizeLimitExceeded at once, without sending the body."""
    reader, writer = await asyncio.open_connection(emu.host, emu.port)
    writer.write(request_head(emu, 20 * 1024 * 1024) + b'{"Pad": "')
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
    answer = json.loads(await asyncio.wait_for(reader.readexactly(length), timeout=5))
    writer.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert tencent_error(answer) == "RequestSizeLimitExceeded"


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param("body", id="half-a-body"),
        pytest.param("headers", id="half-the-headers"),
        pytest.param("nothing", id="connected-silent"),
    ],
)
async def test_partial_request_is_cut_off_after_the_timeout(emu: RunningEmulator, partial: str) -> None:
    """A client that stops half-way through a request is disconnected once the request timeout (0.5 s here) passes."""
    data = {
        "body": request_head(emu, 100) + b'{"Pad": "',
        "headers": b"POST / HTTP/1.1\r\nHost: x\r\nX-TC-Action: ListEm",
        "nothing": b"",
    }[partial]
    received, waited_s = await raw_exchange(emu, data, wait_s=10)
    assert received == b""
    assert 0.4 <= waited_s < 3
    assert emu.call_log == []


# --- world files ---


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            "world.yaml",
            "accounts:\n  - {name: a, secret_id: b, secret_key: c}\ntimezone: Mars/Base\n",
            "world.yaml:3: timezone: unknown time zone 'Mars/Base'",
            id="bad-timezone",
        ),
        pytest.param(
            "world.yaml",
            "accounts:\n  - {name: a, secret_id: b, secret_key: c}\nidentities:\n  - domain: a.example\n"
            "  - domain: b.example\n    reputation_level: 99\n",
            "world.yaml:6: identities.1.reputation_level: Input should be less than or equal to 20",
            id="level-out-of-range",
        ),
        pytest.param(
            "world.yaml",
            "accounts: [{name: a, secret_id: b, secret_key: c}]\nfaults:\n  - {code: http_99, count: 1}\n",
            "world.yaml:3: faults.0.code: http_NNN needs an HTTP status from 200 to 599",
            id="bad-http-fault",
        ),
        pytest.param(
            "world.yaml",
            "accounts: [{name: a, secret_id: b, secret_key: c}]\nfaults:\n  - {code: http_600_after_accept}\n",
            "world.yaml:3: faults.0.code: http_NNN needs an HTTP status from 200 to 599",
            id="bad-http-fault-after-accept",
        ),
        pytest.param(
            "world.yaml",
            "accounts: [{name: a, secret_id: b, secret_key: c}]\nlatency: {max_ms: .inf}\n",
            "world.yaml:2: latency.max_ms:",
            id="infinite-latency",
        ),
        pytest.param(
            "world.yaml",
            "accounts: [{name: a, secret_id: b, secret_key: c}]\ncallback_url: ftp://x\n",
            "world.yaml:2: callback_url: an http:// or https:// URL with a host",
            id="callback-not-http",
        ),
        pytest.param(
            "world.yaml",
            "accounts: " + "[" * DEEP + "]" * DEEP,
            "world.yaml: the file nests too deeply",
            id="yaml-deep",
        ),
        pytest.param("world.yaml", "- " * DEEP + "x\n", "world.yaml: the file nests too deeply", id="yaml-deep-block"),
        pytest.param(
            "world.json", '{"accounts": ' + "[" * DEEP + "]" * DEEP + "}", "world.json: brackets nest", id="json-deep"
        ),
        pytest.param("world.json", '{\n"accounts": [,]}', "world.json:2: Expecting value", id="json-syntax"),
        pytest.param("world.yaml", "accounts: [\n  {name: a\n", "world.yaml:3: expected ','", id="yaml-syntax"),
    ],
)
def test_world_file_errors_are_placed(tmp_path: Path, name: str, text: str, expected: str) -> None:
    """A bad world file is refused at load with one line per problem naming the file, line and field."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(WorldFileError) as info:
        load_world(path)
    assert len(info.value.problems) == 1
    assert str(info.value).startswith(f"{tmp_path}/{expected}")
    assert "\n" not in str(info.value)


def test_emulator_command_refuses_a_bad_world_in_one_line(tmp_path: Path) -> None:
    """`orchestrate emulator --world` with a bad time zone exits 2 with one placed line and no traceback."""
    world = tmp_path / "world.yaml"
    world.write_text("accounts:\n  - {name: a, secret_id: b, secret_key: c}\ntimezone: Mars/Base\n")
    done = subprocess.run(
        [str(BIN / "orchestrate"), "emulator", "--port", "0", "--world", str(world)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"{world}:3: timezone: unknown time zone 'Mars/Base' (an IANA name such as Asia/Shanghai)"
    ]


# --- the permissive world's memory ---


async def test_permissive_world_memory_is_bounded() -> None:
    """However many domains and templates a permissive world is asked about, it remembers a bounded number."""
    world = permissive_world({"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY})
    world.account_rate_per_s = None
    asked = PERMISSIVE_MEMORY + 50
    async with run_emulator(world) as emu, client(emu) as c:
        for start in range(0, asked, 50):
            identities, templates = [], []
            for n in range(start, start + 50):
                identity = models.GetEmailIdentityRequest()
                identity.EmailIdentity = f"d{n}.example"
                identities.append(c.GetEmailIdentity(identity))
                template = models.GetEmailTemplateRequest()
                template.TemplateID = n + 1
                templates.append(c.GetEmailTemplate(template))
            await asyncio.gather(*identities, *templates)
        listed = await c.ListEmailIdentities(models.ListEmailIdentitiesRequest())
        page = models.ListEmailTemplatesRequest()
        page.Limit = 1
        template_count = (await c.ListEmailTemplates(page)).TotalCount
        again = models.GetEmailIdentityRequest()
        again.EmailIdentity = "d0.example"
        forgotten = await c.GetEmailIdentity(again)
    assert (listed.Total, template_count) == (PERMISSIVE_MEMORY, PERMISSIVE_MEMORY)
    assert forgotten.VerifiedForSendingStatus is True


async def test_permissive_world_never_makes_up_a_name_longer_than_dns_allows() -> None:
    """A 1 MB "domain" is no sender domain: not verified, and not kept in the permissive world's memory."""
    world = permissive_world({"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY})
    world.account_rate_per_s = None
    async with run_emulator(world) as emu, client(emu) as c:
        huge = models.GetEmailIdentityRequest()
        huge.EmailIdentity = "d" * 1_000_000 + ".example"
        with pytest.raises(TencentCloudSDKException):
            await c.GetEmailIdentity(huge)
        fits = models.GetEmailIdentityRequest()
        fits.EmailIdentity = "d" * 240 + ".example"
        assert (await c.GetEmailIdentity(fits)).VerifiedForSendingStatus is True
        listed = await c.ListEmailIdentities(models.ListEmailIdentitiesRequest())
    assert [i.IdentityName for i in listed.EmailIdentities] == ["d" * 240 + ".example"]


# --- the call log and the account rate ---


async def test_call_log_records_every_call(emu: RunningEmulator, clock: VirtualClock) -> None:
    """Each call is logged with its arrival on the emulator clock, account, action and error code."""
    await sdk_call(emu, "ListEmailTemplates", {})
    clock.advance(0.25)
    await sdk_error(emu, "GetEmailTemplate", {"TemplateID": 9})
    clock.advance(0.25)
    await sdk_error(emu, "ListEmailTemplates", {}, key="wrong-key")
    clock.advance(0.25)
    await sdk_error(emu, "ListEmailTemplates", {"Limit": 1.5})
    assert [(r.time - START, r.account, r.action, r.error, r.counted) for r in emu.call_log] == [
        (0.0, "default", "ListEmailTemplates", None, True),
        (0.25, "default", "GetEmailTemplate", "InvalidParameterValue.TemplateNotExist", True),
        (0.5, None, "ListEmailTemplates", "AuthFailure.SignatureFailure", False),
        (0.75, "default", "ListEmailTemplates", "InvalidParameter", True),
    ]
    assert len({r.request_id for r in emu.call_log}) == 4


async def test_rate_check_counts_every_action(emu: RunningEmulator, clock: VirtualClock) -> None:
    """Calls of any action share the account's 20 a rolling second; the refusal shows in the call log."""
    actions: list[tuple[str, dict[str, Any]]] = [
        ("ListEmailTemplates", {}),
        ("ListEmailIdentities", {}),
        ("GetEmailTemplate", {"TemplateID": 1}),
        ("GetSendEmailStatus", {"RequestDate": "2026-12-01"}),
        ("GetEmailIdentity", {"EmailIdentity": "news.example.com"}),
    ]
    for i in range(20):
        action, params = actions[i % len(actions)]
        await sdk_call(emu, action, params)
        clock.advance(0.01)
    assert await sdk_error(emu, "SendEmail", {"Destination": 5}) == "RequestLimitExceeded"
    clock.advance(1.0)
    await sdk_call(emu, "ListEmailTemplates", {})
    errors = [r.error for r in emu.call_log]
    assert errors == [None] * 20 + ["RequestLimitExceeded", None]
    assert [r.counted for r in emu.call_log] == [True] * 20 + [False, True]


def busiest_second(times: list[float]) -> int:
    """The most calls in any half-open one-second window [t, t + 1)."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times)), default=0)


async def test_call_log_shows_the_rate_was_kept(clock: VirtualClock) -> None:
    """With a rate of 5/s, no one-second window of counted calls in the call log holds more than 5."""
    async with run_emulator(make_world(account_rate_per_s=5), clock=clock) as emu:
        for _ in range(30):
            # Two at a time, about 13 a second: some must be refused.
            await asyncio.gather(*(sdk_call(emu, "ListEmailTemplates", {}) for _ in range(2)), return_exceptions=True)
            clock.advance(0.15)
    counted = [r.time for r in emu.call_log if r.counted]
    refused = [r for r in emu.call_log if r.error == "RequestLimitExceeded"]
    assert busiest_second(counted) == 5
    assert len(counted) + len(refused) == 60
    assert refused


async def test_call_log_file_gets_json_lines(tmp_path: Path, clock: VirtualClock) -> None:
    """With call_log_path every call is also appended to the file as one JSON line."""
    path = tmp_path / "calls.jsonl"
    async with run_emulator(make_world(), clock=clock, call_log_path=path) as emu:
        await sdk_call(emu, "ListEmailTemplates", {})
        await sdk_error(emu, "GetEmailTemplate", {"TemplateID": 9})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["time"], r["account"], r["action"], r["error"], r["counted"]) for r in lines] == [
        (START, "default", "ListEmailTemplates", None, True),
        (START, "default", "GetEmailTemplate", "InvalidParameterValue.TemplateNotExist", True),
    ]


@pytest.mark.parametrize("log", ["send", "call"])
async def test_a_log_file_that_cannot_be_written_is_refused_at_start(
    tmp_path: Path, clock: VirtualClock, log: str
) -> None:
    """A send or call log in a folder that does not exist stops the start (it failed every call with HTTP 500)."""
    path = tmp_path / "missing" / "log.jsonl"
    with pytest.raises(LogFileError) as refused:
        async with run_emulator(make_world(), clock=clock, **{f"{log}_log_path": path}):
            pass
    assert (refused.value.log, refused.value.path) == (log, path)
    assert str(refused.value) == f"{path}: cannot append to it (No such file or directory)"


# --- the `orchestrate emulator` process ---


def start_emulator(tmp_path: Path, *extra: str, env_pair: bool = True) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`orchestrate emulator` on a free port with JSON logs to a file; (process, port, log file). With
    `env_pair`, the test's key pair in its environment; without, no TENCENTCLOUD_* variable at all."""
    port = free_port()
    log_path = tmp_path / "emulator.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")} | {"LOG_FORMAT": "json"}
    if env_pair:
        env |= {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "orchestrate"), "emulator", "--port", str(port), *extra],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, log_path
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the emulator did not listen")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def send_raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def list_identities(port: int) -> bytes:
    """A signed ListEmailIdentities, as raw HTTP; the whole answer."""
    body = b"{}"
    headers = signed_headers(f"127.0.0.1:{port}", "ListEmailIdentities", body)
    head = "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n"
    return send_raw(port, (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body)


def test_malformed_http_is_logged_in_one_line(tmp_path: Path) -> None:
    """Each malformed HTTP request gets a 400 and one log line in the emulator's output, never a traceback."""
    proc, port, log_path = start_emulator(tmp_path)
    try:
        answers = [
            send_raw(port, b"GARBAGE\r\n\r\n"),
            send_raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
            send_raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"y" * 20_000 + b"\r\n\r\n"),
            send_raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)) + b"\r\n\r\n"),
        ]
    finally:
        stop(proc)
    output = log_path.read_text(errors="replace")
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [a.split(b" ")[1] for a in answers] == [b"400"] * 4
    assert "Traceback" not in output
    assert [e["event"] for e in events] == ["emulator_bad_http"] * 4
    assert all(len(e["error"]) <= 203 for e in events)


def test_emulator_command_writes_the_call_log(tmp_path: Path) -> None:
    """`orchestrate emulator --call-log FILE` appends each API call to FILE as a JSON line and says so."""
    calls = tmp_path / "calls.jsonl"
    proc, port, log_path = start_emulator(tmp_path, "--call-log", str(calls))
    try:
        answer = list_identities(port)
    finally:
        stop(proc)
    records = [json.loads(line) for line in calls.read_text().splitlines()]
    assert b'"Total": 0' in answer
    assert [(r["account"], r["action"], r["error"], r["counted"]) for r in records] == [
        ("default", "ListEmailIdentities", None, True)
    ]
    assert f"call log: {calls}" in log_path.read_text()


def test_the_banner_never_prints_the_environments_key_pair(tmp_path: Path) -> None:
    """With a key pair in the environment (maybe a real one) the banner names where it comes from and prints
    neither half, and the emulator takes that pair; the default pair, public, is printed whole."""
    proc, port, log_path = start_emulator(tmp_path)
    try:
        answer = list_identities(port)
    finally:
        stop(proc)
    banner = log_path.read_text()
    assert b'"Total": 0' in answer
    assert "TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY of this environment (not shown)" in banner
    assert SECRET_ID not in banner
    assert SECRET_KEY not in banner
    proc, _, log_path = start_emulator(tmp_path, env_pair=False)
    try:
        deadline = time.monotonic() + 10
        while "emulator-key" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)  # the banner follows the listening socket by a moment
    finally:
        stop(proc)
    banner = log_path.read_text()
    assert "TENCENTCLOUD_SECRET_ID=emulator-id" in banner
    assert "TENCENTCLOUD_SECRET_KEY=emulator-key" in banner


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_emulator_stops_cleanly_on_ctrl_c_and_sigterm(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM (a supervisor's stop): the emulator closes its logs, says so and exits 0."""
    calls = tmp_path / "calls.jsonl"
    proc, port, log_path = start_emulator(tmp_path, "--call-log", str(calls))
    list_identities(port)
    proc.send_signal(sig)
    assert proc.wait(timeout=15) == 0
    assert "emulator stopped" in log_path.read_text()
    assert "Traceback" not in log_path.read_text()
    assert len(calls.read_text().splitlines()) == 1
