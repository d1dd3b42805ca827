"""Raw SendEmail calls/s of the async Tencent SDK against the local emulator, keep-alive on and off.

    python bench/bench_sdk.py --calls 2000 --concurrency 1,10,50

Starts `orchestrate emulator` in a subprocess (rate and per-address limits off) unless --endpoint
names a running one, then times the same calls from this one process with each keep-alive setting,
and the same calls through the project's `TencentSender` (the SDK client it wraps, with its request
building, error classification and logging) beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ses.v20201002 import models
from tencentcloud.ses.v20201002.ses_client_async import SesClient

from orchestrator.core.sending import SendRequest
from orchestrator.logging_setup import configure_logging
from orchestrator.ses.client import TencentSender
from orchestrator.settings import Settings

SECRET_ID, SECRET_KEY = "bench-id", "bench-key"
WORLD = {
    "permissive": True,
    "accounts": [{"name": "default", "secret_id": SECRET_ID, "secret_key": SECRET_KEY}],
    "account_rate_per_s": None,
    "per_address_per_hour": None,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int, world_file: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "orchestrator.cli", "emulator", "--port", str(port), "--world", str(world_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.perf_counter() + 20
    while time.perf_counter() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.1)
        else:
            return proc
    proc.kill()
    raise SystemExit("the emulator did not start")


def send_request(n: int) -> Any:
    req = models.SendEmailRequest()
    req.from_json_string(
        json.dumps(
            {
                "FromEmailAddress": "Bench <bench@bench.example.com>",
                "Destination": [f"r{n}@example.org"],
                "Template": {"TemplateID": 1, "TemplateData": "{}"},
                "Subject": "bench",
            }
        )
    )
    return req


async def run(endpoint: str, keep_alive: bool, calls: int, concurrency: int) -> dict[str, Any]:
    http = HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=30, keepAlive=keep_alive)
    profile = ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0
    async with SesClient(Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou", profile) as client:
        await client.SendEmail(send_request(-1))  # warm up

        async def one(n: int) -> None:
            nonlocal errors
            async with gate:
                t0 = time.perf_counter()
                try:
                    await client.SendEmail(send_request(n))
                except Exception:  # counted, not fatal: the benchmark measures throughput
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(calls)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "keep_alive": keep_alive,
        "concurrency": concurrency,
        "calls": calls,
        "errors": errors,
        "seconds": elapsed,
        "per_s": calls / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


async def run_sender(endpoint: str, calls: int, concurrency: int) -> dict[str, Any]:
    """The same calls through TencentSender, as a worker makes them."""
    settings = Settings(
        TENCENTCLOUD_SECRET_ID=SecretStr(SECRET_ID),
        TENCENTCLOUD_SECRET_KEY=SecretStr(SECRET_KEY),
        SES_ENDPOINT=f"http://{endpoint}",
    )
    sender = TencentSender(settings)
    gate = asyncio.Semaphore(concurrency)
    errors = 0

    def request(n: int) -> SendRequest:
        to = f"r{n}@example.org"
        return SendRequest("default", "Bench <bench@bench.example.com>", to, 1, {}, "bench")

    async def one(n: int) -> None:
        nonlocal errors
        async with gate:
            outcome = await sender.send(request(n))
            errors += outcome.message_id is None

    try:
        await sender.send(request(-1))  # connect once, as a worker's sender has
        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(calls)))
        elapsed = time.perf_counter() - start
    finally:
        await sender.close()
    return {"concurrency": concurrency, "calls": calls, "errors": errors, "seconds": elapsed, "per_s": calls / elapsed}


def compare(endpoint: str, calls: int, concurrency: int, rounds: int) -> dict[str, Any]:
    """TencentSender against the raw client in alternating rounds (both see the same machine); medians."""
    raw: list[float] = []
    ours: list[dict[str, Any]] = []
    for _ in range(rounds):
        raw.append(asyncio.run(run(endpoint, True, calls, concurrency))["per_s"])
        ours.append(asyncio.run(run_sender(endpoint, calls, concurrency)))
    raw.sort()
    ours.sort(key=lambda r: float(r["per_s"]))
    median = dict(ours[len(ours) // 2])
    median["raw_per_s"] = raw[len(raw) // 2]
    median["errors"] = sum(int(r["errors"]) for r in ours)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,10,50", help="comma-separated levels (default 1,10,50)")
    parser.add_argument("--endpoint", help="host:port of a running emulator (default: start one)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of TencentSender vs raw (3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    configure_logging("json", "WARNING")  # as a worker in production: per-send INFO lines off
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = args.endpoint
        if endpoint is None:
            world_file = Path(tmp) / "world.json"
            world_file.write_text(json.dumps(WORLD))
            port = free_port()
            proc = start_emulator(port, world_file)
            endpoint = f"127.0.0.1:{port}"
        try:
            levels = [int(c) for c in args.concurrency.split(",")]
            results = [asyncio.run(run(endpoint, ka, args.calls, c)) for c in levels for ka in (True, False)]
            senders = [compare(endpoint, args.calls, c, args.rounds) for c in levels]
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
    print(f"async SDK SendEmail -> emulator at {endpoint}: {args.calls} calls per row")
    print(
        f"{'concurrency':>11} {'keepAlive':>9} {'calls/s':>8} {'seconds':>8} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6}"
    )
    for r in results:
        print(
            f"{r['concurrency']:>11} {r['keep_alive']!s:>9} {r['per_s']:>8.0f} {r['seconds']:>8.2f} "
            f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['errors']:>6}"
        )
    print(f"TencentSender against the raw client (keepAlive), {args.rounds} alternating rounds, medians")
    print(f"{'concurrency':>11} {'TencentSender calls/s':>21} {'raw SDK calls/s':>15} {'ratio':>6} {'errors':>6}")
    for r in senders:
        ratio = r["per_s"] / r["raw_per_s"]
        print(f"{r['concurrency']:>11} {r['per_s']:>21.0f} {r['raw_per_s']:>15.0f} {ratio:>6.0%} {r['errors']:>6}")
    if args.json:
        args.json.write_text(json.dumps({"raw": results, "sender": senders}))


if __name__ == "__main__":
    main()
