"""`orchestrate check` as a subprocess against the SES emulator: every problem named, exit codes, JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.campaign_file import load_campaign
from orchestrator.ses.emulator import (
    Account,
    IdentityConfig,
    RunningEmulator,
    TemplateConfig,
    World,
    run_emulator,
)
from orchestrator.store import keys
from tests.e2e.locked_redis import started_or_skip
from tests.pipeline_helpers import max_in_rolling_window

SECRET_ID, SECRET_KEY = "AKIDchecktest", "check-test-secret-key"
MKT_ID, MKT_KEY = "AKIDmarketing", "marketing-secret-key"
WRONG_KEY = "marketing-wrong-key"

CAMPAIGN = """\
name: spring-news
timezone: Asia/Seoul
identities:
  - {id: news-a, from: "Acme <news@unverified.example.com>"}
  - {id: news-b, from: "Acme <news@news.example.com>"}
  - {id: news-m, from: "Acme <news@mkt.example.com>", account: marketing}
template:
  id: TEMPLATE_ID
  subject: "Spring news for {{name}}"
  data:
    name: {column: first_name}
    unused: {value: x}
recipients: {file: recipients.csv}
"""

RECIPIENTS = """\
email,first_name
a@example.org,A
b@example.org,B
a@EXAMPLE.org,A
not-an-email,X
blocked@example.net,Z
"""


def broken_world() -> World:
    """Unverified domain, pending template with an unmapped variable, template-only default account."""
    return World(
        accounts=[
            Account(name="default", secret_id=SECRET_ID, secret_key=SECRET_KEY, template_only=True),
            Account(name="marketing", secret_id=MKT_ID, secret_key=MKT_KEY),
        ],
        identities=[
            IdentityConfig(domain="unverified.example.com", verified=False, sending_enabled=False),
            IdentityConfig(domain="news.example.com", reputation_level=1, send_ips=["203.0.113.7"]),
            IdentityConfig(domain="mkt.example.com", reputation_level=5),
        ],
        templates=[TemplateConfig(id=2, name="spring", html="<p>Hi {{name}}, use {{coupon}}</p>", status=1)],
        blocklist=["blocked@example.net"],
    )


def good_world() -> World:
    """Everything the campaign needs, verified and approved."""
    return World(
        accounts=[
            Account(name="default", secret_id=SECRET_ID, secret_key=SECRET_KEY),
            Account(name="marketing", secret_id=MKT_ID, secret_key=MKT_KEY),
        ],
        identities=[
            IdentityConfig(domain=d, reputation_level=5)
            for d in ("unverified.example.com", "news.example.com", "mkt.example.com")
        ],
        templates=[TemplateConfig(id=3, name="spring", html="<p>Hi {{name}}</p>", text="Hi {{name}}")],
        blocklist=["blocked@example.net"],
    )


def write_campaign(tmp_path: Path, template_id: int) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS)
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN.replace("TEMPLATE_ID", str(template_id)))
    return path


#: Nothing listens here: check finds no orchestrator Redis (and never touches one it was not given).
NO_REDIS = "redis://127.0.0.1:1/0"


async def run_check(
    emu: RunningEmulator, tmp_path: Path, *args: str, mkt_key: str = MKT_KEY, redis_url: str = NO_REDIS
) -> tuple[int, str]:
    """Run `orchestrate check ARGS` in a subprocess configured for the emulator; (exit code, stdout+stderr)."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "ACCOUNT_OTHER_RATE_PER_S": "10",
        "SES_ENDPOINT": emu.url,
        "TENCENTCLOUD_SECRET_ID": SECRET_ID,
        "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
        "ORCHESTRATE_ACCOUNTS": json.dumps({"marketing": {"secret_id": MKT_ID, "secret_key": mkt_key}}),
        "NO_PROXY": "127.0.0.1,localhost",
        "LOG_FORMAT": "json",
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "check",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return int(proc.returncode or 0), out.decode()


@pytest.fixture
async def broken() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(broken_world()) as emu:
        yield emu


@pytest.fixture
async def good() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(good_world()) as emu:
        yield emu


def failing(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["group"], i["name"]) for i in items if i["status"] == "fail"}


