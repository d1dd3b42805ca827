"""`simulate` speed for a 3-identity, 30-day warm-up, split into its parts, beside the raw SDK rate.

    python bench/bench_simulate.py                 # --sample 0.05: about 24,000 sends
    python bench/bench_simulate.py --sample 1      # the full size: about 1,060,000 sends

Writes a campaign (3 identities, mode warmup, the default plan, pool x5) and a CSV big enough that
the list never runs out (1,100,000 rows with a realistic domain mix), then runs
`orchestrator.simulation.run.run_simulation` exactly as `orchestrate simulate --sample F` does: its own
throwaway redis-server (EmbeddedRedis), the in-process SES emulator, the real pacer, arq worker,
ledger and TencentSender on the official async SDK. Pacer.tick, VirtualRun.drain and
TencentSender.send are wrapped with timers, so the run splits into: pacer ticks, the worker drain
outside its jobs (arq's polls, fetches and results), the jobs beside their sends (claim, finish,
logs), the sends (SDK + HTTP + emulator, all in this one process), and the rest (virtual clock
steps, sweeps, the day recorder). A drain runs its jobs side by side: a job's or a send's time is
the time with at least one under way, never the sum of overlapping calls.

Then, in the same process, N SendEmail calls one after another (concurrency 1) through a
TencentSender to an in-process emulator: the ceiling a one-send-at-a-time simulation could reach.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis as redis_sync
import yaml
from pydantic import SecretStr
from redis.asyncio.connection import AbstractConnection

from orchestrator.campaign_file import load_campaign
from orchestrator.core.sending import SendRequest
from orchestrator.logging_setup import configure_logging
from orchestrator.pacing import Pacer
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Account, World, run_emulator
from orchestrator.settings import Settings
from orchestrator.simulation import run as simulate
from orchestrator.simulation.virtual_run import VirtualRun
from workers import settings as worker_settings
from workers.sweep import Sweeper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_submit import write_csv  # the sibling script's generator (same domain mix)

#: Rows of the full-size CSV: 3 identities x about 354,500 sends each over 30 days, plus spare.
FULL_ROWS = 1_100_000


def write_campaign(folder: Path, rows: int) -> Path:
    csv_path = folder / "recipients.csv"
    write_csv(csv_path, rows, invalid_share=0.0, duplicate_share=0.0, seed=3)
    doc = {
        "name": "bench-simulate",
        "mode": "warmup",
        "timezone": "Asia/Seoul",
        "start": "2026-12-01",
        "identities": [{"id": f"bench-{k}", "from": f"Bench <news@{k}.bench.example.com>"} for k in ("a", "b", "c")],
        "plan": {"table": "default"},
        "template": {"id": 1, "subject": "Hello {{name}}", "data": {"name": {"column": "first_name"}}},
        "recipients": {"file": csv_path.name, "email_column": "email", "shuffle_seed": 42},
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


class Timers:
    """Wall seconds, calls and Redis requests of wrapped functions and coroutines, for one run.

    Requests are counted at redis-py's AbstractConnection.send_packed_command (one per command or pipeline).
    Pacer.tick and VirtualRun.drain never overlap in VirtualRun, so their counts are their own.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.sent_requests = 0
        self._saved: list[tuple[Any, str, Any]] = []

    def _add(self, key: str, t0: float, r0: int) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0
        self.calls[key] = self.calls.get(key, 0) + 1
        self.requests[key] = self.requests.get(key, 0) + self.sent_requests - r0

    def count_requests(self) -> None:
        orig = AbstractConnection.send_packed_command
        timers = self

        async def counted(conn: AbstractConnection, *args: Any, **kwargs: Any) -> None:
            timers.sent_requests += 1
            await orig(conn, *args, **kwargs)

        # On the base class: the simulation's clients use a unix socket, others TCP or TLS.
        self._saved.append((AbstractConnection, "send_packed_command", orig))
        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    def wrap_overlapping(self, owner: Any, name: str, key: str) -> None:
        """Time a coroutine several of whose calls may run at once (a drain runs its sends side by side):
        its seconds are the time with at least one call under way, not the sum of the calls' times."""
        orig = getattr(owner, name)
        active = [0, 0.0]  # calls under way, when the first of them started

        async def timed(*args: Any, **kwargs: Any) -> Any:
            if active[0] == 0:
                active[1] = time.perf_counter()
            active[0] += 1
            try:
                return await orig(*args, **kwargs)
            finally:
                active[0] -= 1
                self.calls[key] = self.calls.get(key, 0) + 1
                if active[0] == 0:
                    self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - active[1]

        self._saved.append((owner, name, orig))
        setattr(owner, name, timed)

    def wrap(self, owner: Any, name: str, key: str) -> None:
        orig = getattr(owner, name)
        add = self._add
        if asyncio.iscoroutinefunction(orig):

            async def timed(*args: Any, **kwargs: Any) -> Any:
                t0, r0 = time.perf_counter(), self.sent_requests
                try:
                    return await orig(*args, **kwargs)
                finally:
                    add(key, t0, r0)

        else:

            def timed(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                t0, r0 = time.perf_counter(), self.sent_requests
                try:
                    return orig(*args, **kwargs)
                finally:
                    add(key, t0, r0)

        self._saved.append((owner, name, orig))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, orig in reversed(self._saved):
            setattr(owner, name, orig)
        self._saved.clear()


def unthrottled_world() -> World:
    """The emulator's permissive world with its rate limits off: every call of the ceiling is an accepted
    send, as in the simulation (whose virtual clock keeps to the account's 20 a second). With the
    limits on, all but the first 20 calls of each real second came back throttled, and the ceiling
    measured those cheaper refusals."""
    account = Account(name="default", secret_id=DEFAULT_SECRET_ID, secret_key=DEFAULT_SECRET_KEY)
    return World(accounts=[account], permissive=True, account_rate_per_s=None, per_address_per_hour=None)


async def raw_sdk(calls: int) -> dict[str, float]:
    """SendEmail one after another through TencentSender to an in-process emulator; every call accepted."""
    async with run_emulator(unthrottled_world()) as emu:
        settings = Settings(
            TENCENTCLOUD_SECRET_ID=SecretStr(DEFAULT_SECRET_ID),
            TENCENTCLOUD_SECRET_KEY=SecretStr(DEFAULT_SECRET_KEY),
            SES_ENDPOINT=emu.url,
        )
        sender = TencentSender(settings)

        def request(n: int) -> SendRequest:
            return SendRequest(
                account="default",
                from_address="Bench <news@a.bench.example.com>",
                to_address=f"user{n}@naver.com",
                template_id=1,
                template_data={"name": f"Name{n}"},
                subject="Hello {{name}}",
            )

        try:
            await sender.send(request(-1))  # connect once, as the simulation's sender has
            t0 = time.perf_counter()
            accepted = 0
            for n in range(calls):
                outcome = await sender.send(request(n))
                accepted += outcome.message_id is not None
            seconds = time.perf_counter() - t0
        finally:
            await sender.close()
    if accepted != calls:
        raise SystemExit(f"raw SDK ceiling: only {accepted:,} of {calls:,} calls accepted (it must time sends)")
    return {"calls": calls, "accepted": accepted, "seconds": seconds, "per_s": calls / seconds}


async def run(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Any], Timers, str]:
    t0 = time.perf_counter()
    campaign_path = write_campaign(folder, args.rows)
    csv_s = time.perf_counter() - t0
    spec = load_campaign(campaign_path)
    timers = Timers()
    timers.count_requests()
    timers.wrap(simulate, "sample_campaign", "sample")
    timers.wrap(simulate, "submit", "submit")
    timers.wrap(VirtualRun, "run_until", "run")
    timers.wrap(Pacer, "tick", "tick")
    timers.wrap(Sweeper, "sweep", "sweep")
    timers.wrap(VirtualRun, "drain", "drain")
    timers.wrap_overlapping(TencentSender, "send", "send")
    timers.wrap_overlapping(worker_settings, "send_one", "job")
    timers.wrap(simulate, "write_outputs", "outputs")
    profiler = cProfile.Profile() if args.profile else None
    cpu: dict[str, float] = {}

    def on_start(url: str, cid: str) -> None:
        # CPU from here (the campaign submitted) to the end of the virtual run: this process (pacer, worker,
        # web process, emulator) and the embedded redis-server (its own count, INFO cpu).
        del cid
        cpu["url"], cpu["self0"] = url, time.process_time()  # type: ignore[assignment]
        with redis_sync.Redis.from_url(url) as r:
            cpu["redis0"] = _redis_cpu(r.info("cpu"))

    async def on_end(redis: Any, cid: str, vr: Any) -> None:
        del cid, vr
        cpu["self"] = time.process_time() - cpu["self0"]
        cpu["redis"] = _redis_cpu(await redis.info("cpu")) - cpu["redis0"]

    try:
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        result = await simulate.run_simulation(
            spec,
            folder / "out",
            days=args.days,
            sample=args.sample,
            on_start=on_start,
            hooks=simulate.SimHooks(on_end=on_end),
        )
        total_s = time.perf_counter() - t0
        if profiler:
            profiler.disable()
    finally:
        timers.restore()
    profile_text = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)
        profile_text = out.getvalue()
    summary = result.summary
    return (
        {
            "csv_s": csv_s,
            "total_s": total_s,
            "sends": summary["sends_logged"],
            "accepted": summary["recipients"]["accepted"],
            "virtual_days": summary["virtual_days"],
            "steps": summary["steps"],
            "cpu_self_s": cpu.get("self", 0.0),
            "cpu_redis_s": cpu.get("redis", 0.0),
        },
        timers,
        profile_text,
    )


