"""`orchestrate simulate` stopped by SIGTERM or Ctrl-C (SIGINT) cleans up: no redis-server left, no output
folder, one line saying so and the shell's exit code (143, 130), never click's "Aborted!"."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.core.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED
from tests.e2e.procs import BIN

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command names (from /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.rpartition(")")
        if int(rest.split()[1]) == pid:
            out[int(entry.name)] = name.partition("(")[2]
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [
        pytest.param(signal.SIGTERM, EXIT_TERMINATED, "stopped (SIGTERM)", id="sigterm"),
        pytest.param(signal.SIGINT, EXIT_INTERRUPTED, "simulation interrupted", id="ctrl-c"),
    ],
)
def test_a_signal_stops_the_run_removes_its_folder_and_its_redis_server(
    tmp_path: Path, sig: signal.Signals, code: int, said: str
) -> None:
    out = tmp_path / "out"
    example = str(ROOT / "campaigns/example.yaml")
    argv = [str(BIN / "orchestrate"), "simulate", example, "--days", "60", "--out", str(out)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        servers: list[int] = []
        while not servers and time.monotonic() < deadline and proc.poll() is None:
            servers = [p for p, name in _children(proc.pid).items() if "redis" in name]
            time.sleep(0.1)
        assert servers, "the run's redis-server never started"
        time.sleep(1.0)  # into the virtual run
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert "Aborted!" not in err
    assert said in err
    assert not out.exists()
    for pid in servers:
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"redis-server {pid} outlived the run"
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_in_an_existing_folder_keeps_it_and_removes_only_the_sample(tmp_path: Path) -> None:
    """--out naming a folder that was there before: a stopped run leaves it as it was (no sampled copy of the
    recipients in it), and says so instead of claiming a folder it never made was removed."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("x", encoding="utf-8")
    example = str(ROOT / "campaigns/example.yaml")
    argv = [str(BIN / "orchestrate"), "simulate", example, "--days", "60", "--sample", "0.5", "--out", str(out)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any("redis" in n for n in _children(proc.pid).values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (out / "recipients.sampled.csv").exists()  # written before the run's redis-server started
        time.sleep(1.0)  # into the virtual run
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT_TERMINATED, err[-2000:]
    assert "Traceback" not in err
    assert f"{out}/ (there before) kept, the recipients.sampled.csv it wrote there removed" in err
    assert "the output folder it made removed" not in err
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
