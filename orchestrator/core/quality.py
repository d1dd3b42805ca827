"""Delivery quality: Tencent's events as metrics, their rates over send-time cohorts, and the guardrail flags.

Accounting (one owner: this module; the Lua in store/lua/callback.lua follows it):
- every event is counted in the hour bucket of its mail's SEND time (its cohort), so a rate is a
  count over the `accepted` of the same cohorts (opens and clicks: over the `delivered`);
- each metric counts at most once per message (a message is delivered once, opened once, ...);
- the window is the cohorts sent in the last `window_s` (24 h by default); opens and clicks arrive
  late, so their rates use the `window_s` of whole hours of sends at least `window_s` old (spec/
  warmup.md section 7), and complaints are judged on both windows (SETTLING_LATE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.core.evidence import DEFAULT_Z, Line, judge
from orchestrator.core.guardrails import default_lines

#: The metrics, in the order they are shown; `accepted` is their denominator, `delivered` that of the late ones.
METRICS: Final = (
    "delivered",
    "deferred",
    "dropped",
    "hard_bounce",
    "soft_bounce",
    "complaint",
    "unsubscribe",
    "open",
    "click",
)
ACCEPTED: Final = "accepted"
#: Tencent's event names (spec/tencent-ses.md "Event callbacks") -> metric; `bounce` splits by bounceType.
EVENT_METRIC: Final = {
    "delivered": "delivered",
    "deferred": "deferred",
    "dropped": "dropped",
    "open": "open",
    "click": "click",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
}
EVENTS: Final = (*EVENT_METRIC, "bounce")
#: Metrics that settle a message's delivery: the follow-up stops asking about it.
SETTLING: Final = frozenset({"delivered", "dropped", "hard_bounce", "soft_bounce"})
#: Metrics that suppress the address: (suppression scope, source written with it).
SUPPRESSING: Final = {"unsubscribe": "domain", "complaint": "all", "hard_bounce": "all"}
#: Metrics that are judged only on sends old enough for them to have arrived.
LATE: Final = frozenset({"open", "click"})
#: Metrics judged at once on the current window (a lower bound while their events still arrive: a
#: complaint comes minutes to a day after its mail) and again on the settled window of sends a day
#: old, where every event has had its time: the worse verdict of the two stands.
SETTLING_LATE: Final = frozenset({"complaint"})
HOUR_S: Final = 3600
WINDOW_S: Final = 86_400
#: Opens and settled complaints are judged only on sends at least this old (spec section 7).
SETTLE_S: Final = 86_400
#: The guardrail lines (core/guardrails.py owns them; a campaign file may change them) by metric.
DEFAULT_LINES: Final = {line.metric: line for line in default_lines()}
#: The delivery follow-up (workers/followup.py): a send with no delivery event this long after it is
#: looked up with GetSendEmailStatus (FOLLOWUP_AFTER_S; 0 turns it off), again every RECHECK while
#: Tencent still has it queued or deferred, and no more once GIVE_UP has passed (Tencent tries 72 h).
FOLLOWUP_AFTER_S: Final = 6 * 3600.0
FOLLOWUP_RECHECK_S: Final = 6 * 3600.0
FOLLOWUP_GIVE_UP_S: Final = 78 * 3600.0
#: Verdict levels (core/evidence.py) that put no flag on a figure.
QUIET: Final = frozenset({"ok", "too_few"})


def metric_of(event: str, bounce_type: str) -> str | None:
    """The metric an event counts in; None for an event name Tencent does not send."""
    if event == "bounce":
        # A bounce without a type is counted soft: it neither suppresses nor pauses on a guess.
        return "hard_bounce" if bounce_type == "hard_bounce" else "soft_bounce"
    return EVENT_METRIC.get(event)


def hour_of(ts: float) -> int:
    """The cohort (hour bucket, hours since the epoch) of a send at `ts`."""
    return math.floor(ts / HOUR_S)


def window_hours(now: float, metric: str, window_s: int = WINDOW_S) -> range:
    """The cohorts a metric's rolling rate reads: the last `window_s`; for a late metric the `window_s`
    of whole hours whose every send is at least `window_s` old, and never less than a day (the current
    hour's cohort minus that age holds sends up to an hour younger, so it is left out too)."""
    last = hour_of(now)
    hours = window_s // HOUR_S
    if metric in LATE:
        last -= max(hours, SETTLE_S // HOUR_S) + 1
    return range(last - hours + 1, last + 1)


def quality_hours(now: float, window_s: int = WINDOW_S) -> range:
    """Every cohort `quality` reads at `now`: the late metrics' window and the current one."""
    late, current = window_hours(now, "open", window_s), window_hours(now, ACCEPTED, window_s)
    return range(late.start, current.stop)


@dataclass(frozen=True, slots=True)
class Figure:
    """One metric over its window: count, sample (accepted of the same cohorts; delivered for opens and
    clicks), rate and its guardrail line."""

    count: int
    sample: int
    line: Line | None = None
    z: float = DEFAULT_Z

    @property
    def rate(self) -> float | None:
        return self.count / self.sample if self.sample else None

    def flag(self) -> str | None:
        """ "pause", "hold" or "warn" when the line's verdict (core/evidence.py) says so, else None."""
        if self.line is None:
            return None
        level = judge(self.line, min(self.count, self.sample), self.sample, self.z).level
        return None if level in QUIET else level

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "count": self.count,
            "sample": self.sample,
            "rate": None if rate is None else round(rate, 6),
            "hold": self.line.hold if self.line else None,
            "pause": self.line.pause if self.line else None,
        }


def window_sums(buckets: Mapping[int, Mapping[str, int]], hours: range) -> dict[str, int]:
    """Every metric's count (and `accepted`) over the cohorts `hours`, in one pass over the buckets."""
    out: dict[str, int] = {}
    for h in hours:
        for metric, n in buckets.get(h, {}).items():
            out[metric] = out.get(metric, 0) + n
    return out


@dataclass(frozen=True, slots=True)
class Quality:
    """The quality of one subject (identity or campaign) over the rolling window."""

    window_s: int
    accepted: int
    metrics: dict[str, Figure]
    #: SETTLING_LATE metrics over the late window: sends a day old or more, every event arrived.
    settled: dict[str, Figure] = field(default_factory=dict)

    def flags(self) -> dict[str, str]:
        """Metric -> "hold" or "pause", for the metrics past a guardrail (on either of their windows)."""
        out = {m: f for m, fig in self.metrics.items() if (f := fig.flag()) is not None}
        for m, fig in self.settled.items():
            f = fig.flag()
            if f is not None and (m not in out or out[m] == "hold"):
                out[m] = f
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "accepted": self.accepted,
            "metrics": {m: f.as_json() for m, f in self.metrics.items()},
            "settled": {m: f.as_json() for m, f in self.settled.items()},
        }


