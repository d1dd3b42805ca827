"""`trace ADDRESS` on a Redis holding 1,000,000 recipients across campaigns: milliseconds per answer, index bytes.

    python bench/bench_trace.py                          # 1,000,000 recipients in 10 campaigns
    python bench/bench_trace.py --recipients 200000 --campaigns 4 --lookups 100

Writes a recipient CSV as bench/bench_submit.py does (a realistic domain mix, a few bad and repeated
rows), splits it into `--campaigns` files that share a fifth of their addresses, submits each with
`submit()` into a throwaway redis-server (EmbeddedRedis), marks the looked-up recipients accepted
(a MessageId and a delivered event each), then times `trace()` end to end for `--lookups` known
addresses and a few unknown ones. Prints the address index's bytes per recipient (MEMORY USAGE
of every index hash) and the whole Redis's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_submit import write_campaign, write_csv

START = 1.8e9


def split(csv_path: Path, campaigns: int, folder: Path, seed: int) -> list[Path]:
    """`campaigns` CSVs of the rows of `csv_path`; each also gets a fifth of the next one's rows."""
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    size = len(rows) // campaigns
    rnd = random.Random(seed)
    out: list[Path] = []
    for k in range(campaigns):
        mine = rows[k * size : (k + 1) * size]
        nxt = rows[((k + 1) % campaigns) * size : ((k + 1) % campaigns + 1) * size]
        shared = rnd.sample(nxt, len(nxt) // 5) if k < campaigns - 1 else []
        path = folder / f"part{k}.csv"
        path.write_text("\n".join([header, *mine, *shared]) + "\n", encoding="utf-8")
        out.append(path)
    return out


async def _submit_all(redis_url: str, folder: Path, parts: list[Path]) -> tuple[list[str], int, float]:
    from orchestrator.campaign_file import campaign_fingerprint, load_campaign
    from orchestrator.store.connection import redis_from_url
    from orchestrator.submit import submit

    redis = redis_from_url(redis_url)
    cids, loaded = [], 0
    t0 = time.perf_counter()
    for k, part in enumerate(parts):
        campaign_path = write_campaign(folder, part)
        text = campaign_path.read_text(encoding="utf-8").replace("bench-submit", f"bench-trace-{k}")
        campaign_path.write_text(text, encoding="utf-8")
        campaign = load_campaign(campaign_path)
        result = await submit(redis, campaign, campaign_fingerprint(campaign_path), START, "bench", force_new=True)
        cids.append(result.campaign_id)
        loaded += result.stats.valid
    await redis.aclose()
    return cids, loaded, time.perf_counter() - t0


async def _mark_accepted(redis_url: str, addresses: list[str]) -> None:
    """Each traced address's recipients accepted, with a MessageId and a delivered event (the full path)."""
    from orchestrator.store import keys, trace_index
    from orchestrator.store.connection import redis_from_url
    from orchestrator.store.feedback import message_value

    redis = redis_from_url(redis_url)
    for n, address in enumerate(addresses):
        places, _ = await trace_index.places(redis, address)
        for p in places:
            if p.index is None:
                continue
            mid = f"bench-{n}-{p.index}@trace"
            event = {"bulkId": mid, "event": "delivered", "timestamp": int(START) + 30, "email": address}
            ck = keys.CampaignKeys(p.cid)
            await redis.hset(ck.state(p.index), str(p.index), f"a|{mid}")
            await redis.hset(keys.MESSAGE_IDS, mid, message_value(p.cid, p.index, "bench-a", START))
            await redis.hset(keys.fb_message(mid), f"delivered||{int(START) + 30}", json.dumps(event))
    await redis.aclose()


async def _index_bytes(redis_url: str) -> tuple[int, int]:
    """(bytes of every address-index hash, Redis's used memory)."""
    from orchestrator.store.connection import redis_from_url

    redis = redis_from_url(redis_url)
    total = 0
    batch: list[str] = []
    async for key in redis.scan_iter(match="wo:c:*:a:*", count=5000):
        batch.append(str(key))
        if len(batch) >= 2000:
            total += await _usage(redis, batch)
            batch = []
    total += await _usage(redis, batch)
    used = int((await redis.info("memory"))["used_memory"])
    await redis.aclose()
    return total, used


async def _usage(redis: object, names: list[str]) -> int:
    async with redis.pipeline(transaction=False) as pipe:  # type: ignore[attr-defined]
        for name in names:
            pipe.memory_usage(name, samples=0)
        return sum(int(x or 0) for x in await pipe.execute())


async def _time_traces(redis_url: str, addresses: list[str]) -> list[tuple[float, int]]:
    """(milliseconds, rows found) of `trace()` for each address, on one client as the command uses it."""
    from orchestrator.store.connection import redis_from_url
    from orchestrator.trace import trace

    redis = redis_from_url(redis_url)
    await trace(redis, addresses[0], START + 3600)  # the first call loads the scripts and connects
    out = []
    for address in addresses:
        t0 = time.perf_counter()
        found = await trace(redis, address, START + 3600)
        out.append(((time.perf_counter() - t0) * 1000, len(found.outcomes)))
    await redis.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000, help="data rows in all (default 1,000,000)")
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    args = parser.parse_args()

    from orchestrator.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp, EmbeddedRedis() as server:
        folder = Path(tmp)
        csv_path = folder / "all.csv"
        write_csv(csv_path, args.recipients, 0.002, 0.003, args.seed)
        parts = split(csv_path, args.campaigns, folder, args.seed)
        cids, loaded, submit_s = asyncio.run(_submit_all(server.url, folder, parts))
        rnd = random.Random(args.seed)
        rows = csv_path.read_text(encoding="utf-8").splitlines()[1:]
        known = [r.split(",")[0] for r in rnd.sample(rows, args.lookups)]
        unknown = [f"nobody{i}@example.com" for i in range(max(1, args.lookups // 10))]
        asyncio.run(_mark_accepted(server.url, known))
        index_bytes, used = asyncio.run(_index_bytes(server.url))
        timed = asyncio.run(_time_traces(server.url, known + unknown))
    ms = sorted(t for t, _ in timed)
    found = [n for _, n in timed[: len(known)]]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{loaded:,} recipients loaded in {len(cids)} campaigns ({submit_s:.0f} s of submit), embedded redis-server")
    print(f"{os.cpu_count()} CPUs, load average after the run {load}")
    print(f"{'measure':<40} {'value':>10} {'target':>8}")
    for name, value, target in [
        ("trace() lookups (known + unknown)", f"{len(known)} + {len(unknown)}", ""),
        ("rows found per known address, mean", f"{statistics.mean(found):.2f}", ""),
        ("trace() ms, median", f"{statistics.median(ms):.1f}", ""),
        ("trace() ms, 95th percentile", f"{ms[int(len(ms) * 0.95) - 1]:.1f}", ""),
        ("trace() ms, slowest", f"{ms[-1]:.1f}", "< 100"),
        ("address index bytes per recipient", f"{index_bytes / loaded:.0f}", ""),
        ("Redis bytes per recipient, all", f"{used / loaded:.0f}", ""),
    ]:
        print(f"{name:<40} {value:>10} {target:>8}")
    if args.json:
        figures = {"recipients": loaded, "campaigns": len(cids), "median_ms": statistics.median(ms), "max_ms": ms[-1]}
        args.json.write_text(json.dumps({**figures, "index_bytes_per_recipient": index_bytes / loaded}))


if __name__ == "__main__":
    main()
