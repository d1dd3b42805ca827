"""`submit` of a large recipient list: seconds, recipients/s, peak RSS, Redis bytes per recipient.

    python bench/bench_submit.py                      # 1,000,000 recipients
    python bench/bench_submit.py --recipients 200000 --profile 25

Writes a CSV (address + first_name, a realistic domain mix, a few bad and repeated rows) and a
campaign YAML to a temporary folder, starts a throwaway redis-server (EmbeddedRedis), then runs
`submit()` in a fresh child interpreter so generating the CSV does not count towards its memory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import io
import itertools
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

#: Where the addresses of a Korean consumer list go, roughly; the rest are small company domains.
DOMAIN_MIX = [
    ("naver.com", 30),
    ("gmail.com", 25),
    ("daum.net", 8),
    ("hanmail.net", 7),
    ("nate.com", 4),
    ("kakao.com", 3),
    ("hotmail.com", 3),
    ("outlook.com", 2),
    ("yahoo.com", 2),
    ("icloud.com", 2),
]
TAIL_SHARE = 14  # percent of addresses at one of TAIL_DOMAINS company domains
TAIL_DOMAINS = 5000
SYLLABLES = ["kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim", "han", "oh", "seo", "shin"]
GIVEN = ["minsu", "jiwoo", "seoyeon", "hyun", "jisoo", "dongwoo", "yuna", "taeyang", "sora", "jun", "ara", "hana"]
NAMES = ["민수", "지우", "서연", "현우", "지수", "동우", "유나", "태양", "소라", "준", "Alex", "Maria", "Chris"]


def write_csv(path: Path, n: int, invalid_share: float, duplicate_share: float, seed: int) -> None:
    """`n` data rows: mostly valid unique addresses, some malformed, some repeats of earlier rows."""
    rnd = random.Random(seed)
    weights = [w for _, w in DOMAIN_MIX] + [TAIL_SHARE]
    names = [d for d, _ in DOMAIN_MIX] + [""]
    picks = rnd.choices(range(len(names)), weights=weights, k=n)
    written: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("email,first_name\n")
        for i, p in enumerate(picks):
            r = rnd.random()
            if r < invalid_share:
                line = f"{rnd.choice(GIVEN)}{i}.at.nowhere,{rnd.choice(NAMES)}"
            elif r < invalid_share + duplicate_share and written:
                line = rnd.choice(written)
            else:
                domain = names[p] or f"corp{rnd.randrange(TAIL_DOMAINS)}.co.kr"
                sep = rnd.choice((".", "_", ""))
                local = f"{rnd.choice(SYLLABLES)}{sep}{rnd.choice(GIVEN)}{i}"
                line = f"{local}@{domain},{rnd.choice(NAMES)}"
                if len(written) < 10000:
                    written.append(line)
            fh.write(line + "\n")


def write_campaign(folder: Path, csv_path: Path) -> Path:
    doc = {
        "name": "bench-submit",
        "mode": "warmup",
        "timezone": "Asia/Seoul",
        "identities": [
            {"id": "bench-a", "from": "Bench <news@a.bench.example.com>"},
            {"id": "bench-b", "from": "Bench <news@b.bench.example.com>"},
            {"id": "bench-c", "from": "Bench <news@c.bench.example.com>"},
        ],
        "template": {"id": 1, "subject": "Hello {{name}}", "data": {"name": {"column": "first_name"}}},
        "recipients": {"file": csv_path.name, "email_column": "email", "shuffle_seed": 42},
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _raw_writes(redis: Any, csv_path: Path) -> float:
    """The ceiling: the same CSV read by the csv module, each row one pipelined RPUSH, nothing checked."""
    t0 = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        next(rows)
        while batch := list(itertools.islice(rows, 10_000)):
            pipe = redis.pipeline(transaction=False)
            for row in batch:
                pipe.rpush("bench:ceiling", ",".join(row))
            await pipe.execute()
    seconds = time.perf_counter() - t0
    await redis.delete("bench:ceiling")
    return seconds


async def _child(campaign_path: Path, redis_url: str, profile_top: int) -> dict[str, Any]:
    from orchestrator.campaign_file import campaign_fingerprint, load_campaign
    from orchestrator.store.connection import redis_from_url
    from orchestrator.submit import submit

    campaign = load_campaign(campaign_path)
    t0 = time.perf_counter()
    fingerprint = campaign_fingerprint(campaign_path)
    fingerprint_s = time.perf_counter() - t0
    redis = redis_from_url(redis_url)
    mem_before = int((await redis.info("memory"))["used_memory"])
    rss_before_kb = _status_kb("VmRSS")
    profiler = cProfile.Profile() if profile_top else None
    t0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    result = await submit(redis, campaign, fingerprint, 1.8e9, "bench", force_new=True)
    if profiler:
        profiler.disable()
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    mem_after = int((await redis.info("memory"))["used_memory"])
    ceiling_s = await _raw_writes(redis, campaign.recipients.file)
    await redis.aclose()
    profile_text = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(profile_top)
        profile_text = out.getvalue()
    s = result.stats
    return {
        "total": s.total,
        "valid": s.valid,
        "invalid": s.invalid,
        "duplicates": s.duplicates,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "fingerprint_s": fingerprint_s,
        "rss_before_mb": rss_before_kb / 1024,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "redis_bytes": mem_after - mem_before,
        "ceiling_s": ceiling_s,
        "profile": profile_text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000, help="data rows in the CSV (default 1,000,000)")
    parser.add_argument("--invalid-share", type=float, default=0.002, help="share of malformed rows (0.002)")
    parser.add_argument("--duplicate-share", type=float, default=0.003, help="share of repeated rows (0.003)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N (cumulative)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (for bench/table.py)")
    parser.add_argument("--child", nargs=2, metavar=("YAML", "REDIS_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(Path(args.child[0]), args.child[1], args.profile))))
        return

    from orchestrator.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "recipients.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, args.recipients, args.invalid_share, args.duplicate_share, args.seed)
        gen_s = time.perf_counter() - t0
        campaign_path = write_campaign(folder, csv_path)
        csv_mb = csv_path.stat().st_size / 1e6
        with EmbeddedRedis() as server:
            cmd = [sys.executable, __file__, "--profile", str(args.profile), "--child", str(campaign_path), server.url]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    r = json.loads(proc.stdout)
    if r["profile"]:
        print(r["profile"])
    per_recipient = r["redis_bytes"] / max(r["valid"], 1)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"submit of {r['total']:,} rows ({csv_mb:.0f} MB CSV written in {gen_s:.1f} s), embedded redis-server")
    print(f"{os.cpu_count()} CPUs, load average after the run {load}")
    print(f"{'measure':<34} {'value':>12} {'target':>10}")
    rows = [
        ("valid / invalid / duplicates", f"{r['valid']:,}/{r['invalid']:,}/{r['duplicates']:,}", ""),
        ("submit() seconds", f"{r['seconds']:.1f}", "< 20"),
        ("  CPU seconds of the child", f"{r['cpu_s']:.1f}", ""),
        ("recipients/s", f"{r['total'] / r['seconds']:,.0f}", ""),
        ("ceiling: csv module + RPUSH, rows/s", f"{r['total'] / r['ceiling_s']:,.0f}", ""),
        ("submit / ceiling", f"{r['ceiling_s'] / r['seconds']:.0%}", ""),
        ("peak RSS of the child, MB", f"{r['peak_rss_mb']:.0f}", "< 300"),
        ("  RSS before submit(), MB", f"{r['rss_before_mb']:.0f}", ""),
        ("  ru_maxrss, MB", f"{r['ru_maxrss_mb']:.0f}", ""),
        ("Redis bytes per valid recipient", f"{per_recipient:.0f}", "< 250"),
        ("fingerprint (sha256 of files), s", f"{r['fingerprint_s']:.2f}", ""),
    ]
    for name, value, target in rows:
        print(f"{name:<34} {value:>12} {target:>10}")
    if args.json:
        figures = {k: v for k, v in r.items() if k != "profile"}
        args.json.write_text(json.dumps({**figures, "redis_bytes_per_recipient": per_recipient}))


if __name__ == "__main__":
    main()
