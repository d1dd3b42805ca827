"""Pipeline sends/s with an instant sender, beside arq's own no-op jobs/s, in one worker process.

    python bench/bench_pipeline.py                        # 20,000 sends, VirtualRun driver
    python bench/bench_pipeline.py --driver realtime      # pacer loop + a running arq Worker
    python bench/bench_pipeline.py --recipients 5000 --profile 30

Both halves run against the same throwaway redis-server (EmbeddedRedis), with the same arq
settings (max_jobs, poll delay, JSON jobs, keep_result 0):

- no-op: N jobs of a function that does nothing are enqueued (not timed), then one arq Worker in
  burst mode runs them all: arq's own cost per job (poll, in-progress key, job fetch, result).
- pipeline: a campaign whose caps never bind (mode: shared, account rate 1e6/s) is submitted,
  then the pacer grants, the grant script writes the arq jobs, and `send_one` claims, "sends"
  through RecordingSender (accepts at once, no I/O) and records each outcome in the ledger.
  `virtual` drives it with VirtualRun (tick, then drain every job, on a virtual clock);
  `realtime` runs the pacer in a loop on the system clock beside an arq Worker (not burst).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from arq.connections import create_pool
from arq.worker import Worker, func
from redis.asyncio.connection import Connection

from orchestrator.campaign_file import campaign_fingerprint, load_campaign
from orchestrator.core.clock import SystemClock, VirtualClock
from orchestrator.core.sending import RecordingSender
from orchestrator.embedded import EmbeddedRedis
from orchestrator.logging_setup import configure_logging
from orchestrator.pacing import Pacer, PacerConfig
from orchestrator.simulation.virtual_run import JOB_TIMEOUT_S, VirtualRun
from orchestrator.store import campaigns
from orchestrator.store.connection import arq_settings, redis_from_url
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from workers.deps import Deps
from workers.jobs import job_deserializer, job_serializer
from workers.pacer import build_pacer
from workers.send import send_one

START = 1_796_083_200.0  # 2026-12-01 00:00 UTC
DOMAINS = ["naver.com", "gmail.com", "daum.net", "hanmail.net", "nate.com", "kakao.com", "outlook.com"]


async def noop(ctx: dict[str, Any], *args: Any) -> None:
    """An arq job that does nothing: what is left is arq's own cost."""


def worker_kwargs(max_jobs: int, poll_delay: float, burst: bool) -> dict[str, Any]:
    return {
        "burst": burst,
        "poll_delay": poll_delay,
        "max_jobs": max_jobs,
        "keep_result": 0,
        "handle_signals": False,
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
    }


class RoundTrips:
    """Counts the requests this process writes to Redis (one per command or per pipeline)."""

    count = 0

    @classmethod
    def install(cls) -> None:
        orig = Connection.send_packed_command

        async def counted(self: Connection, *args: Any, **kwargs: Any) -> None:
            cls.count += 1
            await orig(self, *args, **kwargs)

        Connection.send_packed_command = counted  # type: ignore[method-assign]


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the redis-server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def command_stats(url: str, reset: bool = False) -> dict[str, tuple[int, int]]:
    """Redis's INFO commandstats as {command: (calls, server microseconds)}; CONFIG RESETSTAT with `reset`."""
    redis = redis_from_url(url)
    try:
        if reset:
            await redis.config_resetstat()
            return {}
        raw = await redis.info("commandstats")
    finally:
        await redis.aclose()
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in raw.items()}


async def bench_noop(url: str, n: int, max_jobs: int, poll_delay: float, server_pid: int) -> dict[str, Any]:
    pool = await create_pool(arq_settings(url), job_serializer=job_serializer, job_deserializer=job_deserializer)
    await pool.flushdb()
    for i in range(0, n, 500):
        await asyncio.gather(*(pool.enqueue_job("noop", j, _job_id=f"noop:{j}") for j in range(i, min(n, i + 500))))
    worker = Worker(functions=[func(noop, name="noop")], redis_pool=pool, **worker_kwargs(max_jobs, poll_delay, True))
    await command_stats(url, reset=True)
    trips0, server0 = RoundTrips.count, server_cpu_s(server_pid)
    t0, cpu0 = time.perf_counter(), time.process_time()
    await worker.main()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    trips, server = RoundTrips.count - trips0, server_cpu_s(server_pid) - server0
    commands = await command_stats(url)
    done = worker.jobs_complete
    await worker.close()
    if done != n:
        raise SystemExit(f"no-op worker completed {done} of {n} jobs")
    return {
        "n": n,
        "seconds": seconds,
        "cpu": cpu,
        "per_s": n / seconds,
        "commands": commands,
        "trips": trips,
        "server": server,
    }