def _redis_cpu(info: dict[str, Any]) -> float:
    """The redis-server's CPU seconds so far (user + system, its main thread and the rest)."""
    return float(info.get("used_cpu_user", 0.0)) + float(info.get("used_cpu_sys", 0.0))


def report(r: dict[str, Any], timers: Timers, sdk: dict[str, float], args: argparse.Namespace) -> None:
    s = timers.seconds
    n = max(r["sends"], 1)
    run_s = s.get("run", 0.0)
    parts: list[tuple[str, float]] = [
        ("pacer tick", s.get("tick", 0.0)),
        ("worker drain outside the jobs", s.get("drain", 0.0) - s.get("job", 0.0)),
        ("jobs in flight, beside the sends", s.get("job", 0.0) - s.get("send", 0.0)),
        ("sends in flight (SDK + emulator)", s.get("send", 0.0)),
        ("sweeps", s.get("sweep", 0.0)),
        ("rest (clock steps, recorder)", run_s - s.get("tick", 0.0) - s.get("drain", 0.0) - s.get("sweep", 0.0)),
    ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"simulate --sample {args.sample:g} --days {args.days}: {r['sends']:,} sends ({r['accepted']:,} accepted) "
        f"in {r['virtual_days']} virtual days, {r['steps']:,} steps; {os.cpu_count()} CPUs, load average after {load}"
    )
    head = f"{'seconds':>8} {'share':>6} {'ms/send':>8} {'calls':>9} {'Redis req/send':>14}"
    print(f"{'part of the virtual run':<34} {head}")
    keys = {
        "pacer tick": "tick",
        "worker drain outside the jobs": "drain",
        "jobs in flight, beside the sends": "job",
        "sends in flight (SDK + emulator)": "send",
        "sweeps": "sweep",
    }
    for name, sec in parts:
        key = keys.get(name, "")
        c = timers.calls.get(key, 0)
        # Jobs and sends overlap: every request made during a drain is counted in the drain's row.
        req = f"{timers.requests.get(key, 0) / n:.1f}" if key and key not in ("send", "job") else "-"
        print(f"{name:<34} {sec:>8.2f} {sec / max(run_s, 1e-9):>6.0%} {sec / n * 1000:>8.2f} {c:>9,} {req:>14}")
    req = timers.requests.get("run", 0) / n
    whole = f"{run_s:>8.2f} {'100%':>6} {run_s / n * 1000:>8.2f} {'':>9} {req:>14.1f}"
    print(f"{'the virtual run (run_until)':<34} {whole}")
    print(f"{'outside it':<34}")
    outside = (("  sample the CSV", "sample"), ("  submit", "submit"), ("  report, summary, send log", "outputs"))
    for name, key in outside:
        print(f"{name:<34} {s.get(key, 0.0):>8.2f}")
    written = f"(CSV of {args.rows:,} rows written in {r['csv_s']:.1f} s)"
    print(f"{'  run_simulation in all':<34} {r['total_s']:>8.2f}   {written}")
    rate = r["sends"] / max(run_s, 1e-9)
    send_only = r["sends"] / max(s.get("send", 0.0), 1e-9)
    print()
    print(f"{'rate':<44} {'sends/s':>8}")
    print(f"{'simulation: virtual sends per real second':<44} {rate:>8,.0f}")
    print(f"{'  its sends alone (sends / seconds in flight)':<44} {send_only:>8,.0f}")
    print(f"{'raw SDK -> in-process emulator, 1 at a time':<44} {sdk['per_s']:>8,.0f}   ({sdk['calls']:,} calls)")
    print(f"{'simulation / raw SDK':<44} {rate / sdk['per_s']:>8.0%}   (target >= 50%)")
    cpu_ms = (r["cpu_self_s"] + r["cpu_redis_s"]) / n * 1000
    if cpu_ms > 0:
        cores = os.cpu_count() or 1
        bound = cores / (cpu_ms / 1000)
        print()
        mine, theirs = r["cpu_self_s"] / n * 1000, r["cpu_redis_s"] / n * 1000
        print(
            f"{'CPU a send, submit to the end':<44} {cpu_ms:>8.2f} ms   (this process {mine:.2f}, redis {theirs:.2f})"
        )
        share = bound / sdk["per_s"]
        print(f"{f'all {cores} cores busy at that cost: at most':<44} {bound:>8,.0f}   = {share:.0%} of the raw SDK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--sample", type=float, default=0.05, help="share of recipients and caps (default 0.05)")
    parser.add_argument("--days", type=int, default=30, help="virtual days (default 30)")
    parser.add_argument("--rows", type=int, default=FULL_ROWS, help=f"rows of the full CSV (default {FULL_ROWS:,})")
    parser.add_argument("--sdk-calls", type=int, default=2000, help="raw SDK calls (default 2,000)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the simulation; print top N")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    configure_logging("json", "WARNING")  # as `orchestrate simulate` does

    async def both(folder: Path) -> tuple[dict[str, Any], Timers, str, dict[str, float]]:
        r, timers, profile_text = await run(args, folder)
        sdk = await raw_sdk(args.sdk_calls)
        return r, timers, profile_text, sdk

    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        r, timers, profile_text, sdk = asyncio.run(both(Path(tmp)))
    if profile_text:
        print(profile_text)
    report(r, timers, sdk, args)
    if args.json:
        run_s = timers.seconds.get("run", 0.0)
        figures = {**r, "run_s": run_s, "per_s": r["sends"] / max(run_s, 1e-9), "sdk": sdk, "parts": timers.seconds}
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
