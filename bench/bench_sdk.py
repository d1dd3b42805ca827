"""Raw SendEmail calls/s of the async Tencent SDK against the local emulator, keep-alive on and off.

    python bench/bench_sdk.py --calls 2000 --concurrency 1,10,50

Starts `orchestrate emulator` in a subprocess (rate and per-address limits off) unless --endpoint
names a running one, then times the same calls from this one process with each keep-alive setting.
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

from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ses.v20201002 import models
from tencentcloud.ses.v20201002.ses_client_async import SesClient

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,10,50", help="comma-separated levels (default 1,10,50)")
    parser.add_argument("--endpoint", help="host:port of a running emulator (default: start one)")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
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


if __name__ == "__main__":
    main()