def write_campaign(folder: Path, n: int, identities: int) -> Path:
    csv_path = folder / "recipients.csv"
    with csv_path.open("w", encoding="utf-8") as fh:
        fh.write("email,first_name\n")
        fh.writelines(f"user{i}@{DOMAINS[i % len(DOMAINS)]},Name{i}\n" for i in range(n))
    doc = {
        "name": "bench-pipeline",
        "mode": "shared",  # no ramp: only the (absent) quotas would bind
        "timezone": "UTC",
        "identities": [{"id": f"bench-{k}", "from": f"Bench <news@d{k}.bench.example.com>"} for k in range(identities)],
        "template": {"id": 1, "subject": "Hello {{name}}", "data": {"name": {"column": "first_name"}}},
        "recipients": {"file": csv_path.name, "email_column": "email", "shuffle_seed": 7},
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


async def _submit(url: str, campaign_path: Path, now: float) -> str:
    redis = redis_from_url(url)
    await redis.flushdb()
    result = await submit(redis, load_campaign(campaign_path), campaign_fingerprint(campaign_path), now, "bench")
    await redis.aclose()
    return result.campaign_id


async def _accepted(url: str, cid: str) -> int:
    redis = redis_from_url(url)
    rec = await campaigns.get(redis, cid)
    await redis.aclose()
    return rec.counts["accepted"] if rec else 0


class Timed:
    """Wall seconds spent in Pacer.tick and in VirtualRun.drain (monkey-patched for the run)."""

    def __init__(self) -> None:
        self.acc = {"tick": 0.0, "drain": 0.0}
        self._saved: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, key: str) -> None:
        orig = getattr(owner, name)
        acc = self.acc

        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await orig(*args, **kwargs)
            finally:
                acc[key] += time.perf_counter() - t0

        self._saved.append((owner, name, orig))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, orig in reversed(self._saved):
            setattr(owner, name, orig)


