"""What `submit` pays to look a list's addresses up in the unfinished campaigns (submit_overlap.py).

    python bench/bench_overlap.py                        # 100,000 rows against 0, 1 and 3 unfinished campaigns
    python bench/bench_overlap.py --recipients 1000000

Writes one recipient CSV a campaign (bench/bench_submit.py's domain mix, each file its own addresses,
so nothing overlaps and every list is taken), submits the first ones into a throwaway redis-server
(EmbeddedRedis) and leaves them running, then times `submit()` of a fresh list against 0, 1 and 3
of them, and with `--new` (which looks nothing up) against 3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_submit import write_campaign, write_csv

START = 1.8e9


def _campaign(folder: Path, k: int, rows: int) -> Path:
    """Campaign file k with its own list (another seed: other addresses) in its own folder."""
    sub = folder / f"c{k}"
    sub.mkdir()
    csv_path = sub / "list.csv"
    write_csv(csv_path, rows, 0.0, 0.0, seed=1000 + k)
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    csv_path.write_text("\n".join([lines[0]] + [f"c{k}.{line}" for line in lines[1:]]) + "\n", encoding="utf-8")
    return write_campaign(sub, csv_path)


async def _submit(redis_url: str, path: Path, force_new: bool = False) -> float:
    from orchestrator.campaign_file import campaign_fingerprint, load_campaign
    from orchestrator.store.connection import redis_from_url
    from orchestrator.submit import submit

    redis = redis_from_url(redis_url)
    try:
        t0 = time.perf_counter()
        await submit(redis, load_campaign(path), campaign_fingerprint(path), START, "bench", force_new=force_new)
        return time.perf_counter() - t0
    finally:
        await redis.aclose()


async def run(rows: int, folder: Path) -> list[tuple[str, float]]:
    from orchestrator.embedded import EmbeddedRedis

    files = [_campaign(folder, k, rows) for k in range(7)]
    out: list[tuple[str, float]] = []
    with EmbeddedRedis() as server:
        out.append(("submit, no campaign unfinished", await _submit(server.url, files[0])))
        out.append(("submit, 1 campaign unfinished", await _submit(server.url, files[1])))
        await _submit(server.url, files[2])  # now 3 unfinished before the next
        out.append(("submit, 3 campaigns unfinished", await _submit(server.url, files[3])))
        out.append(("submit --new, 4 campaigns unfinished", await _submit(server.url, files[4], force_new=True)))
        out.append(("submit, 5 campaigns unfinished", await _submit(server.url, files[5])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000, help="rows of each list (default 100,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overlap-") as tmp:
        figures = asyncio.run(run(args.recipients, Path(tmp)))
    print(f"submit of {args.recipients:,} rows against the unfinished campaigns' address indexes")
    print(f"{os.cpu_count()} CPUs, load average after the run {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'measure':<40}{'seconds':>10}")
    for name, seconds in figures:
        print(f"{name:<40}{seconds:>10.2f}")


if __name__ == "__main__":
    main()
