"""Fault injection: a campaign through real processes while workers, pacers, Redis and Tencent misbehave.

Each scenario runs 3 times with different seeds (printed in the test id and the summary line);
`CHAOS_SEED=<seed> pytest -m chaos -k <scenario>` replays one run (docs/testing.md).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator

import pytest
import redis as redis_sync

from orchestrator.store import keys
from tests.chaos.callbacks import ShuffledPoster
from tests.chaos.checks import judge, summary
from tests.chaos.cluster import Cluster, now

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def _seeds() -> list[int]:
    if os.environ.get("CHAOS_SEED"):
        return [int(os.environ["CHAOS_SEED"])]
    return [random.SystemRandom().randrange(1, 1_000_000) for _ in range(3)]


SEEDS = _seeds()


class Clusters:
    """One cluster per scenario, kept for its runs in a row (a failed run leaves it for a fresh one)."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.name = ""
        self.current: Cluster | None = None

    def run(self, name: str, seed: int, world_extra: dict[str, object] | None = None) -> Cluster:
        """The scenario's cluster (started on its first run) with a new campaign submitted for `seed`."""
        if self.current is not None and (self.name != name or not self.current.clean):
            self.close()
        if self.current is None:
            self.current = Cluster(self.factory.mktemp(name), seed, dict(world_extra or {}))
            self.name = name
            self.current.start()
        self.current.run(seed)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clusters]:
    pool = Clusters(tmp_path_factory)
    yield pool
    pool.close()


def _finish(cluster: Cluster, name: str, report: list[str]) -> None:
    """Wait for the run to settle, check every promise, print the summary line; fail with every problem."""
    cluster.wait_settled()
    run = cluster.record()
    verdict = judge(run)
    line = summary(name, cluster.seed, cluster.faults, run, verdict, now() - cluster.began)
    report.append(line)
    assert not verdict.problems, f"{line}\n  " + "\n  ".join(verdict.problems)
    cluster.clean = True


def _sleep_random(cluster: Cluster, lo: float, hi: float) -> None:
    time.sleep(cluster.rng.uniform(lo, hi))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_chaos_worker_sigkills(clusters: Clusters, chaos_report: list[str], seed: int) -> None:
    """Workers SIGKILLed at random moments (and replaced): no send twice, none lost, every limit kept."""
    cluster = clusters.run("worker_sigkills", seed)
    cluster.wait_progress(20)
    for _ in range(4):
        _sleep_random(cluster, 0.5, 2.5)
        cluster.kill_random_worker()
    _finish(cluster, "worker_sigkills", chaos_report)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_chaos_pacer_sigkills(clusters: Clusters, chaos_report: list[str], seed: int) -> None:
    """The leading pacer SIGKILLed twice: a standby leads within the lock's lifetime, never two at once."""
    cluster = clusters.run("pacer_sigkills", seed)
    cluster.wait_progress(20)
    killed = 0
    while killed < 2:
        _sleep_random(cluster, 0.2, 2.0)
        killed += cluster.kill_leader() is not None
    _finish(cluster, "pacer_sigkills", chaos_report)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_chaos_redis_restarts(clusters: Clusters, chaos_report: list[str], seed: int) -> None:
    """redis-server SIGKILLed and restarted on its AOF twice mid-run: the run finishes, once each."""
    cluster = clusters.run("redis_restarts", seed)
    for sends in (30, 110):
        cluster.wait_progress(sends + cluster.rng.randrange(20))
        cluster.restart_redis()
    _finish(cluster, "redis_restarts", chaos_report)


#: Tencent misbehaving: slow, hanging after accepting, dropping connections before and after, its
#: own throttle, transient errors and bare HTTP errors, before and after accepting (the emulator's
#: fault rules, docs/tencent.md).
EMULATOR_FAULTS = {
    "latency": {"min_ms": 20, "max_ms": 400},
    "faults": [
        {"code": "timeout_after_accept", "rate": 0.03, "hang_s": 3},
        {"code": "drop_after_accept", "rate": 0.03},
        {"code": "drop_before_accept", "rate": 0.03},
        {"code": "RequestLimitExceeded", "rate": 0.03},
        {"code": "InternalError", "rate": 0.03},
        {"code": "http_503", "rate": 0.02},
        {"code": "http_504_after_accept", "rate": 0.02},
    ],
}


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_chaos_emulator_faults(clusters: Clusters, chaos_report: list[str], seed: int) -> None:
    """Tencent slow, timing out after accepting, dropping connections, throttling and failing transiently."""
    cluster = clusters.run("emulator_faults", seed, EMULATOR_FAULTS)
    cluster.wait_settled()
    injected = {str(f["code"]) for f in EMULATOR_FAULTS["faults"]}  # type: ignore[index]
    calls = cluster.run_calls()
    for call in calls:
        if call.get("error") in injected and call.get("counted"):
            cluster.count(str(call["error"]))
    cluster.count("slow_answers", sum(1 for c in calls if c.get("action") == "SendEmail"))
    _finish(cluster, "emulator_faults", chaos_report)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_chaos_callbacks_shuffled_and_repeated(clusters: Clusters, chaos_report: list[str], seed: int) -> None:
    """Callbacks posted out of order, some twice, some before their send is recorded: each counted once."""
    cluster = clusters.run("callbacks", seed)
    poster = ShuffledPoster(cluster.send_log_path, cluster.web_url, seed, f"r{seed}u")
    poster.start()
    cluster.wait_settled()
    poster.finish()
    expected = poster.expected_totals()
    cluster.count("callbacks_posted", poster.posts)
    cluster.count("callbacks_repeated", poster.reposts)

    def totals() -> dict[str, int]:
        with redis_sync.Redis.from_url(cluster.redis.url, decode_responses=True) as r:
            raw = r.hgetall(keys.FB_TOTALS)
        out: dict[str, int] = {}
        for key, n in raw.items():
            metric, _identity, campaign = key.split("|", 2)
            if campaign == cluster.cid and metric != "accepted":  # sends, counted as they are recorded
                out[metric] = out.get(metric, 0) + int(n)
        return out

    deadline = now() + 10  # events that came before their send are applied by the sweeper
    while totals() != dict(expected) and now() < deadline:
        time.sleep(0.2)
    assert totals() == dict(expected), f"seed={seed}: counted {totals()}, posted once each {dict(expected)}"
    _finish(cluster, "callbacks", chaos_report)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_chaos_pause_resume(clusters: Clusters, chaos_report: list[str], seed: int) -> None:
    """Paused and resumed at random moments (inside a pacer tick or not): no send starts 2 s after a pause."""
    cluster = clusters.run("pause_resume", seed)
    for progress in sorted(cluster.rng.sample(range(5, 90), 3)):
        cluster.wait_progress(progress)
        _sleep_random(cluster, 0.0, 0.3)  # anywhere in a pacer tick (0.2 s)
        cluster.pause()
        _sleep_random(cluster, 2.5, 3.5)  # past the 2 s grace, so a late send would show
        cluster.resume()
    _finish(cluster, "pause_resume", chaos_report)