async def test_check_names_every_problem_of_a_broken_world(broken: RunningEmulator, tmp_path: Path) -> None:
    """Unverified domain, pending template, unmapped variable, wrong key and template-only account are all named."""
    code, out = await run_check(broken, tmp_path, str(write_campaign(tmp_path, 2)), mkt_key=WRONG_KEY)
    assert code == 1
    for needle in [
        "✗ verified",  # unverified.example.com
        "✗ sending enabled",
        "pending Tencent's review",
        "{{coupon}}",
        "AuthFailure.SignatureFailure",
        "template-only (default)",
        "fix: add these DNS records",
        "fix: the SecretKey does not belong to the SecretId",
    ]:
        assert needle in out, needle
    for secret in (SECRET_KEY, MKT_KEY, WRONG_KEY):
        assert secret not in out


async def test_check_json_lists_the_failures(broken: RunningEmulator, tmp_path: Path) -> None:
    """--json gives one item per check, and the failures are exactly the broken world's problems."""
    code, out = await run_check(broken, tmp_path, str(write_campaign(tmp_path, 2)), "--json", mkt_key=WRONG_KEY)
    payload = json.loads(out)
    assert (code, payload["ok"]) == (1, False)
    assert failing(payload["items"]) == {
        ("credentials", "account marketing"),
        ("identity news-a", "verified"),
        ("identity news-a", "sending enabled"),
        ("template 2", "approved"),
        ("template 2", "variables have data"),
    }
    warned = {i["name"] for i in payload["items"] if i["status"] == "warn"}
    assert {"template-only (default)", "quota covers the plan", "unused data"} <= warned
    (blocklist,) = [i for i in payload["items"] if i["name"] == "Tencent blocklist"]
    assert "not checked for account marketing: its credentials fail" in blocklist["detail"]  # never a bare pass


async def test_check_passes_a_good_world_and_counts_recipients(good: RunningEmulator, tmp_path: Path) -> None:
    """A ready world exits 0, and the recipient counts cover valid, invalid, duplicate and blocklisted rows."""
    code, out = await run_check(good, tmp_path, str(write_campaign(tmp_path, 3)), "--json")
    payload = json.loads(out)
    details = {i["name"]: i["detail"] for i in payload["items"] if i["group"] == "recipients"}
    assert (code, payload["ok"]) == (0, True)
    assert details["valid addresses"].startswith("3 ")
    assert details["invalid addresses"].startswith("1 ")
    assert details["duplicates"].startswith("1 ")
    assert details["Tencent blocklist"].startswith("on it: 1 ")


async def test_check_says_what_submit_will_refuse_of_a_stored_identity(
    good: RunningEmulator, tmp_path: Path, redis: Redis, redis_url: str
) -> None:
    """With the orchestrator's Redis, check compares the identities with their stored warm-up state as
    submit does: news-b counting its days in UTC fails the check of a campaign in Asia/Seoul (exit 1),
    and a consistent one passes."""
    path = write_campaign(tmp_path, 3)
    code, out = await run_check(good, tmp_path, str(path), "--json", redis_url=redis_url)
    assert (code, json.loads(out)["ok"]) == (0, True)
    [item] = [i for i in json.loads(out)["items"] if i["name"] == "identities"]
    assert (item["group"], item["status"]) == ("orchestrator", "ok")
    for ident in load_campaign(path).identities:  # registered by an earlier campaign in UTC
        await redis.hset(keys.IdentityKeys(ident.id).meta, mapping={"domain": ident.domain, "timezone": "UTC"})
        await redis.sadd(keys.IDENTITIES, ident.id)
    code, out = await run_check(good, tmp_path, str(path), "--json", redis_url=redis_url)
    assert code == 1
    assert failing(json.loads(out)["items"]) == {("orchestrator", "identities")}
    [item] = [i for i in json.loads(out)["items"] if i["name"] == "identities"]
    assert "counts its days in UTC, but this campaign uses Asia/Seoul" in item["detail"]