def quality(
    buckets: Mapping[int, Mapping[str, int]],
    now: float,
    window_s: int = WINDOW_S,
    lines: Mapping[str, Line] = DEFAULT_LINES,
    z: float = DEFAULT_Z,
) -> Quality:
    """The figures of one subject from its hour buckets (cohort hour -> metric -> count) at `now`.

    There are two windows (`window_hours`): the late metrics' and every other metric's; each is
    summed once and every metric read from its sums (the pacer judges every identity each minute).
    """
    current = window_sums(buckets, window_hours(now, ACCEPTED, window_s))
    late = window_sums(buckets, window_hours(now, "open", window_s))
    figures: dict[str, Figure] = {}
    for metric in METRICS:
        if metric in LATE:  # opens and clicks per mail delivered (a bounce is judged on its own line)
            figures[metric] = Figure(late.get(metric, 0), late.get("delivered", 0), lines.get(metric), z)
        else:  # per mail Tencent accepted
            figures[metric] = Figure(current.get(metric, 0), current.get(ACCEPTED, 0), lines.get(metric), z)
    settled = {m: Figure(late.get(m, 0), late.get(ACCEPTED, 0), lines.get(m), z) for m in sorted(SETTLING_LATE)}
    return Quality(window_s, current.get(ACCEPTED, 0), figures, settled)


def summary_line(q: Quality, levels: Mapping[str, str]) -> str:
    """One short line: the main rates with their samples, and any guardrail flag. `levels`: the guardrail
    verdicts' levels by metric (core/guard.py, as the pacer judges them: after an acknowledged pause only
    the later sends), which `status` flags."""
    flags = {m: level for m, level in levels.items() if level not in QUIET}
    parts = [f"{q.window_s // HOUR_S}h accepted {q.accepted:,}"]
    if q.accepted and not any(f.count for f in (*q.metrics.values(), *q.settled.values())):
        # Not "dlv 0.0%": no delivery, bounce or complaint event has come back yet (callbacks, follow-up).
        return "  ".join(parts + ["no Tencent event yet"] + [f"{v.upper()}:{m}" for m, v in sorted(flags.items())])
    for metric, label in (("delivered", "dlv"), ("hard_bounce", "hard"), ("complaint", "compl"), ("open", "open")):
        f = q.metrics[metric]
        rate = "-" if f.rate is None else f"{100 * f.rate:.1f}%"
        parts.append(f"{label} {rate} (n={f.sample:,})")
    return "  ".join(parts + [f"{v.upper()}:{m}" for m, v in sorted(flags.items())])
