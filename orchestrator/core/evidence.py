"""Rates judged on evidence: the Wilson score interval of a count in a sample, and a verdict against a line.

A rate from a small sample swings (spec/warmup.md section 7): comparing the raw rate with a
threshold trips healthy senders by chance, and waiting for a large fixed sample lets a bad one do
its damage first. A guardrail therefore acts when the whole confidence interval is on the wrong
side of its line: the *lower* bound above a ceiling (bounces, complaints), the *upper* bound below
a floor (opens). `bench/bench_guardrails.py` measures what the defaults give when a rate is checked
again and again as the sample grows (docs/benchmarks.md, "Guardrails").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: The interval's width in standard errors (one-sided about 99.4 %). With the minimum samples of
#: core/guardrails.py it pauses an identity at 12 % hard bounces within 5,000 sends in 99 runs in
#: 100, and one at 8 % in about 1 run in 1,000, even when judged after every send.
DEFAULT_Z = 2.5

#: The width the hold and warn lines are judged at (at most the campaign's `confidence_z`): one-sided
#: about 84 %. A hold costs a day at the same step, not a pause for the operator, and the warm-up's day
#: roll judges one day's sends once: at the default 2.5 an identity at 7 % hard bounces was held at a
#: day of 1,000 sends in 61 % of runs, at 1.0 in 96 %, while one at 4 % is held in fewer than 1 in 100
#: (spec/warmup.md section 7: "an identity at 7-8 % hard bounces is held"; docs/benchmarks.md).
HOLD_Z = 1.0

#: Below a ceiling's minimum sample, overwhelming evidence still acts: the lower bound at this width
#: (one-sided about 1 in 300,000) above the pause or hold line. A sender at 5 % complaints is paused
#: within some 200 sends instead of running through the first days under the 2,000-send minimum.
EARLY_Z = 4.5
#: ... on no fewer sends than this, and no fewer events: for a rare event (complaints at 0.2 %) a
#: bound on two or three of them is loose whatever its width, ten are not (bench/bench_guardrails.py).
EARLY_MIN_SAMPLE = 50
EARLY_MIN_EVENTS = 10

Level = Literal["ok", "too_few", "warn", "hold", "pause"]
SEVERITY: dict[Level, int] = {"ok": 0, "too_few": 0, "warn": 1, "hold": 2, "pause": 3}


def wilson_interval(count: int, sample: int, z: float = DEFAULT_Z) -> tuple[float, float]:
    """The Wilson score interval of `count` successes in `sample` trials; (0, 1) for no sample."""
    if sample <= 0:
        return 0.0, 1.0
    if not 0 <= count <= sample:
        msg = f"count {count} outside a sample of {sample}"
        raise ValueError(msg)
    p = count / sample
    z2 = z * z
    centre = p + z2 / (2 * sample)
    spread = z * math.sqrt(p * (1 - p) / sample + z2 / (4 * sample * sample))
    scale = 1 + z2 / sample
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


@dataclass(frozen=True, slots=True)
class Line:
    """One guardrail: a metric's hold and pause lines (fractions), which side is bad, its minimum sample."""

    metric: str
    hold: float | None = None
    pause: float | None = None
    warn: float | None = None
    low_is_bad: bool = False  # opens: too few is the trouble
    min_sample: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a line says of one count in one sample."""

    line: Line
    level: Level
    count: int
    sample: int
    low: float
    high: float
    threshold: float | None  # the line crossed, if any

    @property
    def rate(self) -> float | None:
        return self.count / self.sample if self.sample else None

    def reason(self, who: str = "") -> str:
        """One line for events, `status` and the pause reason: metric, rate, bound, line and sample."""
        rate = self.rate
        shown = "no sample" if rate is None else f"{100 * rate:.2f} %"
        place = f" on {who}" if who else ""
        if self.threshold is None:
            return f"{self.line.metric}{place}: {shown} of {self.sample:,} ({self.level})"
        side, bound = ("upper bound", self.high) if self.line.low_is_bad else ("lower bound", self.low)
        relation = "below" if self.line.low_is_bad else "above"
        return (
            f"{self.line.metric}{place}: {shown} of {self.sample:,} sends, {side} {100 * bound:.2f} % "
            f"{relation} the {self.level} line {100 * self.threshold:g} %"
        )


def judge(line: Line, count: int, sample: int, z: float = DEFAULT_Z) -> Verdict:
    """The verdict of `line` on `count` events in `sample` sends, judged on the Wilson interval: at `z`
    for the pause line, at `min(z, HOLD_Z)` for the hold and warn lines."""
    low, high = wilson_interval(count, sample, z)
    if sample < max(1, line.min_sample):
        return _early(line, count, sample, max(z, EARLY_Z)) or Verdict(line, "too_few", count, sample, low, high, None)
    narrow = wilson_interval(count, sample, min(z, HOLD_Z))
    checks: tuple[tuple[Level, float | None, tuple[float, float]], ...] = (
        ("pause", line.pause, (low, high)),
        ("hold", line.hold, narrow),
        ("warn", line.warn, narrow),
    )
    for level, threshold, (lo, hi) in checks:
        if threshold is not None and (hi < threshold if line.low_is_bad else lo > threshold):
            return Verdict(line, level, count, sample, lo, hi, threshold)
    return Verdict(line, "ok", count, sample, low, high, None)


def _early(line: Line, count: int, sample: int, z: float) -> Verdict | None:
    """A ceiling's verdict before its minimum sample: pause or hold on a lower bound at `z` (EARLY_Z) past
    the line, else None. A floor (opens) waits for its sample: few sends say little of who opens."""
    if line.low_is_bad or sample < EARLY_MIN_SAMPLE or count < EARLY_MIN_EVENTS:
        return None
    low, high = wilson_interval(count, sample, z)
    for level, threshold in (("pause", line.pause), ("hold", line.hold)):
        if threshold is not None and low > threshold:
            return Verdict(line, level, count, sample, low, high, threshold)  # type: ignore[arg-type]
    return None


def chance_of(line: Line, rate: float, sends: int, level: Level = "hold", z: float = DEFAULT_Z) -> float:
    """The chance that `sends` at a true event `rate`, judged once (as the day roll judges a closed day),
    get a verdict of `level` or worse: the binomial distribution summed over `judge`'s verdicts."""
    if rate <= 0 or rate >= 1:
        return float(SEVERITY[judge(line, round(rate * sends), sends, z).level] >= SEVERITY[level])
    log_r, log_q, whole = math.log(rate), math.log1p(-rate), math.lgamma(sends + 1)
    total = 0.0
    for count in range(sends + 1):
        if SEVERITY[judge(line, count, sends, z).level] >= SEVERITY[level]:
            log_p = whole - math.lgamma(count + 1) - math.lgamma(sends - count + 1)
            total += math.exp(log_p + count * log_r + (sends - count) * log_q)
    return total


def worst(verdicts: list[Verdict]) -> Verdict | None:
    """The most severe verdict (the first of equals), or None when there is none."""
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: SEVERITY[v.level])
