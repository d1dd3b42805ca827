"""`orchestrate simulate` on the example campaign: the caps hold in the emulator's own send log."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.campaign_file import load_campaign
from tests.e2e.procs import BIN
from tests.pipeline_helpers import max_in_rolling_window

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess

    out = tmp_path_factory.mktemp("sim") / "out"
    done = subprocess.run(
        [str(BIN / "orchestrate"), "simulate", str(ROOT / "campaigns/example.yaml"), "--days", "30", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "report:" in done.stdout
    return out


def _sends(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "sends.jsonl").read_text(encoding="utf-8").splitlines()]


def test_simulate_writes_the_three_outputs(simulation: Path) -> None:
    """The report, the summary and the send log are written, and the summary has the promised keys."""
    summary = json.loads((simulation / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["recipients"]) >= {"total", "accepted", "failed", "suppressed", "invalid", "in_doubt", "pending"}
    assert summary["campaign"] == "spring-news"
    assert {"date", "identity", "warmup_day", "sent", "daily_cap"} <= set(summary["days"][0])
    html = (simulation / "report.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "<svg" in html


def test_simulate_send_log_respects_every_cap(simulation: Path) -> None:
    """No identity exceeds its hourly cap in any rolling hour, nor its daily cap; the pool holds its ceiling."""
    spec = load_campaign(ROOT / "campaigns/example.yaml")
    summary = json.loads((simulation / "summary.json").read_text(encoding="utf-8"))
    caps = {(d["date"], d["identity"]): d for d in summary["days"]}
    sends = _sends(simulation)
    times: dict[str, list[float]] = defaultdict(list)
    per_day: Counter[tuple[str, str]] = Counter()
    pool_day: Counter[str] = Counter()
    for s in sends:
        t = datetime.fromisoformat(s["t"])
        local = t.astimezone(spec.zone)
        assert 8 <= local.hour < 22, "inside the sending window"
        times[s["identity"]].append(t.timestamp())
        per_day[(local.date().isoformat(), s["identity"])] += 1
        pool_day[local.date().isoformat()] += 1
    for (day, ident), n in per_day.items():
        assert n <= caps[(day, ident)]["daily_cap"], (day, ident)
    for ident, ts in times.items():
        by_day: dict[str, list[float]] = defaultdict(list)
        for t in ts:
            by_day[datetime.fromtimestamp(t, tz=spec.zone).date().isoformat()].append(t)
        for day, day_ts in by_day.items():
            assert max_in_rolling_window(day_ts) <= caps[(day, ident)]["hourly_cap"]
        # Across day boundaries the later day's (higher) cap is the bound.
        assert max_in_rolling_window(ts) <= max(c["hourly_cap"] for (_, i), c in caps.items() if i == ident)
    plan = spec.build_plan()
    for day, n in pool_day.items():
        top = max(caps[(day, i.id)]["warmup_day"] for i in spec.identities)
        assert n <= spec.pool.multiplier * plan.caps(top).daily


def test_simulate_totals_match_the_emulator_log(simulation: Path) -> None:
    """Every recipient is in the emulator's log exactly once and the summary's totals equal the log."""
    summary = json.loads((simulation / "summary.json").read_text(encoding="utf-8"))
    sends = _sends(simulation)
    to = [s["to"] for s in sends]
    assert len(to) == len(set(to)), "no duplicate send"
    r = summary["recipients"]
    assert r["accepted"] == len(sends) == summary["sends_logged"]
    assert (
        r["total"]
        == r["accepted"] + r["failed"] + r["suppressed"] + r["invalid"] + r["in_doubt"] + r["pending"] + r["duplicates"]
    )
    assert sum(d["sent"] for d in summary["days"]) == len(sends)


def test_simulate_records_what_the_emulator_posted(simulation: Path) -> None:
    """The callbacks went through the web process: what the orchestrator counted equals what was posted."""
    summary = json.loads((simulation / "summary.json").read_text(encoding="utf-8"))
    posted, recorded = summary["emulator_events"], summary["recorded_events"]
    assert recorded["accepted"] == summary["recipients"]["accepted"]
    assert recorded.get("delivered", 0) == posted.get("delivered", 0) > 0
    assert recorded.get("hard_bounce", 0) + recorded.get("soft_bounce", 0) == posted.get("bounce", 0)
    assert recorded.get("complaint", 0) == posted.get("spamreport", 0)
    for name in ("open", "click", "unsubscribe"):
        assert recorded.get(name, 0) == posted.get(name, 0), name
