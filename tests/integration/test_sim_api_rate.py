"""`simulate` keeps Tencent's API rate as production does: no rolling second over the limit at the emulator.

A transactional campaign with caps far above the account's rate and a ten-minute window: every
virtual instant has more sends granted than SendEmail's share of a second allows.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from orchestrator.campaign_file import load_campaign
from orchestrator.simulation.run import run_simulation
from tests.pipeline_helpers import write_campaign
from tests.sim_checks import read_summary

pytestmark = pytest.mark.slow

N = 3000


def test_a_burst_of_grants_is_never_throttled_at_the_emulator(tmp_path: Path) -> None:
    extra = {
        "mode": "transactional",
        "sending_window": "08:00-08:10",
        "plan": {"rows": [{"days": "1", "daily": 1_000_000, "hourly": 1_000_000}]},
        "shaping": {"max_domain_share": 1.0},
    }
    path = write_campaign(tmp_path, N, "r", identities=1, extra=extra)
    spec = load_campaign(path)
    result = asyncio.run(run_simulation(spec, tmp_path / "out", days=1, today=datetime(2026, 12, 1).date()))
    summary = read_summary(result.out)
    calls = summary["api_calls"]
    assert calls["by_action"]["SendEmail"] >= N  # the list went out within the window
    assert calls["throttled"] == 0
    assert calls["busiest_second"] <= calls["limit_per_s"]
    assert summary["recipients"]["accepted"] == N


def test_identities_of_two_accounts_each_send_within_their_own_accounts_rate(tmp_path: Path) -> None:
    """Each account the campaign names is an account of the emulator with a rate window of its own (only
    `default` was: the other account's first send paused the campaign, no credentials for it)."""
    extra = {
        "mode": "transactional",
        "sending_window": "08:00-08:10",
        "plan": {"rows": [{"days": "1", "daily": 1_000_000, "hourly": 1_000_000}]},
        "shaping": {"max_domain_share": 1.0},
    }
    path = write_campaign(tmp_path, 1000, "r", identities=2, extra=extra)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["identities"][1]["account"] = "marketing"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    spec = load_campaign(path)
    result = asyncio.run(run_simulation(spec, tmp_path / "out", days=1, today=datetime(2026, 12, 1).date()))
    summary = read_summary(result.out)
    assert summary["recipients"]["accepted"] == 1000
    calls = summary["api_calls"]
    assert calls["throttled"] == 0
    assert calls["busiest_second"] <= calls["limit_per_s"]
