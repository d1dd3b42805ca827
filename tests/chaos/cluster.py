"""The chaos harness: a campaign run by the real commands as processes, with faults injected while it runs.

One `Cluster` is one scenario run: its own redis-server (AOF on), the emulator (Tencent's 20 calls/s
per account, a send log and a call log, the scenario's fault rules), the web process, several
`orchestrate worker` and two `orchestrate pacer` processes, all started with the environment of a
production host except for short timeouts. `outcome()` reads back what the checks need.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_sync
import yaml

from orchestrator.core.clock import SystemClock
from orchestrator.core.ledger_state import UNTOUCHED
from orchestrator.store import keys
from orchestrator.store.ledger import decode_record
from tests.chaos.checks import RunRecord
from tests.e2e.procs import BIN, Procs, base_env, cli, cli_json, wait_for
from tests.pipeline_helpers import DOMAINS, write_campaign
from tests.redis_server import RedisServer, find_redis_server, free_port

IDENTITIES = 3
#: Per identity: one grant every 1/6 s, so three identities together ask for more than the account's
#: SendEmail share (about 15 a second): the account budget, not the plan, sets the pace.
HOURLY = 21_600
DAILY = 50_000
PLAN = {"plan": {"rows": [{"days": "1", "daily": DAILY, "hourly": HOURLY}]}, "shaping": {"max_domain_share": 1.0}}
RETRY = {"retry": {"max_attempts": 8, "base_delay_s": 1, "max_delay_s": 2}}
CALLBACK_TOKEN = "chaos-callback-token-0123456789"
#: Short timeouts so a killed worker's send is parked in doubt and settled within seconds; the rest
#: of the settings are a production host's.
CHAOS_ENV = {
    "SES_TIMEOUT_S": "2",
    "ACCOUNT_WAIT_MAX_S": "2",
    "JOB_TIMEOUT_S": "5",
    "LEASE_S": "6",
    "PACER_INTERVAL_S": "0.2",
    "PACER_LOCK_TTL_S": "4",
    "SWEEP_INTERVAL_S": "0.5",
    "RECONCILE_AFTER_S": "1",
    "RECONCILE_RETRY_S": "1",
    "RECONCILE_THROTTLED_RETRY_S": "0.5",
    "WORKER_CONCURRENCY": "10",
    "CALLBACK_TOKEN": CALLBACK_TOKEN,
}
#: Recipients of one run: at the account's ~15 sends a second, about 13 s of sending.
RECIPIENTS = 200
#: A stopped campaign's recipients must all be terminal or in doubt within this long.
RUN_TIMEOUT_S = 90.0


OUTLIVED = "pacer_tick_outlived_lock"


def now() -> float:
    return SystemClock().now()


@dataclass
class Pause:
    """One pause: when `pause` returned, and when `resume` was called (wall clock)."""

    returned_at: float
    resumed_at: float | None = None


@dataclass
class Cluster:
    """One scenario's processes; the campaign runs one after the other on them, each with its own seed."""

    tmp: Path
    world_seed: int
    world_extra: dict[str, Any] = field(default_factory=dict)
    workers: int = 3
    recipients: int = RECIPIENTS
    procs: Procs = field(init=False)
    redis: RedisServer = field(init=False)
    env: dict[str, str] = field(init=False)
    worker_procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pacer_procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pacer_kills: dict[str, float] = field(default_factory=dict)  # pacer name -> when it was killed
    # The run under way: its seed, campaign, injected faults and pauses.
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)
    cid: str = ""
    began: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    pauses: list[Pause] = field(default_factory=list)
    clean: bool = True  # False while a run is under way or after one failed: the next scenario run starts afresh
    _names: int = 0

    def __post_init__(self) -> None:
        self.procs = Procs(self.tmp).ranked()  # the emulator above our processes, as Tencent's clock is
        binary = find_redis_server()
        assert binary is not None, "no redis-server binary"
        self.redis = RedisServer(binary, free_port(), self.tmp / "redis")

    # --- starting ---

    def start(self) -> None:
        """Redis, then every process at once; returns once the emulator listens."""
        self.redis.start()
        ses_port, web_port = free_port(), free_port()
        self.env = base_env(self.redis.url, ses_port, **CHAOS_ENV, WEB_PORT=str(web_port))
        self.web_url = f"http://127.0.0.1:{web_port}/callbacks/tencent/{CALLBACK_TOKEN}"
        emulator = ["emulator", "--port", str(ses_port), "--world", str(self._world())]
        emulator += ["--send-log", str(self.send_log_path), "--call-log", str(self.call_log_path)]
        self.procs.start("emulator", [str(BIN / "orchestrate"), *emulator], self.env)
        self.procs.start("web", [str(BIN / "orchestrate"), "web"], self.env)
        for _ in range(self.workers):
            self.start_worker()
        self.start_pacer()
        self.start_pacer()
        wait_for(lambda: _answers(ses_port), 60, "the emulator to listen")

    def run(self, seed: int) -> None:
        """Submit a new campaign of fresh addresses for the run of `seed` (the processes keep running)."""
        self.seed, self.rng, self.began = seed, random.Random(seed), now()
        self.faults, self.pauses, self.clean = {}, [], False
        folder = self.tmp / f"run-{seed}"
        folder.mkdir()
        rows = [f"r{seed}u{i}@{DOMAINS[i % len(DOMAINS)]},Name{i}" for i in range(self.recipients)]
        csv_text = "email,first_name\n" + "\n".join(rows) + "\n"
        path = write_campaign(folder, 0, name="chaos", identities=IDENTITIES, extra=PLAN | RETRY, csv_text=csv_text)
        submitted = cli_json(self.env, "submit", str(path), "--json")
        assert isinstance(submitted, dict)
        assert submitted["valid"] == self.recipients
        self.cid = str(submitted["campaign_id"])

    @property
    def send_log_path(self) -> Path:
        return self.tmp / "sends.jsonl"

    @property
    def call_log_path(self) -> Path:
        return self.tmp / "calls.jsonl"

    def _world(self) -> Path:
        world: dict[str, Any] = {
            "permissive": True,
            "accounts": [{"name": "default", "secret_id": "emulator-id", "secret_key": "emulator-key"}],
            "account_rate_per_s": 20,
            "latency": {"min_ms": 5, "max_ms": 30},
            "seed": self.world_seed,
        }
        world.update(self.world_extra)
        path = self.tmp / "world.yaml"
        path.write_text(yaml.safe_dump(world), encoding="utf-8")
        return path

    def _name(self, kind: str) -> str:
        self._names += 1
        return f"{kind}-{self._names}"

    def start_worker(self) -> str:
        name = self._name("worker")
        self.worker_procs[name] = self.procs.start(name, [str(BIN / "orchestrate"), "worker"], self.env)
        return name

    def start_pacer(self) -> str:
        name = self._name("pacer")
        self.pacer_procs[name] = self.procs.start(name, [str(BIN / "orchestrate"), "pacer"], self.env)
        return name

    # --- faults ---

    def count(self, fault: str, n: int = 1) -> None:
        self.faults[fault] = self.faults.get(fault, 0) + n

    def kill_random_worker(self) -> None:
        """SIGKILL one running worker, and start another in its place."""
        alive = sorted(n for n, p in self.worker_procs.items() if p.poll() is None)
        victim = self.worker_procs.pop(self.rng.choice(alive))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.count("worker_sigkill")
        self.start_worker()

    def leader(self) -> str | None:
        """The running pacer that holds the leader lock now (from its log), if any."""
        eras = self.leadership()
        live = [n for n, p in self.pacer_procs.items() if p.poll() is None]
        holding = [n for n in live if eras.get(n) and eras[n][-1][1] is None]
        return holding[0] if len(holding) == 1 else None

    def kill_leader(self) -> str | None:
        """SIGKILL the leading pacer and start a new standby; None when no single leader was found."""
        name = self.leader()
        if name is None:
            return None
        proc = self.pacer_procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.pacer_kills[name] = now()
        self.count("pacer_sigkill")
        self.start_pacer()
        return name

    def restart_redis(self) -> None:
        """SIGKILL redis-server and start it again on its AOF."""
        self.redis.restart()
        self.count("redis_sigkill")

    def pause(self) -> None:
        out = cli(self.env, "pause", self.cid, "--wait", "5")
        assert out.returncode == 0, out.stderr
        self.pauses.append(Pause(now()))
        self.count("pause")

    def resume(self) -> None:
        self.pauses[-1].resumed_at = now()
        out = cli(self.env, "resume", self.cid)
        assert out.returncode == 0, out.stderr

    # --- waiting and reading back ---

    def counts(self) -> dict[str, int]:
        try:
            with redis_sync.Redis.from_url(self.redis.url, decode_responses=True) as r:
                return {k: int(v) for k, v in r.hgetall(keys.CampaignKeys(self.cid).counts).items()}
        except redis_sync.RedisError:
            return {}

    def settled(self) -> bool:
        """Nothing waits or is under way: every recipient is terminal or in doubt."""
        c = self.counts()
        return bool(c) and not any(c.get(s, 0) for s in ("queued", "granted", "inflight"))

    def run_sends(self) -> list[dict[str, Any]]:
        """The emulator's accepted sends of the run under way."""
        mine = f"r{self.seed}u"
        return [s for s in _log_lines(self.send_log_path) if str(s.get("to_address", "")).startswith(mine)]

    def run_calls(self) -> list[dict[str, Any]]:
        """The emulator's call log since the run under way began."""
        return [c for c in _log_lines(self.call_log_path) if float(c["time"]) >= self.began]

    def wait_progress(self, sends: int) -> None:
        """Wait until the emulator has accepted `sends` sends of this run."""
        wait_for(lambda: len(self.run_sends()) >= sends, RUN_TIMEOUT_S, f"{sends} sends")

    def wait_settled(self) -> None:
        """Wait until settled with no doubt left, or settled with doubts still open 6 s after the first was seen.

        A doubt settled as not sent goes back to the queue and is sent again: settled is waited for anew.
        """
        deadline = now() + RUN_TIMEOUT_S
        doubts_since: float | None = None
        while True:
            wait_for(self.settled, max(deadline - now(), 0.1), f"campaign {self.cid} to settle ({self.counts()})")
            if not self.counts().get("in_doubt"):
                return
            doubts_since = doubts_since or now()
            if now() - doubts_since > 6:
                return  # left in doubt: the checks want each one listed by `status --in-doubt`
            time.sleep(0.2)

    def stop(self) -> None:
        self.procs.stop_all()
        self.redis.stop()

    def leadership(self) -> dict[str, list[tuple[float, float | None]]]:
        """Each pacer's eras as leader from its own log: (became leader, lost it, killed or stopped; None: leads)."""
        eras: dict[str, list[tuple[float, float | None]]] = {}
        for name in self.pacer_procs:
            mine: list[tuple[float, float | None]] = []
            for line in _log_lines(self.tmp / f"{name}.log"):
                if line.get("event") != "pacer_leadership":
                    continue
                at = _ts(line)
                if line.get("leader"):
                    mine.append((at, None))
                elif mine and mine[-1][1] is None:  # it acted as leader last when its last tick ended
                    mine[-1] = (mine[-1][0], float(line.get("last_tick_at", at)))
            end = self.pacer_kills.get(name)
            if end is not None and mine and mine[-1][1] is None:
                mine[-1] = (mine[-1][0], end)
            eras[name] = mine
        return eras

    def ledger(self) -> dict[str, str]:
        """Every recipient's raw ledger state ("a|<MessageId>", "d|...", ...), by address."""
        ck = keys.CampaignKeys(self.cid)
        out: dict[str, str] = {}
        with redis_sync.Redis.from_url(self.redis.url, decode_responses=True) as r:
            for bucket in range(self.recipients // keys.BUCKET + 1):
                records = r.hgetall(f"{ck.rec_prefix}{bucket}")
                states = r.hgetall(f"{ck.state_prefix}{bucket}")
                for idx, rec in records.items():
                    out[decode_record(rec)[0]] = states.get(idx) or UNTOUCHED
        return out

    def record(self) -> RunRecord:
        """Everything the checks read, taken once the run has settled (before the processes stop)."""
        # The ledger first: the emulator logs a send before it answers, so every send the ledger
        # records is in the send log read after it.
        ledger = self.ledger()
        return RunRecord(
            recipients=self.recipients,
            sends=self.run_sends(),
            all_sends=_log_lines(self.send_log_path),
            calls=_log_lines(self.call_log_path),
            ledger=ledger,
            counts=self.counts(),
            in_doubt_listed=self.in_doubt_listed(),
            day_counters=self.identity_day_counters(),
            hourly_cap=HOURLY,
            daily_cap=DAILY,
            pauses=[(p.returned_at, p.resumed_at) for p in self.pauses],
            eras=self.leadership(),
            outlived_locks=sum(
                1 for n in self.pacer_procs for x in _log_lines(self.tmp / f"{n}.log") if x.get("event") == OUTLIVED
            ),
            pacer_kills=dict(self.pacer_kills),
            began=self.began,
            stopped_at=now(),
            lock_ttl_s=float(CHAOS_ENV["PACER_LOCK_TTL_S"]),
        )

    def in_doubt_listed(self) -> list[str]:
        """What `status --in-doubt` lists (asked only when the counts say some are in doubt)."""
        if not self.counts().get("in_doubt"):
            return []
        rows = cli_json(self.env, "status", self.cid, "--in-doubt", "--json")
        assert isinstance(rows, list)
        return [str(row["address"]) for row in rows]

    def identity_day_counters(self) -> dict[str, int]:
        """The grants each identity's day counters hold (what the limiter counted against the daily cap)."""
        with redis_sync.Redis.from_url(self.redis.url, decode_responses=True) as r:
            return {k: int(r.get(k) or 0) for k in r.scan_iter(f"{keys.PREFIX}id:*:day:*")}


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _log_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _ts(line: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(line["timestamp"])).timestamp()