async def bench_virtual(url: str, campaign_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    cid = await _submit(url, campaign_path, START)
    sender = RecordingSender()
    clock = VirtualClock(START)
    timed = Timed()
    timed.wrap(Pacer, "tick", "tick")
    timed.wrap(VirtualRun, "drain", "drain")
    config = PacerConfig(account_rate_per_s=1e6)
    try:
        async with VirtualRun(url, clock, sender, config, workers=1, max_jobs=args.max_jobs) as run:
            for w in run._workers:  # the same poll delay as the no-op worker
                w.poll_delay_s = args.poll_delay
            await command_stats(url, reset=True)
            trips0, server0 = RoundTrips.count, server_cpu_s(args.server_pid)
            t0, cpu0 = time.perf_counter(), time.process_time()
            await run.run_until(START + 86400)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            trips, server = RoundTrips.count - trips0, server_cpu_s(args.server_pid) - server0
            commands = await command_stats(url)
            ticks = run.stats.ticks
    finally:
        timed.restore()
    return {
        "n": len(sender.sent),
        "accepted": await _accepted(url, cid),
        "seconds": seconds,
        "cpu": cpu,
        "per_s": len(sender.sent) / seconds,
        "tick": timed.acc["tick"],
        "drain": timed.acc["drain"],
        "ticks": ticks,
        "commands": commands,
        "trips": trips,
        "server": server,
    }


async def bench_realtime(url: str, campaign_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    clock = SystemClock()
    cid = await _submit(url, campaign_path, clock.now() - 60)
    sender = RecordingSender()
    redis = redis_from_url(url)
    pacer = build_pacer(redis, clock, PacerConfig(account_rate_per_s=1e6), sender=sender)
    pool = await create_pool(arq_settings(url), job_serializer=job_serializer, job_deserializer=job_deserializer)
    deps = Deps(redis=redis, ledger=Ledger(redis), sender=sender, clock=clock, owns_sender=False)
    worker = Worker(
        functions=[func(send_one, name="send_one", timeout=JOB_TIMEOUT_S, max_tries=5)],
        redis_pool=pool,
        ctx={"deps": deps},
        **worker_kwargs(args.max_jobs, args.poll_delay, False),
    )
    acc = {"tick": 0.0, "ticks": 0}
    await command_stats(url, reset=True)
    trips0, server0 = RoundTrips.count, server_cpu_s(args.server_pid)
    t0, cpu0 = time.perf_counter(), time.process_time()
    worker_task = asyncio.create_task(worker.main())
    while len(sender.sent) < args.recipients:
        t = time.perf_counter()
        report = await pacer.tick()
        acc["tick"] += time.perf_counter() - t
        acc["ticks"] += 1
        if not report.granted:  # nothing to grant now: tick again later, as the pacer process does
            await asyncio.sleep(args.tick_interval)
    await asyncio.gather(*worker.tasks.values())  # the last sends record their outcome
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    trips, server = RoundTrips.count - trips0, server_cpu_s(args.server_pid) - server0
    commands = await command_stats(url)
    worker_task.cancel()
    await asyncio.gather(worker_task, return_exceptions=True)
    await worker.close()
    accepted = await _accepted(url, cid)
    await redis.aclose()
    n = len(sender.sent)
    return {
        "n": n,
        "accepted": accepted,
        "seconds": seconds,
        "cpu": cpu,
        "per_s": n / seconds,
        "tick": acc["tick"],
        "drain": seconds - acc["tick"],
        "ticks": acc["ticks"],
        "commands": commands,
        "trips": trips,
        "server": server,
    }


async def run(args: argparse.Namespace, url: str, folder: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    noop_r = await bench_noop(url, args.jobs or args.recipients, args.max_jobs, args.poll_delay, args.server_pid)
    campaign_path = write_campaign(folder, args.recipients, args.identities)
    bench = bench_realtime if args.driver == "realtime" else bench_virtual
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    pipe_r = await bench(url, campaign_path, args)
    profile_text = ""
    if profiler:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)
        profile_text = out.getvalue()
    return noop_r, pipe_r, profile_text


def print_commands(noop_r: dict[str, Any], pipe_r: dict[str, Any], top: int) -> None:
    """Redis commands per job and server time per job, the busiest commands first."""
    print(f"{'Redis commands, per job':<30} {'no-op calls':>12} {'pipeline calls':>15} {'pipeline us':>12}")
    rows = []
    for name in set(noop_r["commands"]) | set(pipe_r["commands"]):
        a = noop_r["commands"].get(name, (0, 0))
        b = pipe_r["commands"].get(name, (0, 0))
        rows.append((name, a[0] / noop_r["n"], b[0] / pipe_r["n"], b[1] / pipe_r["n"]))
    rows.sort(key=lambda r: -r[3])
    total = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    for name, a, b, us in [("all commands", *total), *rows[:top]]:
        print(f"  {name:<28} {a:>12.2f} {b:>15.2f} {us:>12.1f}")
    print("  (INFO commandstats: a command a script runs counts in its own row and in evalsha's too)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--recipients", type=int, default=20_000, help="pipeline sends (default 20,000)")
    parser.add_argument("--jobs", type=int, default=0, help="no-op jobs (default: as many as --recipients)")
    parser.add_argument("--identities", type=int, default=1, help="sending identities of the campaign (default 1)")
    parser.add_argument("--max-jobs", type=int, default=100, help="arq max_jobs of both workers (default 100)")
    parser.add_argument("--poll-delay", type=float, default=0.0, help="arq poll_delay of both workers (default 0)")
    parser.add_argument("--driver", choices=["virtual", "realtime"], default="virtual")
    parser.add_argument(
        "--tick-interval", type=float, default=0.1, help="realtime: pause after a tick that granted nothing (0.1 s)"
    )
    parser.add_argument("--top-commands", type=int, default=8, help="Redis commands listed (default 8)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the pipeline; print top N")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    configure_logging("json", "WARNING")  # as `simulate` does: per-send INFO events are not rendered

    RoundTrips.install()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, EmbeddedRedis() as server:
        assert server.proc is not None
        args.server_pid = server.proc.pid
        noop_r, pipe_r, profile_text = asyncio.run(run(args, server.url, Path(tmp)))
    if profile_text:
        print(profile_text)
    if pipe_r["accepted"] != args.recipients:
        raise SystemExit(f"the pipeline accepted {pipe_r['accepted']} of {args.recipients}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"one process, arq max_jobs={args.max_jobs} poll_delay={args.poll_delay:g}, driver {args.driver}, "
        f"{args.identities} identit{'y' if args.identities == 1 else 'ies'}; "
        f"{os.cpu_count()} CPUs, load average after {load}"
    )
    head = f"{'seconds':>8} {'CPU s':>7} {'per s':>7} {'CPU us/job':>10} {'requests/job':>12} {'Redis CPU us/job':>16}"
    print(f"{'run':<30} {'n':>7} {head}")
    for name, r in (("arq no-op jobs", noop_r), ("pipeline sends (instant)", pipe_r)):
        print(
            f"{name:<30} {r['n']:>7,} {r['seconds']:>8.2f} {r['cpu']:>7.2f} {r['per_s']:>7,.0f} "
            f"{r['cpu'] / r['n'] * 1e6:>10.0f} {r['trips'] / r['n']:>12.2f} {r['server'] / r['n'] * 1e6:>16.0f}"
        )
    ratio = pipe_r["per_s"] / noop_r["per_s"]
    print(f"{'pipeline / no-op':<30} {ratio:>32.0%}  (target >= 50%)")
    if args.json:
        keep = ("n", "seconds", "per_s")
        figures = {"noop": {k: noop_r[k] for k in keep}, "pipeline": {k: pipe_r[k] for k in keep}}
        args.json.write_text(json.dumps(figures))
    print_commands(noop_r, pipe_r, args.top_commands)
    part = "worker (rest)" if args.driver == "realtime" else "drain (workers)"
    print(f"  pacer tick {pipe_r['tick']:.2f} s in {pipe_r['ticks']:,} ticks; {part} {pipe_r['drain']:.2f} s")


if __name__ == "__main__":
    main()
