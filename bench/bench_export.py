"""`export CAMPAIGN` of 1,000,000 rows: seconds, rows/s and the exporting process's peak memory.

    python bench/bench_export.py                      # 1,000,000 rows, CSV
    python bench/bench_export.py --recipients 200000 --format jsonl

Writes a recipient CSV as bench/bench_submit.py does (a few bad and repeated rows), submits it with
`submit()` into a throwaway redis-server (EmbeddedRedis), marks every loaded recipient accepted with a
MessageId (a tenth of them retried once first) and gives `--delivered` of them a delivered event,
then runs the export in a fresh child interpreter writing to a file, so its memory is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_submit import write_campaign, write_csv

START = 1.8e9


async def _prepare(redis_url: str, campaign_path: Path, delivered: float) -> tuple[str, int]:
    """Submit, then every recipient accepted (MessageId map, some with a retry first, some delivered)."""
    from orchestrator.campaign_file import campaign_fingerprint, load_campaign
    from orchestrator.store import keys
    from orchestrator.store.connection import redis_from_url
    from orchestrator.store.feedback import message_value
    from orchestrator.submit import submit

    redis = redis_from_url(redis_url)
    campaign = load_campaign(campaign_path)
    result = await submit(redis, campaign, campaign_fingerprint(campaign_path), START, "bench", force_new=True)
    cid, valid = result.campaign_id, result.stats.valid
    ck = keys.CampaignKeys(cid)
    every = max(1, round(1 / delivered)) if delivered else 0
    for start in range(0, valid, keys.BUCKET * 50):
        async with redis.pipeline(transaction=False) as pipe:
            for b in range(start, min(valid, start + keys.BUCKET * 50), keys.BUCKET):
                idxs = range(b, min(valid, b + keys.BUCKET))
                pipe.hset(ck.state(b), mapping={str(i): f"a|m{i}" for i in idxs})
                pipe.hset(
                    keys.MESSAGE_IDS, mapping={f"m{i}": message_value(cid, i, "bench-a", START + i) for i in idxs}
                )
                retried = {str(i): _retried(i) for i in idxs if i % 10 == 0}
                if retried:
                    pipe.hset(keys.history_bucket(cid, b), mapping=retried)
                for i in idxs:
                    if every and i % every == 0:
                        event = {"bulkId": f"m{i}", "event": "delivered", "timestamp": int(START) + i, "email": "x@y.z"}
                        pipe.hset(keys.fb_message(f"m{i}"), f"delivered||{int(START) + i}", json.dumps(event))
            await pipe.execute()
    await redis.aclose()
    return cid, result.stats.total


def _retried(i: int) -> str:
    first = "\x1f".join([repr(START + i - 60), "bench-a", "retry", "FailedOperation.FrequencyLimit", "1", ""])
    second = "\x1f".join([repr(START + i), "bench-a", "accepted", f"m{i}", "2", ""])
    return first + "\x1e" + second


async def _sample_rss(samples: list[int]) -> None:
    """VmRSS every half second while the export runs: flat means bounded."""
    while True:
        samples.append(_status_kb("VmRSS"))
        await asyncio.sleep(0.5)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _child(cid: str, redis_url: str, fmt: str, out: Path) -> dict[str, Any]:
    from orchestrator import export
    from orchestrator.store.connection import redis_from_url

    redis = redis_from_url(redis_url)
    samples: list[int] = []
    sampler = asyncio.create_task(_sample_rss(samples))
    t0, cpu0 = time.perf_counter(), time.process_time()
    n = await export.write_file(out, lambda fh: export.write(redis, cid, fmt, fh))
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    sampler.cancel()
    await redis.aclose()
    return {
        "rss_mb_first_last_max": [samples[0] / 1024, samples[-1] / 1024, max(samples) / 1024] if samples else [],
        "rows": n,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,  # ru_maxrss would carry the parent's peak across exec
        "bytes": out.stat().st_size,  # noqa: ASYNC240 -- once, after the export
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000, help="data rows in the CSV (default 1,000,000)")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--delivered", type=float, default=0.5, help="share of recipients with a delivered event")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    parser.add_argument("--child", nargs=4, metavar=("CID", "REDIS_URL", "FORMAT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cid, url, fmt, out = args.child
        print(json.dumps(asyncio.run(_child(cid, url, fmt, Path(out)))))
        return

    from orchestrator.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp, EmbeddedRedis() as server:
        folder = Path(tmp)
        csv_path = folder / "recipients.csv"
        write_csv(csv_path, args.recipients, 0.002, 0.003, args.seed)
        t0 = time.perf_counter()
        cid, total = asyncio.run(_prepare(server.url, write_campaign(folder, csv_path), args.delivered))
        prepare_s = time.perf_counter() - t0
        out = folder / f"export.{args.format}"
        cmd = [sys.executable, __file__, "--child", cid, server.url, args.format, str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    r = json.loads(proc.stdout)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"export of {total:,} data rows ({prepare_s:.0f} s to submit and mark them), embedded redis-server")
    print(f"{os.cpu_count()} CPUs, load average after the run {load}")
    print(f"{'measure':<34} {'value':>12} {'target':>10}")
    for name, value, target in [
        ("rows written", f"{r['rows']:,}", f"{total:,}"),
        (f"export seconds ({args.format})", f"{r['seconds']:.1f}", "< 30"),
        ("  CPU seconds of the child", f"{r['cpu_s']:.1f}", ""),
        ("rows/s", f"{r['rows'] / r['seconds']:,.0f}", ""),
        ("peak RSS of the child, MB", f"{r['peak_rss_mb']:.0f}", ""),
        ("  RSS while exporting: first/last/max", "/".join(f"{x:.0f}" for x in r["rss_mb_first_last_max"]), ""),
        ("file size, MB", f"{r['bytes'] / 1e6:.0f}", ""),
    ]:
        print(f"{name:<34} {value:>12} {target:>10}")
    if args.json:
        args.json.write_text(json.dumps({**r, "total": total}))


if __name__ == "__main__":
    main()
