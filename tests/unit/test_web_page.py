"""The live page's HTML from a status list: the quality object rendered whole, values escaped, no external asset."""

from __future__ import annotations

from typing import Any

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
