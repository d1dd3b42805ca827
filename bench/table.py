"""Every benchmark in one run, each figure beside its own ceiling measured in the same run.

    python bench/table.py            # `make bench`: quick sizes, about 5-8 minutes on 2 cores
    python bench/table.py --only pipeline,sdk

Runs each `bench/bench_*.py` script in a child process with `--json`, at sizes that keep the whole
run under 10 minutes here, prints each script's own output as it goes, then one table: figure,
value, ceiling (what the same machine does with nothing of ours in the way, measured in the same
run), the ratio and its target. A figure below its target is marked, with what its own script
measured about where the time went.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    ceiling_name: str  # "" for a figure with a fixed target instead of a ceiling
    ceiling: float
    target: float  # the ratio value / ceiling to reach; with no ceiling, the value itself
    note: str = ""
    lower_is_better: bool = False  # a fixed target the value must stay under (a latency)

    @property
    def ratio(self) -> float:
        return self.value / self.ceiling if self.ceiling else 0.0

    @property
    def meets(self) -> bool:
        if self.ceiling_name:
            return self.ratio >= self.target
        return self.value < self.target if self.lower_is_better else self.value >= self.target

    def cells(self) -> tuple[str, str, str, str]:
        """value, ceiling, ratio and target as the table prints them."""
        value = f"{self.value:,.1f} {self.unit}" if self.value < 10 else f"{self.value:,.0f} {self.unit}"
        if not self.ceiling_name:
            sign = "<" if self.lower_is_better else ">="
            return value, "(a fixed target)", "-", f"{sign} {self.target:,.0f} {self.unit}"
        return value, f"{self.ceiling_name}: {self.ceiling:,.0f}", f"{self.ratio:.0%}", f">= {self.target:.0%}"


def _submit(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"submit, {r['total']:,} rows",
            r["total"] / r["seconds"],
            "rows/s",
            "csv module + pipelined RPUSH of the same rows",
            r["total"] / r["ceiling_s"],
            0.5,
            f"{r['redis_bytes_per_recipient']:.0f} B of Redis a recipient, peak RSS {r['peak_rss_mb']:.0f} MB",
        )
    ]


def _pipeline(r: dict[str, Any]) -> list[Row]:
    n = r["pipeline"]["n"]
    return [
        Row(
            f"pipeline, {n:,} sends, one worker",
            r["pipeline"]["per_s"],
            "sends/s",
            "arq no-op jobs, same worker settings",
            r["noop"]["per_s"],
            0.5,
        )
    ]


def _simulate(r: dict[str, Any]) -> list[Row]:
    parts = r["parts"]
    run_s = max(r["run_s"], 1e-9)
    shares = ", ".join(
        f"{name} {parts.get(key, 0.0) / run_s:.0%}"
        for name, key in (("pacer ticks", "tick"), ("sends in flight", "send"), ("drain incl. sends", "drain"))
    )
    # A drain runs its sends side by side in this one thread: "in flight" is the time with one or more
    # under way, which holds the other jobs' and the emulator's work done meanwhile.
    alone = r["sends"] / max(parts.get("send", 0.0), 1e-9)
    return [
        Row(
            f"simulate, {r['sends']:,} virtual sends",
            r["per_s"],
            "sends/s",
            "TencentSender -> in-process emulator, 1 at a time",
            r["sdk"]["per_s"],
            0.5,
            f"time of the virtual run: {shares}; sends over their time in flight {alone:,.0f}/s"
            f" = {alone / max(r['sdk']['per_s'], 1e-9):.0%} of the ceiling",
        )
    ]


def _callbacks(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"callbacks, {r['events']:,} x {r['rounds']} posted, {r['concurrency']} at once",
            r["callbacks"]["per_s_median"],
            "posts/s",
            "an empty aiohttp handler, same client",
            r["empty"]["per_s_median"],
            0.5,
            f"p99 {r['callbacks']['p99_ms']} ms (empty {r['empty']['p99_ms']} ms)",
        )
    ]


def _sdk(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"TencentSender.send, {s['concurrency']} at once",
            s["per_s"],
            "calls/s",
            "the raw SDK client, keep-alive",
            s["raw_per_s"],
            0.8,
        )
        for s in r["sender"]
    ]


def _export(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"export, {r['rows']:,} rows (csv)",
            r["rows"] / r["seconds"],
            "rows/s",
            "",
            0.0,
            1_000_000 / 30,
            f"1,000,000 rows in under 30 s; peak RSS {r['peak_rss_mb']:.0f} MB, {r['cpu_s']:.1f} CPU s",
        )
    ]


def _trace(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"trace, slowest of the lookups, {r['recipients']:,} recipients in {r['campaigns']} campaigns",
            r["max_ms"],
            "ms",
            "",
            0.0,
            100,
            f"median {r['median_ms']:.1f} ms; address index {r['index_bytes_per_recipient']:.0f} B a recipient",
            lower_is_better=True,
        )
    ]


#: name -> (script, quick arguments, rows of its JSON)
BENCHES: dict[str, tuple[str, list[str], Callable[[dict[str, Any]], list[Row]]]] = {
    "submit": ("bench_submit.py", ["--recipients", "200000"], _submit),
    "pipeline": ("bench_pipeline.py", ["--recipients", "10000"], _pipeline),
    "simulate": ("bench_simulate.py", ["--sample", "0.005", "--sdk-calls", "1000"], _simulate),
    "callbacks": ("bench_callbacks.py", ["--events", "5000", "--rounds", "3"], _callbacks),
    "sdk": ("bench_sdk.py", ["--calls", "500", "--concurrency", "1,10", "--rounds", "3"], _sdk),
    "export": ("bench_export.py", ["--recipients", "200000"], _export),
    "trace": ("bench_trace.py", ["--recipients", "300000", "--campaigns", "6", "--lookups", "200"], _trace),
}


def run_one(name: str, folder: Path) -> list[Row]:
    script, quick, rows = BENCHES[name]
    out = folder / f"{name}.json"
    print(f"\n== {name}: python bench/{script} {' '.join(quick)}", flush=True)
    proc = subprocess.run([sys.executable, str(HERE / script), *quick, "--json", str(out)], check=False)
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"bench/{script} failed (exit {proc.returncode})")
    return rows(json.loads(out.read_text()))


def print_table(rows: list[Row], seconds: float) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"all benchmarks in {seconds:.0f} s; load average after {load}\n")
    print("| figure | value | ceiling, same run | ratio | target |")
    print("| --- | ---: | --- | ---: | ---: |")
    for r in rows:
        value, ceiling, ratio, target = r.cells()
        verdict = "" if r.meets else " **below target**"
        print(f"| {r.figure} | {value} | {ceiling} | {ratio} | {target}{verdict} |")
    notes = [r for r in rows if r.note]
    if notes:
        print()
        for r in notes:
            print(f"- {r.figure}: {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHES)}")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    rows: list[Row] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-table-") as tmp:
        for name in names:
            rows.extend(run_one(name, Path(tmp)))
    print_table(rows, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
