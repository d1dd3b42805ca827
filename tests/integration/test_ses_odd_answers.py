"""Answers no Tencent API gives but a gateway, a proxy or a header change might: a status lookup never
reads one as an empty status log ("not sent", and the person would be mailed again)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from orchestrator.core.sending import LookupVerdict, StatusQuery
from orchestrator.ses.client import TencentSender
from orchestrator.settings import Settings

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]


def _json(body: object, content_type: str = "application/json") -> tuple[int, str, str]:
    return 200, json.dumps(body), content_type


ERROR = {"Response": {"Error": {"Code": "InternalError", "Message": "m"}, "RequestId": "r-1"}}
ODD_ANSWERS = {
    "no-status-list": _json({"Response": {"RequestId": "r-1"}}),
    "a-null-status-list": _json({"Response": {"EmailStatusList": None, "RequestId": "r-1"}}),
    "no-request-id": _json({"Response": {"EmailStatusList": []}}),
    "an-error-under-a-charset-content-type": _json(ERROR, "application/json; charset=utf-8"),
    "an-error-as-html": (200, json.dumps(ERROR), "text/html"),
    "an-event-stream": (200, "data: {}\n\n", "text/event-stream"),
}


@pytest.fixture
async def odd_server() -> AsyncIterator[tuple[str, dict[str, tuple[int, str, str]]]]:
    """A server answering every call with what `answer["now"]` holds."""
    answer: dict[str, tuple[int, str, str]] = {}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        status, text, content_type = answer["now"]
        return web.Response(status=status, body=text.encode(), headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", answer
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("case", sorted(ODD_ANSWERS), ids=sorted(ODD_ANSWERS))
async def test_a_lookup_answered_without_a_status_log_is_no_answer(
    odd_server: tuple[str, dict[str, tuple[int, str, str]]], case: str
) -> None:
    url, answer = odd_server
    answer["now"] = ODD_ANSWERS[case]
    settings = Settings(
        _env_file=None,
        SES_ENDPOINT=url,
        SES_TIMEOUT_S=2.0,
        TENCENTCLOUD_SECRET_ID="AKIDodd",
        TENCENTCLOUD_SECRET_KEY="odd-secret-key",
    )
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # the server answers whatever the time
    query = StatusQuery("default", "news@news.example.com", "bob@example.org", now.date(), now, now)
    async with TencentSender(settings) as sender:
        found = await sender.lookup(query)
    assert found.verdict is LookupVerdict.UNKNOWN  # asked about again, at the usual pace
