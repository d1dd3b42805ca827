"""Callbacks/s and p99 latency of `POST /callbacks/tencent/{token}`, beside the same server answering an empty 200.

    python bench/bench_callbacks.py --events 10000 --concurrency 100

A throwaway redis-server (EmbeddedRedis) holds a MessageId map of --events sends; a child process
serves one aiohttp app with the callback route and `/empty` (an empty 200); this process posts the
same number of requests to each, --concurrency at a time, one event per request, and checks that
every callback was counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.core.clock import SystemClock
from orchestrator.embedded import EmbeddedRedis, free_port
from orchestrator.logging_setup import configure_logging
from orchestrator.settings import Settings
from orchestrator.store import keys
from orchestrator.store.connection import redis_from_url
from orchestrator.store.feedback import FeedbackStore, message_value
from orchestrator.web.callbacks import add_callback_routes
from orchestrator.web.context import CTX, WebContext

TOKEN = "bench-callback-token-0123456789"  # a local benchmark's token
EVENTS = ("delivered", "open", "click", "deferred", "dropped")


async def empty(_request: web.Request) -> web.Response:
    return web.Response()


def serve(port: int, redis_url: str) -> None:
    """The child: one app, both routes, until killed."""
    configure_logging("json", "WARNING")
    settings = Settings(_env_file=None, CALLBACK_TOKEN=SecretStr(TOKEN))
    app = web.Application()
    app[CTX] = WebContext(redis_from_url(redis_url), settings, SystemClock())
    add_callback_routes(app)
    app.router.add_post("/empty", empty)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def event(n: int, now: int) -> dict[str, Any]:
    return {
        "event": EVENTS[n % len(EVENTS)],
        "eventid": 1,
        "bulkId": f"bench-{n}",
        "email": f"user{n}@example.com",
        "fromDomain": "news.example.com",
        "timestamp": now,
        "bounceType": "",
        "reason": "",
    }


async def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """(seconds, each request's latency in s, non-200 answers) of posting every body."""
    latencies: list[float] = []
    bad = 0
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal bad
            for body in queue:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    bad += resp.status != 200
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, bad


def p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def run(args: argparse.Namespace, redis_url: str, port: int) -> dict[str, Any]:
    redis = redis_from_url(redis_url)
    await redis.flushdb()
    now = int(SystemClock().now())
    mapping = {
        f"bench-{n}": message_value("bench", n, "bench-id", float(now)) for n in range(args.events * args.rounds)
    }
    await redis.hset(keys.MESSAGE_IDS, mapping=mapping)
    try:
        await wait_port(port)
        base = f"http://127.0.0.1:{port}"
        out: dict[str, Any] = {"events": args.events, "concurrency": args.concurrency, "rounds": args.rounds}
        runs: dict[str, list[tuple[float, list[float], int]]] = {"empty": [], "callbacks": []}
        for r in range(args.rounds):  # alternating, so both see the same machine
            first = r * args.events  # every round posts new messages: each of its events must be counted
            bodies = [json.dumps(event(first + n, now)).encode() for n in range(args.events)]
            runs["empty"].append(await post_all(f"{base}/empty", bodies, args.concurrency))
            runs["callbacks"].append(await post_all(f"{base}/callbacks/tencent/{TOKEN}", bodies, args.concurrency))
        for name, results in runs.items():
            rates = sorted(args.events / seconds for seconds, _, _ in results)
            out[name] = {
                "per_s_median": round(rates[len(rates) // 2]),
                "p99_ms": round(p99_ms([x for _, lat, _ in results for x in lat]), 2),
                "non_200": sum(bad for _, _, bad in results),
            }
        totals = await FeedbackStore(redis).totals()
        out["counted"] = sum(totals.values())
        out["ratio"] = round(out["callbacks"]["per_s_median"] / out["empty"]["per_s_median"], 2)
        return out
    finally:
        await redis.aclose()


async def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return
    raise SystemExit("the callback server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each kind; medians reported")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "REDIS_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    port = free_port()
    with EmbeddedRedis() as server:
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(port), server.url])
        try:
            result = asyncio.run(run(args, server.url, port))
        finally:
            child.terminate()
            child.wait(10)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result))
    if result["counted"] != args.events * args.rounds or result["callbacks"]["non_200"]:
        raise SystemExit("not every callback was counted")


if __name__ == "__main__":
    main()
