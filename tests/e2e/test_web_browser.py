"""The live page in a real headless Chromium: its numbers are those of `status --json`, and it draws on a phone."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.clock import VirtualClock
from orchestrator.ses.emulator import run_emulator
from orchestrator.settings import Settings
from orchestrator.store import keys
from orchestrator.web.app import running_web
from orchestrator.web.context import WebContext
from tests.e2e.procs import BIN
from tests.e2e.test_report_browser import PNG_SIGNATURE, chromium, decode_png, pixels, run_chromium
from tests.pipeline_harness import START, Pipeline, make_world, recipients_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Colours the page draws with: accepted and pending in the progress bar.
ACCEPTED_GREEN = (0x16, 0xA3, 0x4A)
PENDING_GREY = (0xCB, 0xD5, 0xE1)
IDENTITY_FIGURES = ("warmup_day", "sent_today", "daily_cap", "sent_last_hour", "hourly_cap")


class Figures(HTMLParser):
    """The numbers the page shows: per campaign its `data-k`/`data-v` figures, per identity row its own."""

    def __init__(self) -> None:
        super().__init__()
        self.campaigns: dict[str, dict[str, str]] = {}
        self.identities: dict[tuple[str, str], dict[str, str]] = {}
        self._campaign = ""
        self._identity = ""
        self._key = ""
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg":
            self.svgs += 1
        if "data-campaign" in a:
            self._campaign, self._identity = a["data-campaign"], ""
            self.campaigns[self._campaign] = {}
        if "data-identity" in a:
            self._identity = a["data-identity"]
            self.identities[(self._campaign, self._identity)] = {}
        if tag == "h3":
            self._identity = ""  # quality tables after the identity rows belong to the campaign
        if "data-k" in a:
            self._key = a["data-k"]
            where = (
                self.identities[(self._campaign, self._identity)] if self._identity else self.campaigns[self._campaign]
            )
            where.setdefault(self._key, a.get("data-v", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._identity = ""


def _cli_status(redis_url: str) -> list[dict[str, Any]]:
    env = {**os.environ, "REDIS_URL": redis_url}
    done = subprocess.run(
        [str(BIN / "orchestrate"), "status", "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    data: list[dict[str, Any]] = json.loads(done.stdout)
    return data


async def test_page_in_chromium_shows_the_status_numbers(redis: Any, redis_url: str, tmp_path: Path) -> None:
    """Chromium's DOM of the page holds every figure `status --json` prints, and a phone screenshot has its charts."""
    binary = chromium()
    clock = VirtualClock(START)
    async with run_emulator(make_world([f"d{k}.example.com" for k in range(3)]), clock=clock) as emu:
        pipe = Pipeline(redis, redis_url, clock, emu, tmp_path)
        cid = await pipe.submit(recipients_csv(n_others=60, victim=False), identities=2)
        await pipe.run(200)
    # The CLI reads the time a running simulation publishes: both sides see the same instant.
    await redis.set(keys.VIRTUAL_NOW, repr(clock.now()))
    settings = Settings(_env_file=None, REDIS_URL=redis_url, WEB_PORT=0)
    async with running_web(WebContext(redis, settings, clock)) as web:
        dom = await asyncio.to_thread(run_chromium, binary, tmp_path, "--dump-dom", web.url + "/")
        png = tmp_path / "phone.png"
        shot = await asyncio.to_thread(
            run_chromium, binary, tmp_path, "--window-size=390,1800", f"--screenshot={png}", web.url + "/"
        )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert shot.returncode == 0, shot.stderr[-2000:]
    page = Figures()
    page.feed(dom.stdout)
    (status,) = await asyncio.to_thread(_cli_status, redis_url)
    assert status["id"] == cid
    assert 0 < status["progress"]["accepted"] < status["progress"]["total"]
    shown = page.campaigns[cid]
    assert shown["state"] == status["state"] == "running"
    for key, value in status["progress"].items():
        assert shown[key] == str(value), key
    assert shown["pool_daily_cap"] == str(status["pool_daily_cap"])
    assert len(status["identities"]) == 2
    for ident in status["identities"]:
        row = page.identities[(cid, ident["id"])]
        assert {k: row[k] for k in IDENTITY_FIGURES} == {k: str(ident[k]) for k in IDENTITY_FIGURES}
    assert sum(i["sent_last_hour"] for i in status["identities"]) == status["progress"]["accepted"]
    assert page.svgs == 3  # the two charts and the guardrail and shaping timeline (web/page_guard.py)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, _, rows = decode_png(data)
    assert width == 390
    colours = pixels(rows)
    assert colours[ACCEPTED_GREEN] > 200
    assert colours[PENDING_GREY] > 200
    assert re.search(r'<path fill="#f59e0b" d="M[^"]+z"', dom.stdout)  # the last hour's bars in the usage chart
