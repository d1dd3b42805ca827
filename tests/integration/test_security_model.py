"""The security model's points that no other test shows (docs/security.md): the callback token opens nothing
else and its route changes nothing else, Redis passwords and rediss://, the emulator on loopback.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
from pathlib import Path

import aiohttp
import pytest
from arq import create_pool
from click.testing import CliRunner
from redis.asyncio import Redis, SSLConnection

from orchestrator.cli import main
from orchestrator.commands.emulator import command as emulator_command
from orchestrator.embedded import EmbeddedRedis
from orchestrator.redis_url import redis_url_problem, safe_url
from orchestrator.ses.emulator import run_emulator
from orchestrator.store import keys
from orchestrator.store.connection import arq_settings, redis_from_url
from tests.e2e.locked_redis import RIGHT_PASSWORD, locked_redis, url_with
from tests.integration.test_web import Serve, http, serve
from tests.pipeline_harness import Pipeline, recipients_csv
from workers.jobs import job_deserializer
from workers.settings import worker_options

__all__ = ["http", "locked_redis", "serve"]  # fixtures used here

OPERATOR = "operator-token-0123456789"
CALLBACK = "callback-token-0123456789"
#: What the callback route may write: the feedback counters and the suppression lists.
CALLBACK_FAMILIES = (f"{keys.PREFIX}fb:", f"{keys.PREFIX}supp:")


async def dumps(redis: Redis) -> dict[str, bytes]:
    raw = Redis(connection_pool=redis.connection_pool)
    return {k: await raw.execute_command("DUMP", k, NEVER_DECODE=True) for k in await redis.keys("*")}


async def test_callback_token_opens_nothing_else_and_changes_only_feedback(
    pipe: Pipeline, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """The callback token is no operator token; its route reads nothing back, writes only feedback and suppressions."""
    await pipe.submit(recipients_csv(n_others=5, victim=False))
    await pipe.run(600)
    before = await dumps(pipe.redis)
    mid = next(iter(await pipe.redis.hkeys(keys.MESSAGE_IDS)))
    hostile_ids = [mid, keys.campaign(pipe.cid), keys.CAMPAIGNS, "../" * 5 + "x", "*", "\x00"]
    async with serve(pipe.clock, WEB_ACCESS_TOKEN=OPERATOR, CALLBACK_TOKEN=CALLBACK) as web:
        route = f"{web.url}/callbacks/tencent/{CALLBACK}"
        for path in ("/", "/status.json", "/metrics"):
            async with http.get(web.url + path, headers={"Authorization": f"Bearer {CALLBACK}"}) as resp:
                assert resp.status == 401, path
        async with http.get(route) as resp:
            assert resp.status == 405
        async with http.post(f"{web.url}/callbacks/tencent/{OPERATOR}", json={}) as resp:
            assert resp.status == 404  # the operator token is no callback token either
        for bulk_id in hostile_ids:
            event = {"event": "unsubscribe", "bulkId": bulk_id, "email": "u@example.com", "timestamp": 1}
            async with http.post(route, data=json.dumps({**event, "fromDomain": "d0.example.com"})) as resp:
                assert resp.status in (200, 400)
                assert await resp.text() in ("ok\n",) or resp.status == 400
    after = await dumps(pipe.redis)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed, "the events were not counted: the test shows nothing"
    assert {k for k in changed if not k.startswith(CALLBACK_FAMILIES)} == set()


async def test_rediss_url_makes_tls_connections_and_is_never_shown() -> None:
    """rediss:// gives TLS connections to both clients (redis-py and arq) with its password; printed, it is masked."""
    url = "rediss://app:s3cret-pw@db.example:6380/2"
    assert redis_url_problem(url) is None
    client = redis_from_url(url)
    try:
        pool = client.connection_pool
        assert issubclass(pool.connection_class, SSLConnection)
        assert (pool.connection_kwargs["username"], pool.connection_kwargs["password"]) == ("app", "s3cret-pw")
    finally:
        await client.aclose()
    arq = arq_settings(url)
    assert (arq.ssl, arq.host, arq.port, arq.database, arq.password) == (True, "db.example", 6380, 2, "s3cret-pw")
    assert safe_url(url) == "rediss://***@db.example:6380/2"
    # A private CA, or no verification: the TLS options reach both clients alike.
    tls = f"{url}?ssl_cert_reqs=none&ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=false"
    assert redis_url_problem(tls) is None
    client = redis_from_url(tls)
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["ssl_cert_reqs"], kwargs["ssl_ca_certs"], kwargs["ssl_check_hostname"]) == (
            "none",
            "/etc/ca.pem",
            False,
        )
    finally:
        await client.aclose()
    arq = arq_settings(tls)
    assert (arq.ssl_cert_reqs, arq.ssl_ca_certs, arq.ssl_check_hostname) == ("none", "/etc/ca.pem", False)
    assert "the ssl_ ones need rediss://" in str(redis_url_problem(tls.replace("rediss://", "redis://")))


async def test_redis_password_is_required_and_used(locked_redis: EmbeddedRedis, tmp_path: Path) -> None:
    """With the password in REDIS_URL, redis-py, arq and the commands all work against a Redis with requirepass.

    (Without it or with a wrong one: tests/e2e/test_settings_errors.py, one line that never shows it.)
    """
    good = url_with(locked_redis, RIGHT_PASSWORD)
    client = redis_from_url(good)
    assert await client.ping()
    await client.aclose()
    pool = await create_pool(arq_settings(good))
    assert await pool.ping()
    await pool.aclose()
    result = await asyncio.to_thread(CliRunner().invoke, main, ["status", "--json"], env={"REDIS_URL": good})
    assert result.exit_code == 0, result.output
    assert RIGHT_PASSWORD not in result.output


async def test_emulator_listens_on_loopback_unless_told() -> None:
    """The emulator (its command and its API) binds 127.0.0.1 by default: nothing else on the network reaches it."""
    host = next(p for p in emulator_command.params if p.name == "host")
    assert host.default == "127.0.0.1"
    async with run_emulator() as emu:
        assert emu.host == "127.0.0.1"
        assert emu.url.startswith("http://127.0.0.1:")
        outward = [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
        for address in {a for a in outward if not a.startswith("127.")}:
            with pytest.raises(ConnectionRefusedError), socket.create_connection((address, emu.port), timeout=2):
                pass


def test_job_payloads_are_json_so_redis_write_access_runs_no_code() -> None:
    """Workers read jobs as JSON, never pickle: a pickled payload planted in Redis is refused, not run."""
    options = worker_options(60, 4, "redis://127.0.0.1:1/0")
    assert options["job_deserializer"] is job_deserializer
    planted = pickle.dumps({"f": "send", "a": []})
    with pytest.raises(UnicodeDecodeError):  # pickle starts with 0x80: not even text
        job_deserializer(planted)
    assert job_deserializer(b'{"f":"send"}') == {"f": "send"}
