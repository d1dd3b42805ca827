"""How the guardrails decide on evidence: how often each trips, and after how many sends.

    python bench/bench_guardrails.py               # 2,000 runs a case
    python bench/bench_guardrails.py --runs 10000 --seed 7

The pause: each run draws one identity's sends at a true event rate and judges the rate after every
send (the worst case for false alarms: the pacer judges far less often), with the default lines,
minimum samples and interval of orchestrator/core/guardrails.py and orchestrator/core/evidence.py
(below a minimum sample, from EARLY_MIN_SAMPLE sends, on the wider EARLY_Z bound). Prints, for each
case of spec/warmup.md section 7, the share of runs that tripped and the median send count at which
they did.

The hold: the warm-up's day roll judges one closed day's sends once, so each case is a day of N
sends at a true rate, and the chance that the roll holds it is the binomial distribution summed over
`judge`'s verdicts: exact, no draw.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics

from orchestrator.core.evidence import EARLY_MIN_SAMPLE, SEVERITY, Level, Line, chance_of, judge
from orchestrator.core.guardrails import default_lines

#: (metric, true rate, sends, the level that should or should not trip, what the spec asks)
CASES: list[tuple[str, float, int, Level, str]] = [
    ("hard_bounce", 0.07, 50_000, "pause", "< 1 in 100 runs"),
    ("hard_bounce", 0.08, 50_000, "pause", "< 1 in 100 runs"),
    ("hard_bounce", 0.12, 5_000, "pause", ">= 99 in 100 runs"),
    ("hard_bounce", 0.20, 1_000, "pause", ">= 99 in 100 runs"),
    ("complaint", 0.0024, 1_000_000, "pause", "< 1 in 100 runs"),
    ("complaint", 0.0036, 166_667, "pause", ">= 99 in 100 runs"),
    ("complaint", 0.0060, 33_333, "pause", ">= 99 in 100 runs"),
    ("complaint", 0.05, 1_000, "pause", "paused before the 2,000-send minimum (days 1-2 of the plan)"),
]


#: (metric, true rate, the day's sends, what the spec asks of a day roll)
DAY_ROLLS: list[tuple[str, float, int, str]] = [
    ("hard_bounce", 0.07, 500, "held"),
    ("hard_bounce", 0.07, 1_000, "held"),
    ("hard_bounce", 0.07, 2_000, "held"),
    ("hard_bounce", 0.08, 1_000, "held"),
    ("hard_bounce", 0.04, 1_000, "advances"),
    ("hard_bounce", 0.04, 5_000, "advances"),
    ("hard_bounce", 0.02, 1_000, "advances"),
    ("complaint", 0.0015, 5_000, "held"),
    ("complaint", 0.0015, 20_000, "held"),
    ("complaint", 0.0005, 2_000, "advances"),
    ("complaint", 0.0005, 20_000, "advances"),
]


def trips(line: Line, count: int, sample: int, level: Level) -> bool:
    return SEVERITY[judge(line, count, sample).level] >= SEVERITY[level]


def first_trip(rng: random.Random, line: Line, rate: float, sends: int, level: Level) -> int | None:
    """The first send count at which `line` reaches `level`, judged after every send, or None.

    Between two events the lower bound only falls, so judging at each event (and where judging
    starts) finds the first trip exactly, without drawing every send.
    """
    n = count = 0
    log_q = math.log(1 - rate)
    # Where judging starts: EARLY_MIN_SAMPLE on overwhelming evidence (EARLY_Z), the minimum sample at z.
    starts = sorted({min(EARLY_MIN_SAMPLE, line.min_sample), line.min_sample})
    while True:
        gap = int(math.log(1 - rng.random()) / log_q) + 1
        for start in starts:
            if count and n < start <= n + gap - 1 and trips(line, count, start, level):
                return start
        n += gap
        if n > sends:
            return None
        count += 1
        if n >= starts[0] and trips(line, count, n, level):
            return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lines = {line.metric: line for line in default_lines()}
    print(f"seed {args.seed}, {args.runs:,} runs a case, judged after every send")
    print(f"{'metric':<12} {'true rate':>9} {'sends':>10} {'level':>6} {'tripped':>8} {'median n':>9}  spec")
    for metric, rate, sends, level, spec in CASES:
        hits = [first_trip(rng, lines[metric], rate, sends, level) for _ in range(args.runs)]
        found = [h for h in hits if h is not None]
        median = f"{statistics.median(found):,.0f}" if found else "-"
        share = f"{100 * len(found) / args.runs:.1f} %"
        print(f"{metric:<12} {100 * rate:>8.2f}% {sends:>10,} {level:>6} {share:>8} {median:>9}  {spec}")
    print("\nday roll: one day's sends judged once (exact)")
    print(f"{'metric':<12} {'true rate':>9} {'day sends':>10} {'held':>8}  spec")
    for metric, rate, sends, spec in DAY_ROLLS:
        held = 100 * chance_of(lines[metric], rate, sends)
        print(f"{metric:<12} {100 * rate:>8.2f}% {sends:>10,} {held:>7.1f}%  {spec}")


if __name__ == "__main__":
    main()