@pytest.mark.parametrize(
    ("config", "status", "words"),
    [
        pytest.param({}, "warn", "keeps no append-only file (appendonly no)", id="no-aof-warns"),
        pytest.param({"appendonly": "yes"}, "ok", "evicts nothing (noeviction) and keeps", id="durable-passes"),
        pytest.param({"maxmemory-policy": "allkeys-lru"}, "fail", "maxmemory-policy allkeys-lru", id="evicting-fails"),
    ],
)
async def test_check_judges_the_orchestrators_redis_as_submit_does(
    good: RunningEmulator, tmp_path: Path, config: dict[str, str], status: str, words: str
) -> None:
    """With the orchestrator's Redis answering, check has a line on the Redis itself: a failure where
    submit, pacer, worker and up would refuse it (exit 1), a warning without its append-only file."""
    server = started_or_skip(tmp_path / "own-redis")  # AOF off, noeviction: changed per case
    try:
        own = Redis.from_url(server.url)
        for name, value in config.items():
            await own.config_set(name, value)
        await own.aclose()
        code, out = await run_check(good, tmp_path, str(write_campaign(tmp_path, 3)), "--json", redis_url=server.url)
    finally:
        server.stop()
    [item] = [i for i in json.loads(out)["items"] if i["name"] == "Redis"]
    assert (item["group"], item["status"]) == ("orchestrator", status)
    assert words in item["detail"]
    assert code == (1 if status == "fail" else 0), out


async def test_check_bad_campaign_file_exits_2(good: RunningEmulator, tmp_path: Path) -> None:
    """A campaign file that does not validate exits 2 with its problems and checks nothing."""
    path = tmp_path / "campaign.yaml"
    path.write_text("name: x\n")
    code, out = await run_check(good, tmp_path, str(path))
    assert code == 2
    assert "identities" in out
    assert good.service.status_log == []


async def test_check_without_redis_keeps_to_the_reserved_share_of_the_rate(tmp_path: Path) -> None:
    """No orchestrator Redis: check still paces its own calls (a 4,000-address blocklist: 40 pages), never throttled."""
    world = good_world()
    world.blocklist = [f"bounced{i}@example.net" for i in range(4000)]
    async with run_emulator(world) as emu:
        code, out = await run_check(emu, tmp_path, str(write_campaign(tmp_path, 3)))
        calls = list(emu.call_log)
    assert code == 0, out
    assert [c for c in calls if (c.error or "").startswith("RequestLimitExceeded")] == []
    assert len(calls) > 40
    assert max_in_rolling_window([c.time for c in calls], 1.0) <= 10


async def test_check_first_line_agrees_with_a_permissive_emulator(tmp_path: Path) -> None:
    """A permissive emulator makes domains up when asked: each key-pair line counts those found after it (not 0)."""
    world = World(
        accounts=[
            Account(name="default", secret_id=SECRET_ID, secret_key=SECRET_KEY),
            Account(name="marketing", secret_id=MKT_ID, secret_key=MKT_KEY),
        ],
        permissive=True,
    )
    async with run_emulator(world) as emu:
        code, out = await run_check(emu, tmp_path, str(write_campaign(tmp_path, 3)), "--json")
    items = json.loads(out)["items"]
    credentials = {i["name"]: i["detail"] for i in items if i["group"] == "credentials"}
    found = [i["group"] for i in items if i["name"].endswith(" exists") and i["status"] == "ok"]
    assert code == 0, out
    assert found == ["identity news-a", "identity news-b", "identity news-m"]
    assert credentials == {
        "account default": "the key pair works (2 sender domains)",
        "account marketing": "the key pair works (3 sender domains)",  # the permissive world shares its domains
    }


async def test_check_fails_a_verified_domain_whose_dns_changed_since(tmp_path: Path) -> None:
    """Verified once, its SPF record since replaced (`v=spf1 -all`): not "verified ok", a failure naming the
    record to restore. The checks run in the seed's order: credentials, domain, recipients, template."""
    world = good_world()
    world.identities[1] = IdentityConfig(domain="news.example.com", reputation_level=5, changed_records=["spf"])
    async with run_emulator(world) as emu:
        code, out = await run_check(emu, tmp_path, str(write_campaign(tmp_path, 3)), "--json")
    payload = json.loads(out)
    assert (code, payload["ok"]) == (1, False)
    assert failing(payload["items"]) == {("identity news-b", "verified")}
    (item,) = [i for i in payload["items"] if (i["group"], i["name"]) == ("identity news-b", "verified")]
    assert "DNS changed since" in item["detail"]
    assert "TXT news.example.com = v=spf1 include:qcloudmail.com ~all" in item["fix"]
    groups = list(dict.fromkeys(i["group"].split(" ")[0] for i in payload["items"]))
    assert groups == ["credentials", "identity", "recipients", "template", "account"]  # account: template-only
