"""`orchestrate simulate` on the example campaign: the caps hold in the emulator's own send log."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.campaign_file import load_campaign
from tests.e2e.procs import BIN
from tests.sim_checks import check_caps, check_nothing_lost, read_sends, read_summary

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
    """Every send inside the window; no identity above its caps in any rolling hour or day; the pool under 5 x."""
    spec = load_campaign(ROOT / "campaigns/example.yaml")
    sends = read_sends(simulation)
    for s in sends:
        assert 8 <= datetime.fromisoformat(s["t"]).astimezone(spec.zone).hour < 22, "inside the sending window"
    check_caps(spec, read_summary(simulation), sends)


def test_simulate_totals_match_the_emulator_log(simulation: Path) -> None:
    """Every recipient is in the emulator's log exactly once and the summary's totals equal the log."""
    check_nothing_lost(read_summary(simulation), read_sends(simulation))


def test_simulate_example_advances_and_reports_the_unused_days(simulation: Path) -> None:
    """The example's healthy list: no pause, every closed day with sends advanced but the days Tencent's
    quota held down (news-a at 500 a day from its second day), and the unused days named."""
    summary = read_summary(simulation)
    assert summary["state"] == "completed"
    assert summary["pauses"] == []
    closed = [d for d in summary["days"] if d["day_closed"] and d["sent"]]
    assert closed
    quota_held = [d for d in closed if not d["advanced"]]
    assert all(d["advanced"] and d["held_reason"] is None for d in closed if d not in quota_held)
    assert [(d["identity"], d["warmup_day"]) for d in quota_held] == [("news-a", 2)]
    assert "Tencent's quota of 500 a day" in quota_held[0]["held_reason"]
    used = len({d["date"] for d in summary["days"]})
    assert f"{30 - used} of the days asked for left unused" in (simulation / "report.html").read_text(encoding="utf-8")


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


def test_a_full_run_in_a_folder_an_earlier_sample_used_leaves_no_sampled_copy(tmp_path: Path) -> None:
    """`--out` reused: the run of the whole list removes the recipients.sampled.csv a --sample run left there
    (report and summary were of the whole list, the folder still held the sample); the sampled run keeps it."""
    from tests.pipeline_helpers import write_campaign

    path = write_campaign(tmp_path, 40, identities=1)
    out = tmp_path / "sim"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    for extra, kept in ((["--sample", "0.5"], True), ([], False)):
        argv = [str(BIN / "orchestrate"), "simulate", str(path), "--days", "2", "--out", str(out), *extra]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert (out / "recipients.sampled.csv").exists() is kept, extra
        assert (out / "summary.json").exists()


def test_a_proxy_in_the_environment_does_not_stand_before_the_local_emulator(tmp_path: Path) -> None:
    """With HTTP_PROXY/HTTPS_PROXY/ALL_PROXY set (a company network) and no NO_PROXY, the SDK's client sent
    the simulation's calls to the proxy: every recipient failed and the run said "completed". An endpoint
    on this host is called directly; the proxy here is a port nothing listens on."""
    from tests.pipeline_helpers import write_campaign

    path = write_campaign(tmp_path, 30, identities=1)
    env = {
        k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy", "all_proxy")
    }
    dead = "http://127.0.0.1:9"
    env |= {"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead, "http_proxy": dead, "https_proxy": dead}
    argv = [str(BIN / "orchestrate"), "simulate", str(path), "--days", "2", "--out", str(tmp_path / "sim")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = read_summary(tmp_path / "sim")
    assert summary["recipients"]["accepted"] == 30, summary["recipients"]
    assert summary["sends_logged"] == 30  # the emulator's own log
    assert "ConnectError" not in done.stderr


def test_the_simulations_warnings_carry_the_virtual_moment(tmp_path: Path) -> None:
    """A guardrail pause in a simulation is logged on stderr at the virtual moment it happened (on the
    campaign's start date), not at the wall clock's time of the run."""
    from tests.pipeline_helpers import write_campaign

    extra = {"start": "2026-11-02", "simulation": {"hard_bounce_rate": 0.3}}
    path = write_campaign(tmp_path, 400, name="bnc", identities=1, extra=extra)
    argv = [str(BIN / "orchestrate"), "simulate", str(path), "--days", "2", "--out", str(tmp_path / "sim")]
    env = {**os.environ, "LOG_FORMAT": "json"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    pauses = [e for e in logged if e["event"] == "guardrail_pause"]
    assert pauses, done.stderr[-2000:]
    assert all(e["timestamp"].startswith("2026-11-02T") for e in pauses), pauses
