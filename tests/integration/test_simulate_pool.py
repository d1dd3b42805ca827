"""A 30-day simulation of a 5-identity pool with mixed quality: holds, a pause and backoffs, every invariant kept.

One identity's recipients bounce (`simulation.identities`), another's complain, one recipient domain
answers TemporaryBlocked. The real pipeline runs on the virtual clock against the emulator, the
callbacks come back through the web process, and the run ends paused by the complaint guardrail.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.campaign_file import load_campaign
from orchestrator.core.domains import address_group
from orchestrator.simulation.run import run_simulation
from tests.pipeline_helpers import write_campaign
from tests.sim_checks import check_caps, check_nothing_lost, read_sends, read_summary

pytestmark = pytest.mark.slow

N = 1600
BOUNCY, NOISY, BLOCKED = "p-id1", "p-id3", "slow.example"
DOMAINS = ["gmail.com", "naver.com", "daum.net", BLOCKED]
CAMPAIGN: dict[str, Any] = {
    "plan": {
        "rows": [
            {"days": 1, "daily": 40, "hourly": 10},
            {"days": 2, "daily": 60, "hourly": 15},
            {"days": 3, "daily": 80, "hourly": 20},
            {"days": "4-30", "daily": 100, "hourly": 25},
        ]
    },
    "shaping": {"max_domain_share": 1.0},
    # Small samples judged on their point estimate, so a few days of a small list can trip the lines. The
    # recipients' fates depend on the order sends reach the emulator, which varies from run to run: the rates
    # are far enough from their lines that the outcome does not (a 30 % bouncer is held, never paused).
    "guardrails": {
        "confidence_z": 0,
        "hard_bounce": {"hold_pct": 5, "pause_pct": "off", "min_sample": 30},
        "complaint": {"hold_pct": 0.1, "pause_pct": 3, "min_sample": 250},
        "window_hours": 96,
    },
    "simulation": {
        "open_rate": 0.8,
        "hard_bounce_rate": 0.0,
        "complaint_rate": 0.0,
        "identities": {BOUNCY: {"hard_bounce_rate": 0.3}, NOISY: {"complaint_rate": 0.1}},
        "domains": {BLOCKED: {"temporary_block_rate": 0.1, "soft_bounce_rate": 0.05}},
    },
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("pool")
    rows = [f"user{i}@{DOMAINS[i % len(DOMAINS)]},Name{i}" for i in range(N)]
    path = write_campaign(tmp, N, "p", identities=5, extra=CAMPAIGN, csv_text="email,first_name\n" + "\n".join(rows))
    spec = load_campaign(path)
    result = asyncio_run(run_simulation(spec, tmp / "out", days=30, today=datetime(2026, 12, 1).date()))
    return result.out, spec


def asyncio_run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def test_pool_keeps_every_cap_and_loses_nothing(simulated: tuple[Path, Any]) -> None:
    """Caps in every rolling hour and day per identity, the pool's ceiling, no duplicate, every recipient counted."""
    out, spec = simulated
    summary, sends = read_summary(out), read_sends(out)
    check_caps(spec, summary, sends)
    check_nothing_lost(summary, sends)
    assert summary["recipients"]["pending"] > 0, "the pause left recipients waiting, none lost"


def test_pool_holds_the_bouncing_identity_while_clean_ones_advance(simulated: tuple[Path, Any]) -> None:
    """The bouncing identity's closed days are held on its hard bounces; a clean identity advances every full day."""
    summary = read_summary(simulated[0])
    closed = [d for d in summary["days"] if d["day_closed"] and d["sent"]]
    bouncy = [d for d in closed if d["identity"] == BOUNCY]
    assert bouncy
    assert not any(d["advanced"] for d in bouncy)
    assert any("hard_bounce" in (d["held_reason"] or "") for d in bouncy)
    clean = [d for d in closed if d["identity"] == "p-id0"]
    assert clean
    assert all(d["advanced"] and d["held_reason"] is None for d in clean)


def test_pool_ends_paused_by_the_complaint_guardrail(simulated: tuple[Path, Any]) -> None:
    """The run stops paused: state, reason and the one automatic pause naming the complaining identity."""
    summary = read_summary(simulated[0])
    assert summary["state"] == "paused"
    assert summary["paused_by"] == "automatic"
    assert len(summary["pauses"]) == 1
    pause = summary["pauses"][0]
    assert pause["by"] == "automatic"
    assert "complaint" in pause["reason"]
    assert NOISY in pause["reason"]
    assert pause["reason"] == summary["state_reason"]


def test_pool_backs_the_blocked_domain_off(simulated: tuple[Path, Any]) -> None:
    """TemporaryBlocked answers start backoffs of that domain's group, each with a start before its end."""
    out, spec = simulated
    summary = read_summary(out)
    spans = summary["backoffs"]
    assert spans
    assert {b["group"] for b in spans} == {address_group(f"x@{BLOCKED}")}
    assert all(datetime.fromisoformat(b["start"]) < datetime.fromisoformat(b["end"]) for b in spans)
    del spec


def test_pool_report_draws_and_lists_each_hold_pause_and_backoff(simulated: tuple[Path, Any]) -> None:
    """The report marks each held day, the pause and each backoff on its charts and lists them in its table."""
    out, _ = simulated
    summary = read_summary(out)
    html = (out / "report.html").read_text(encoding="utf-8")
    table = html.split('<section id="guardrails"', 1)[1].split("</section>", 1)[0]
    held_days = sum(1 for d in summary["days"] if d["day_closed"] and d["sent"] and not d["advanced"])
    assert table.count('data-kind="held"') >= held_days > 0
    assert table.count('data-kind="paused"') == len(summary["pauses"]) == 1
    assert table.count('data-kind="backoff"') == len(summary["backoffs"]) > 0
    assert 'class="mark-line" data-kind="paused"' in html
    assert 'class="mark-span" data-kind="backoff"' in html
    assert 'class="mark-line" data-kind="held"' in html


def test_pool_report_draws_only_the_days_used(simulated: tuple[Path, Any]) -> None:
    """The run stopped at the pause: the charts cover the days it ran, and the rest of the 30 are named unused."""
    out, _ = simulated
    summary = read_summary(out)
    used = sorted({d["date"] for d in summary["days"]})
    html = (out / "report.html").read_text(encoding="utf-8")
    pool_svg = html.split('aria-labelledby="pool-chart-t', 1)[1].split("</svg>", 1)[0]
    assert pool_svg.count('<text class="tx"') == len(used) < 30
    assert f"{30 - len(used)} of the days asked for left unused" in html


def test_tencent_never_throttled_the_run(simulated: tuple[Path, Any]) -> None:
    """From the emulator's own call log: no call of the run (sends, quota reads through the simulation's
    API budget, any status lookup) was ever throttled or above the account's rate in any second."""
    out, _ = simulated
    api = read_summary(out)["api_calls"]
    assert api["by_action"]["SendEmail"] > 0
    assert api["by_action"]["ListEmailIdentities"] > 0
    assert api["throttled"] == 0
    assert 0 < api["busiest_second"] <= api["limit_per_s"]
