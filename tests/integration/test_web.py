"""The web process's app on a real port: access rules, /healthz, /metrics against the store, escaping."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import structlog
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.campaign_state import Transition
from orchestrator.core.clock import VirtualClock
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import FaultRule
from orchestrator.ses.errors import SesError
from orchestrator.settings import Settings
from orchestrator.status import all_status
from orchestrator.store import campaigns, events, keys
from orchestrator.store.api_stats import ApiCallStats
from orchestrator.web.access import WebAccessError, check_exposure, is_loopback
from orchestrator.web.app import RunningWeb, running_web
from orchestrator.web.context import WebContext
from tests.pipeline_harness import Pipeline, recipients_csv, settings_for
from tests.redis_server import free_port

TOKEN = "operator-token-0123456789"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'

Serve = Callable[..., AbstractAsyncContextManager[RunningWeb]]


@pytest.fixture
def serve(redis: Redis) -> Serve:
    """Starts the app on a free loopback port with the given settings (and clock)."""

    def start(clock: VirtualClock | None = None, **settings: Any) -> AbstractAsyncContextManager[RunningWeb]:
        s = Settings(_env_file=None, WEB_HOST="127.0.0.1", WEB_PORT=0, **settings)
        return running_web(WebContext(redis, s, clock or VirtualClock(1_800_000_000.0)))

    return start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="v4"),
        pytest.param("127.8.9.10", True, id="v4-range"),
        pytest.param("::1", True, id="v6"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("0.0.0.0", False, id="any"),
        pytest.param("192.168.1.5", False, id="lan"),
        pytest.param("example.com", False, id="a-name"),
    ],
)
def test_is_loopback_by_address(host: str, loopback: bool) -> None:
    """Only loopback addresses (and `localhost`) count as loopback; any other name does not."""
    assert is_loopback(host) is loopback


def test_exposure_beyond_loopback_needs_the_token() -> None:
    """Without WEB_ACCESS_TOKEN a non-loopback address is refused; with it, it is allowed."""
    with pytest.raises(WebAccessError, match="not a loopback address"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", SecretStr(TOKEN))
    check_exposure("127.0.0.1", None)


async def test_token_guards_the_page_and_metrics_but_not_healthz(serve: Serve, http: aiohttp.ClientSession) -> None:
    """With a token: no credentials or a wrong one is 401; the bearer works; /healthz stays open."""
    async with serve(WEB_ACCESS_TOKEN=TOKEN) as web:
        for path in ("/", "/metrics", "/status.json"):
            async with http.get(web.url + path) as resp:
                assert resp.status == 401
                assert TOKEN not in await resp.text()
            wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "x"}
            async with http.get(web.url + path, headers=wrong) as resp:
                assert resp.status == 401
            async with http.get(web.url + path, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
                assert resp.headers["Cache-Control"] == "no-store"
        async with http.get(web.url + "/healthz") as resp:
            assert resp.status == 200


async def test_token_in_the_address_sets_a_cookie_and_redirects(serve: Serve, http: aiohttp.ClientSession) -> None:
    """/?token= sets an HttpOnly SameSite=Strict cookie (not the token) and redirects to /; the cookie then opens it."""
    async with serve(WEB_ACCESS_TOKEN=TOKEN) as web:
        async with http.get(web.url + "/?token=wrong-token-0123456789", allow_redirects=False) as resp:
            assert resp.status == 401
            assert "Set-Cookie" not in resp.headers
        async with http.get(web.url + f"/?token={TOKEN}", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/"
            cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert TOKEN not in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        async with http.get(web.url + "/") as resp:
            assert resp.status == 200
            assert "Warm-up status" in await resp.text()
        async with http.get(web.url + "/metrics") as resp:
            assert resp.status == 200
        proxied = {"X-Forwarded-Proto": "https"}  # a TLS proxy in front: the browser's side is HTTPS
        async with http.get(web.url + f"/?token={TOKEN}", headers=proxied, allow_redirects=False) as resp:
            assert "Secure" in resp.headers["Set-Cookie"]


async def test_a_base64_access_token_signs_in_by_address_too(serve: Serve, http: aiohttp.ClientSession) -> None:
    """`?token=` takes the token as written or percent-encoded: a `+` of a base64 token is not read as a
    space (form decoding would, and the token would never match); `/` and `=` arrive as they are."""
    token = "Ab+cd/ef=gh+ij/KL0123=="
    async with serve(WEB_ACCESS_TOKEN=token) as web:
        for written in (token, quote(token, safe="")):
            async with http.get(web.url + f"/?token={written}", allow_redirects=False) as resp:
                assert resp.status == 303, written
        async with http.get(web.url + "/?token=Ab%20cd/ef=gh%20ij/KL0123==", allow_redirects=False) as resp:
            assert resp.status == 401  # spaces are not pluses


async def test_without_token_loopback_answers_and_elsewhere_refuses(
    serve: Serve, http: aiohttp.ClientSession, redis: Redis
) -> None:
    """No token: a loopback server answers; an app configured for another address refuses with 403."""
    async with serve() as web, http.get(web.url + "/") as resp:
        assert resp.status == 200
    wide = Settings(_env_file=None, WEB_HOST="0.0.0.0")
    with pytest.raises(WebAccessError):
        async with running_web(WebContext(redis, wide, VirtualClock(0))):
            pass
    from aiohttp import web as aioweb

    from orchestrator.web.app import build_app

    app = build_app(WebContext(redis, Settings(_env_file=None, WEB_HOST="192.168.1.5"), VirtualClock(0)))
    runner = aioweb.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with http.get(f"http://127.0.0.1:{port}/") as resp:
            assert resp.status == 403
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
    finally:
        await runner.cleanup()


async def test_healthz_reports_the_pacer_tick_age(serve: Serve, http: aiohttp.ClientSession, redis: Redis) -> None:
    """/healthz: Redis ok and no tick yet (null), then the age of the recorded tick by the app's clock."""
    clock = VirtualClock(1_800_000_000.0)
    async with serve(clock) as web:
        async with http.get(web.url + "/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"redis": "ok", "pacer_tick_age_s": None}
        await redis.set(keys.PACER_TICK, repr(clock.now() - 42.5))
        async with http.get(web.url + "/healthz") as resp:
            assert await resp.json() == {"redis": "ok", "pacer_tick_age_s": 42.5}


async def test_healthz_is_503_when_redis_does_not_answer(http: aiohttp.ClientSession) -> None:
    """A Redis nobody listens for makes /healthz 503, quickly."""
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    settings = Settings(_env_file=None, WEB_PORT=0)
    try:
        async with running_web(WebContext(dead, settings, VirtualClock(0))) as web:
            async with http.get(web.url + "/healthz") as resp:
                assert resp.status == 503
                assert (await resp.json())["redis"] == "down"
            async with http.get(web.url + "/") as resp:
                assert resp.status == 503
    finally:
        await dead.aclose()


async def test_the_operators_pages_are_503_within_their_timeout_when_redis_stalls(
    serve: Serve, http: aiohttp.ClientSession, redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis that takes connections but does not answer (paused, stalled) held /metrics until the client's
    retries ran out (17 s, past Prometheus's 10 s scrape timeout): now 503 after PAGE_TIMEOUT_S."""
    from orchestrator.web import app as web_app

    monkeypatch.setattr(web_app, "PAGE_TIMEOUT_S", 0.5)
    async with serve() as web:
        async with http.get(web.url + "/metrics") as resp:
            assert resp.status == 200  # the app's connection is made while Redis answers
        pauser = Redis.from_url(redis_url)
        try:
            # Paused far longer than the three requests take (UNPAUSE ends it): a loaded machine must not see
            # the pause run out under the last one.
            await pauser.execute_command("CLIENT", "PAUSE", "30000", "ALL")
            for path in ("/metrics", "/status.json", "/"):
                t0 = asyncio.get_running_loop().time()
                async with http.get(web.url + path) as resp:
                    assert (resp.status, path) == (503, path)
                assert asyncio.get_running_loop().time() - t0 < 5.0  # 0.5 s and its overhead, not the 17 s of old
        finally:
            await pauser.execute_command("CLIENT", "UNPAUSE")
            await pauser.aclose()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_equal_the_store(pipe: Pipeline, serve: Serve, http: aiohttp.ClientSession) -> None:
    """After a real run, every /metrics figure equals what the store and `status` hold."""
    cid = await pipe.submit(recipients_csv(n_others=30, victim=False), identities=2)
    await pipe.run(95)
    redis = pipe.redis
    await redis.hset(keys.FB_TOTALS, mapping={f"delivered|t-id0|{cid}": 7, f"accepted|t-id1|{cid}": 9, "junk": 1})
    stats = ApiCallStats(redis)
    for throttled in (False, False, True):
        await stats.count("default", throttled)
    await redis.set(keys.PACER_TICK, repr(pipe.clock.now() - 3))
    async with serve(pipe.clock) as web, http.get(web.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        got = _samples(await resp.text())
    (st,) = await all_status(redis, pipe.clock.now())
    assert st.progress["accepted"] > 0
    assert got[("wo_campaign_recipients", (("campaign", cid), ("outcome", "accepted")))] == st.progress["accepted"]
    assert got[("wo_campaign_recipients", (("campaign", cid), ("outcome", "pending")))] == st.progress["pending"]
    assert got[("wo_campaign_recipients_valid", (("campaign", cid),))] == st.progress["total"]
    assert got[("wo_campaign_state", (("campaign", cid), ("state", "running")))] == 1
    assert got[("wo_campaign_queue_length", (("campaign", cid),))] == await redis.llen(keys.CampaignKeys(cid).queue)
    for ident in st.identities:
        labels = (("campaign", cid), ("identity", ident.id))
        assert got[("wo_identity_sent_today", labels)] == ident.sent_today
        assert got[("wo_identity_daily_cap", labels)] == ident.daily_cap
        assert got[("wo_identity_sent_last_hour", labels)] == ident.sent_last_hour
        assert got[("wo_identity_hourly_cap", labels)] == ident.hourly_cap
    assert sum(i.sent_today for i in st.identities) == st.progress["accepted"]
    fb = (("campaign", cid), ("event", "delivered"), ("identity", "t-id0"))
    assert got[("wo_callback_events_total", fb)] == 7
    assert got[("wo_callback_events_total", (("campaign", cid), ("event", "accepted"), ("identity", "t-id1")))] == 9
    assert got[("wo_api_calls_total", (("account", "default"),))] == 3
    assert got[("wo_api_throttles_total", (("account", "default"),))] == 1
    assert got[("wo_pacer_tick_age_seconds", ())] == 3
    assert got[("wo_arq_queue_depth", ())] == await redis.zcard("arq:queue")
    assert got[("wo_in_doubt", ())] == st.progress["in_doubt"]


async def test_an_unreadable_campaign_keeps_its_in_doubt_and_shows_no_made_up_counts(
    pipe: Pipeline, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """A campaign whose record cannot be read: /metrics said 0 for each of its counts and dropped its sends
    in doubt from wo_in_doubt (an alert cleared itself as the campaign broke). Its counts are left out and
    wo_in_doubt still holds its sends in doubt (from the ledger's counts)."""
    cid = await pipe.submit(recipients_csv(n_others=10, victim=False), identities=1)
    await pipe.run(30)
    await pipe.redis.hset(keys.CampaignKeys(cid).counts, "in_doubt", 3)  # as the ledger counts them
    await pipe.redis.hset(keys.campaign(cid), "state", "exploded")
    async with serve(pipe.clock) as web, http.get(web.url + "/metrics") as resp:
        assert resp.status == 200
        got = _samples(await resp.text())
    assert got[("wo_campaign_state", (("campaign", cid), ("state", "unreadable")))] == 1
    assert got[("wo_in_doubt", ())] == 3
    assert not [k for k in got if k[0].startswith("wo_campaign_recipients") and ("campaign", cid) in k[1]]


async def test_a_key_of_the_wrong_type_is_said_to_be_damaged_not_redis_gone(
    redis: Redis, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """A global key of the wrong type made /metrics answer "Redis does not answer" (while /healthz said Redis
    was fine): the 503 now says what Redis refused."""
    await redis.set(keys.FB_TOTALS, "x")
    async with serve() as web, http.get(web.url + "/metrics") as resp:
        assert resp.status == 503
        assert (await resp.text()).startswith("503: a stored key has the wrong type")


async def test_a_cancelled_campaign_has_nothing_ready_to_be_granted(
    pipe: Pipeline, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """Cancelled with recipients still listed in its queue: wo_campaign_queue_length said they were ready
    to be granted; a finished campaign grants nothing more (its pending count still shows them)."""
    cid = await pipe.submit(recipients_csv(n_others=30, victim=False), identities=1)
    await pipe.run(5)
    await campaigns.transition(pipe.redis, cid, Transition.CANCEL, pipe.clock.now(), reason="test")
    assert await pipe.redis.llen(keys.CampaignKeys(cid).queue) > 0
    async with serve(pipe.clock) as web, http.get(web.url + "/metrics") as resp:
        got = _samples(await resp.text())
    assert got[("wo_campaign_queue_length", (("campaign", cid),))] == 0
    assert got[("wo_campaign_recipients", (("campaign", cid), ("outcome", "pending")))] > 0


async def test_sender_counts_its_calls_and_throttles(pipe: Pipeline, redis: Redis) -> None:
    """Every SDK call is counted in the account's stats, and a RequestLimitExceeded answer as a throttle too."""
    pipe.emu.world.faults.append(FaultRule(code="RequestLimitExceeded", count=2, action="GetEmailIdentity"))
    sender = TencentSender(settings_for(pipe.emu), stats=ApiCallStats(redis))
    try:
        await sender.list_identities()
        for _ in range(2):
            with pytest.raises(SesError, match="RequestLimitExceeded"):
                await sender.get_identity("d0.example.com")
        await sender.get_identity("d0.example.com")
    finally:
        await sender.close()
    assert await redis.hgetall(keys.account_stats("default")) == {"calls": "4", "throttles": "2"}


class _Text(HTMLParser):
    """The page's visible text, and every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_page_escapes_hostile_names_reasons_and_addresses(
    pipe: Pipeline, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """A hostile stored name, pause reason and event address show as text: no tag of theirs reaches the page."""
    cid = await pipe.submit(recipients_csv(n_others=3, victim=False))
    redis = pipe.redis
    await redis.hset(keys.campaign(cid), "name", HOSTILE)
    await campaigns.transition(redis, cid, Transition.PAUSE, pipe.clock.now(), reason=HOSTILE, by="op<u>")
    await events.emit(redis, pipe.clock.now(), "send_failed", cid, "t-id0", address=f'"{HOSTILE}"@example.com')
    async with serve(pipe.clock) as web, http.get(web.url + "/") as resp:
        html = await resp.text()
    parser = _Text()
    parser.feed(html)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert "u" not in parser.tags
    text = "".join(parser.text)
    assert text.count(HOSTILE) >= 3  # the name, the reason, the event's address: shown as they are
    assert re.search(r"<script>alert", html) is None


async def test_routes_added_beside_the_pages_are_not_guarded(redis: Redis, http: aiohttp.ClientSession) -> None:
    """The access rule guards the operators' handlers only: the callbacks route answers on its own token."""
    hook_token = "callback-token-for-this-test-0123"
    settings = Settings(_env_file=None, WEB_ACCESS_TOKEN=TOKEN, WEB_PORT=0, CALLBACK_TOKEN=hook_token)
    ctx = WebContext(redis, settings, VirtualClock(0))
    event = {"event": "open", "bulkId": "m-unknown", "email": "a@example.com", "timestamp": 1}
    async with running_web(ctx) as web:
        async with http.post(web.url + f"/callbacks/tencent/{hook_token}", json=event) as resp:
            assert resp.status == 200  # no WEB_ACCESS_TOKEN asked for
        async with http.post(web.url + "/callbacks/tencent/abc", json=event) as resp:
            assert resp.status == 404  # the callbacks' own token decides, not the access rule
        async with http.get(web.url + "/") as resp:
            assert resp.status == 401


async def test_healthz_stays_200_when_the_tick_key_is_damaged(
    serve: Serve, http: aiohttp.ClientSession, redis: Redis
) -> None:
    """A tick key of the wrong type: Redis answers, so /healthz is 200 with no age (it said 503 "down", and a
    supervisor would restart a healthy web process)."""
    await redis.hset(keys.PACER_TICK, "a", "b")
    async with serve() as web, http.get(web.url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"redis": "ok", "pacer_tick_age_s": None}


async def test_a_not_found_answer_carries_the_security_headers(serve: Serve, http: aiohttp.ClientSession) -> None:
    """404 and 405 are raised, not returned: they lacked the headers every answer carries."""
    async with serve(CALLBACK_TOKEN="t" * 32) as web:
        for method, path, status in (("POST", "/callbacks/tencent/wrong", 404), ("GET", "/callbacks/tencent/x", 405)):
            async with http.request(method, web.url + path) as resp:
                assert resp.status == status
                assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
                assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), path


async def _closed_within(port: int, send: bytes, seconds: float) -> bool:
    """Whether the server closes a connection that sent `send` and then nothing, within `seconds`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(send)
        await writer.drain()
        async with asyncio.timeout(seconds):
            while await reader.read(4096):
                pass  # an answer (a 400 for a cut body) before the close
        return True
    except TimeoutError:
        return False
    finally:
        writer.close()


async def test_idle_and_slow_connections_are_closed(
    serve: Serve, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that sends nothing, headers that never end, or a callback body that stops part way, is
    closed (aiohttp kept them for an hour: enough of them took every file descriptor of the process); a body
    cut by the client's hang-up is a refused callback, not "Redis does not answer"."""
    from orchestrator.web import app as web_app
    from orchestrator.web import callbacks

    monkeypatch.setattr(web_app, "IDLE_S", 0.5)
    monkeypatch.setattr(callbacks, "BODY_READ_S", 0.5)
    token = "t" * 32
    async with serve(CALLBACK_TOKEN=token) as web:
        port = int(web.url.rsplit(":", 1)[1])
        assert await _closed_within(port, b"", 5.0)
        assert await _closed_within(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 5.0)
        head = f"POST /callbacks/tencent/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
        with structlog.testing.capture_logs() as logs:
            assert await _closed_within(port, head.encode() + b'{"ev', 5.0)
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head.encode() + b'{"ev')
            await writer.drain()
            writer.close()  # hung up part way
            for _ in range(50):
                if sum(e["event"] == "callback_refused" for e in logs) >= 2:
                    break
                await asyncio.sleep(0.1)
        events = [e["event"] for e in logs]
        assert "web_redis_error" not in events
        refused = [e["reason"] for e in logs if e["event"] == "callback_refused"]
        assert any("not received whole within 0.5 s (4 bytes came)" in r for r in refused), refused
        assert any("the client closed the connection after 4 bytes" in r for r in refused), refused


async def test_listings_show_the_unfinished_and_the_newest_finished_campaigns(
    redis: Redis, redis_url: str, serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Finished campaigns stay in Redis for the record: `status`, the page, /status.json and /metrics show
    every unfinished one and the newest FINISHED_SHOWN finished ones (a year of daily campaigns made a page
    of megabytes, refreshed every 5 s, and ever more /metrics series); `status --all` lists every one."""
    from orchestrator.cli import main
    from orchestrator.store.campaigns import FINISHED_SHOWN
    from tests.fakes import submit_file
    from tests.pipeline_helpers import write_campaign

    ids = []
    one_identity = {"identities": [{"id": "s-id0", "from": "News <news@d0.example.com>"}]}
    for k in range(FINISHED_SHOWN + 4):
        folder = tmp_path / f"c{k}"
        folder.mkdir()
        csv_text = f"email,first_name\nu{k}@naver.com,U\n"
        path = write_campaign(folder, 0, name=f"c{k}", extra=one_identity, csv_text=csv_text)
        ids.append(await submit_file(redis, path, 1_800_000_000.0 + k))
    running = ids[1]
    for k, cid in enumerate(ids):  # the first one finished last: it is shown, three submitted after it are not
        if cid != running:
            state = "completed" if k % 2 else "cancelled"
            await redis.hset(keys.campaign(cid), mapping={"state": state, "changed_at": repr(1000.0 if k == 0 else k)})
    shown = [ids[0], running, *ids[5:]]
    assert len(shown) == FINISHED_SHOWN + 1

    def status(*more: str) -> Any:
        return CliRunner().invoke(main, ["status", "--json", *more], env={"REDIS_URL": redis_url})

    listed = await asyncio.to_thread(status)
    assert listed.exit_code == 0, listed.output
    assert [st["id"] for st in json.loads(listed.stdout)] == shown
    assert "3 campaigns that finished earlier are not shown: `status --all` lists them" in listed.stderr
    every = await asyncio.to_thread(status, "--all")
    assert [st["id"] for st in json.loads(every.stdout)] == ids
    assert every.stderr == ""
    async with serve() as web:
        async with http.get(web.url + "/status.json") as resp:
            assert [st["id"] for st in await resp.json()] == shown
        async with http.get(web.url + "/") as resp:
            page = await resp.text()
        assert "3 campaigns that finished earlier are not shown" in page
        assert re.findall(r'<section class="campaign" data-campaign="([^"]+)"', page) == shown
        async with http.get(web.url + "/metrics") as resp:
            metrics = await resp.text()
        assert ids[2] not in metrics
        assert ids[-1] in metrics
        await redis.hset(keys.FB_TOTALS, mapping={f"accepted|s-id0|{ids[2]}": 1, f"accepted|s-id0|{ids[-1]}": 1})
        async with http.get(web.url + "/metrics") as resp:
            callbacks = [line for line in (await resp.text()).splitlines() if line.startswith("wo_callback_events")]
        assert [ids[-1] in line for line in callbacks] == [True]  # not the older finished one's series
