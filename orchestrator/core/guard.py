"""Guardrail decisions: one identity's quality figures and the campaign's lines -> pause, hold or warn.

Pure (spec/warmup.md section 7): the pacer's guard (orchestrator/guarding.py) acts on the result,
`status` shows it. A verdict is judged on the Wilson interval (core/evidence.py) from the line's
minimum sample (before it, a ceiling acts only on overwhelming evidence), so one early event cannot
trip it; complaints on their current and their settled window, the worse verdict standing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.core.evidence import Verdict, judge, worst
from orchestrator.core.quality import Quality


@dataclass(frozen=True, slots=True)
class IdentityGuard:
    """What the guardrails say of one identity: each metric's verdict, and the actions they call for."""

    identity: str
    verdicts: dict[str, Verdict]

    def _at(self, level: str) -> list[Verdict]:
        return [v for v in self.verdicts.values() if v.level == level]

    @property
    def pause(self) -> Verdict | None:
        """The first verdict past a pause line: the campaign pauses itself."""
        found = self._at("pause")
        return found[0] if found else None

    @property
    def holds(self) -> list[Verdict]:
        """Verdicts past a hold line (a pause also holds): the warm-up day does not advance."""
        return self._at("pause") + self._at("hold")

    @property
    def warnings(self) -> list[Verdict]:
        """Verdicts the progress log warns of: past a warn line, or past the hold line of a metric with no
        pause line (marketing opens: "hold" and "- (warn)" in spec/warmup.md section 7's table)."""
        return self._at("warn") + [v for v in self._at("hold") if v.line.pause is None]

    def reason(self) -> str:
        """Why the identity is held, in one line; "" when it is not."""
        return "; ".join(v.reason(self.identity) for v in self.holds)

    def as_json(self) -> dict[str, Any]:
        return {
            "metrics": {m: verdict_json(v) for m, v in self.verdicts.items()},
            "held": bool(self.holds),
            "held_because": self.reason() or None,
        }


def verdict_json(v: Verdict) -> dict[str, Any]:
    """One verdict for `status --json`: level, rate, the bound compared, sample and the lines."""
    rate = v.rate
    bound = v.high if v.line.low_is_bad else v.low
    return {
        "level": v.level,
        "rate": None if rate is None else round(rate, 6),
        "bound": round(bound, 6),
        "sample": v.sample,
        "count": v.count,
        "line": v.threshold,
        "lines": {"hold": v.line.hold, "pause": v.line.pause, "warn": v.line.warn},
        "min_sample": v.line.min_sample,
    }


def decide(identity: str, q: Quality) -> IdentityGuard:
    """The verdict of each metric with a guardrail line on one identity's quality figures.

    A floor (opens) is judged only while Tencent's events come in (a delivery was counted in the
    window): without an event feed (no callbacks, no follow-up) no open is ever counted, and a zero
    that only means "not told" must not hold the warm-up.
    """
    delivered = q.metrics.get("delivered")
    fed = delivered is None or delivered.count > 0
    verdicts = {}
    for metric, fig in q.metrics.items():
        if fig.line is None:
            continue
        sample = fig.sample if fed or not fig.line.low_is_bad else 0
        verdict = judge(fig.line, min(fig.count, sample), sample, fig.z)
        late = q.settled.get(metric)
        if late is not None and late.line is not None:  # the worse of the current and the settled window
            settled = judge(late.line, min(late.count, late.sample), late.sample, late.z)
            verdict = worst([verdict, settled]) or verdict
        verdicts[metric] = verdict
    return IdentityGuard(identity, verdicts)


def event_data(v: Verdict) -> dict[str, Any]:
    """The fields of a `day_held` or `guardrail_warning` event: metric, value, threshold, sample."""
    rate = v.rate
    return {
        "metric": v.line.metric,
        "value": None if rate is None else round(rate, 6),
        "threshold": v.threshold,
        "sample": v.sample,
        "reason": v.reason(),
    }
