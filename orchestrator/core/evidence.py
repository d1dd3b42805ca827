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
    """The verdict of `line` on `count` events in `sample` sends, judged on the Wilson interval."""
    low, high = wilson_interval(count, sample, z)
    if sample < max(1, line.min_sample):
        return _early(line, count, sample, max(z, EARLY_Z)) or Verdict(line, "too_few", count, sample, low, high, None)
    checks: tuple[tuple[Level, float | None], ...] = (("pause", line.pause), ("hold", line.hold), ("warn", line.warn))
    for level, threshold in checks:
        if threshold is None:
            continue
        crossed = high < threshold if line.low_is_bad else low > threshold
        if crossed:
            return Verdict(line, level, count, sample, low, high, threshold)
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


def worst(verdicts: list[Verdict]) -> Verdict | None:
    """The most severe verdict (the first of equals), or None when there is none."""
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: SEVERITY[v.level])
