"""The live page's HTML from a status list: the quality object rendered whole, values escaped, no external asset."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.core.timeline import Mark
from orchestrator.store.events import Event
from orchestrator.web.page import PageData, render_page

QUALITY = {
    "window_s": 86400,
    "accepted": 1200,
    "metrics": {
        "delivered": {"count": 1150, "sample": 1200, "rate": 0.9583, "hold": None, "pause": None},
        "hard_bounce": {"count": 12, "sample": 1200, "rate": 0.01, "hold": 0.02, "pause": 0.05},
        "open": {"count": 0, "sample": 0, "rate": None, "hold": 0.05, "pause": None},
    },
    "settled": {"complaint": {"count": 3, "sample": 900, "rate": 0.0033, "hold": 0.001, "pause": 0.003}},
}


def _status(**over: Any) -> dict[str, Any]:
    ident = {
        "id": "id-a",
        "from_address": "News <news@a.example.com>",
        "warmup_day": 3,
        "sent_today": 1234,
        "daily_cap": 5000,
        "sent_last_hour": 40,
        "hourly_cap": 400,
        "next_slot": None,
        "stopped_until": None,
        "quality": QUALITY,
    }
    progress = {"total": 9000, "accepted": 1234, "pending": 7766, "in_flight": 0, "failed": 0, "suppressed": 0}
    base = {
        "id": "c-1",
        "name": "spring",
        "state": "paused",
        "reason": "checking bounces",
        "paused_by": "ops",
        "progress": {**progress, "in_doubt": 0},
        "identities": [ident],
        "pool_daily_cap": 5000,
        "pool_hourly_cap": 400,
        "estimated_completion": "2026-12-20",
        "window_open": True,
        "quality": QUALITY,
    }
    return {**base, **over}


def test_page_renders_quality_with_samples_and_thresholds() -> None:
    """Each metric's count, sample, rate and thresholds appear; a rate without data shows as a dash."""
    html = render_page(PageData([_status()], [], 1_800_000_000.0, None))
    assert html.count('data-metric="hard_bounce"') == 2  # the campaign's table and the identity's
    assert '<td class="n"><span data-k="count" data-v="12">12</span></td>' in html
    assert '<span data-k="sample" data-v="1200">1,200</span>' in html
    assert '<td class="n">1%</td><td class="n">2%</td><td class="n">5%</td>' in html
    assert '<tr data-metric="open"><td>open</td>' in html
    # the settled complaints the guardrails judge too (status --json has them; the page left them out)
    settled = '<tr data-metric="complaint (settled)"><td>complaint (settled)</td>'
    assert html.count(settled) == 2
    assert '<span data-k="sample" data-v="900">900</span>' in html
    assert "last 24 h" in html
    assert "checking bounces, by ops" in html


def test_page_is_self_contained_and_refreshes() -> None:
    """No script, no external URL; a viewport for phones and a refresh every few seconds."""
    event = Event("1-0", 1_800_000_000.0, "send_failed", "c-1", "id-a", {"address": "<b>x</b>@example.com"})
    html = render_page(PageData([_status(state="running", reason="")], [event], 1_800_000_000.0, 1.5))
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html
    assert '<meta name="viewport"' in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "address=&lt;b&gt;x&lt;/b&gt;@example.com" in html
    assert "checking bounces" not in html


def test_page_draws_and_lists_guardrail_and_shaping_marks() -> None:
    """The last 48 hours' marks are drawn on the timeline and listed newest first; older ones only listed."""
    now = 1_800_000_000.0
    marks = [
        Mark(now - 3600, "held", "id-a", "id-a: day held (hard_bounce)", subject="hard_bounce"),
        Mark(now - 7200, "backoff", "id-a", "id-a: naver backed off", now - 600, "naver"),
        Mark(now - 60, "paused", "", "paused by automatic: guardrail", campaign="c-1"),
        Mark(now - 5 * 86400, "resumed", "", "resumed by operator", campaign="c-1"),
    ]
    html = render_page(PageData(statuses=[], events=[], now=now, pacer_tick_age_s=None, marks=marks))
    section = html.split('<section id="guardrails">', 1)[1].split("</section>", 1)[0]
    svg = section.split("</svg>", 1)[0]
    assert [svg.count(f'data-kind="{k}"') for k in ("held", "backoff", "paused", "resumed")] == [1, 1, 1, 0]
    rows = re.findall(r'<tr data-kind="(\w+)"', section)
    assert rows == ["paused", "held", "backoff", "resumed"]
    assert "campaign c-1" in section


def test_page_escapes_mark_text() -> None:
    """A mark's text, identity and group are escaped in the timeline's tooltips and in the table."""
    evil = "<script>alert(1)</script>"
    marks = [Mark(1_000.0, "backoff", evil, evil, 2_000.0, evil)]
    html = render_page(PageData(statuses=[], events=[], now=3_000.0, pacer_tick_age_s=None, marks=marks))
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;") >= 3


def test_bidi_overrides_and_control_characters_are_shown_not_obeyed() -> None:
    """A pause reason or name holding U+202E (right-to-left override) or an escape byte reached the page raw
    and could reorder the text around it ("by root" read backwards): they are written as visible escapes."""
    st = _status(reason="checking \u202eevil\u202c bounces\x1b[2J", name="spring\u200f")
    html = render_page(PageData([st], [], 1_800_000_000.0, None))
    assert "\u202e" not in html
    assert "\x1b" not in html
    assert "\u200f" not in html
    assert "checking \\u202eevil\\u202c bounces\\x1b[2J, by ops" in html
    # The timeline's tooltips too (a mark's <title> held the raw override: charts/marks.py).
    now = 1_800_000_000.0
    marks = [Mark(now - 60, "paused", "", "paused by ops: \u202eevil\x1b[2J", campaign="c-1")]
    html = render_page(PageData(statuses=[], events=[], now=now, pacer_tick_age_s=None, marks=marks))
    assert "<title>" in html
    assert "\u202e" not in html
    assert "\x1b" not in html
    assert "paused by ops: \\u202eevil\\x1b[2J" in html
