"""The guardrail decision (core/guard.py): quality figures and lines -> pause, hold, warn."""

from __future__ import annotations

import pytest

from orchestrator.core.guard import decide, event_data
from orchestrator.core.guardrails import GuardrailsSpec
from orchestrator.core.quality import quality

NOW = 1_000 * 3600.0  # an hour boundary: the current cohort is hour 1000
HOUR = 999  # a cohort an hour old: inside the bounce window, not the open window
OLD = 999 - 24  # a cohort a day old: inside the open window


def figures(content: str, **counts: tuple[int, int]) -> dict[str, str]:
    """Metric -> verdict level for `counts` (metric -> (count, sample)) in one cohort: the sample is the
    accepted sends, for opens the delivered ones (a day-old cohort)."""
    buckets: dict[int, dict[str, int]] = {}
    for metric, (count, sample) in counts.items():
        hour = OLD if metric == "open" else HOUR
        buckets.setdefault(hour, {})[metric] = count
        buckets[hour]["accepted"] = max(buckets[hour].get("accepted", 0), sample)
        if metric == "open":
            buckets[hour]["delivered"] = sample
    buckets.setdefault(HOUR, {}).setdefault("delivered", 1)  # the event feed works
    buckets[HOUR].setdefault("accepted", 1)
    spec = GuardrailsSpec()
    lines = {line.metric: line for line in spec.lines(content)}  # type: ignore[arg-type]
    guard = decide("id1", quality(buckets, NOW, 86_400, lines, spec.confidence_z))
    return {m: v.level for m, v in guard.verdicts.items()}


@pytest.mark.parametrize(
    ("content", "counts", "expected"),
    [
        pytest.param("marketing", {"hard_bounce": (0, 0)}, {"hard_bounce": "too_few"}, id="no-sample"),
        pytest.param("marketing", {"hard_bounce": (20, 199)}, {"hard_bounce": "too_few"}, id="below-min-sample"),
        pytest.param("marketing", {"hard_bounce": (60, 199)}, {"hard_bounce": "pause"}, id="overwhelming-early"),
        pytest.param("marketing", {"complaint": (10, 200)}, {"complaint": "pause"}, id="complaints-5pc-early"),
        pytest.param("marketing", {"hard_bounce": (10, 1000)}, {"hard_bounce": "ok"}, id="bounce-1pc-ok"),
        pytest.param("marketing", {"hard_bounce": (55, 1000)}, {"hard_bounce": "ok"}, id="bounce-5.5pc-1000-not-sure"),
        pytest.param("marketing", {"hard_bounce": (60, 1000)}, {"hard_bounce": "hold"}, id="bounce-6pc-1000-hold"),
        pytest.param("marketing", {"hard_bounce": (700, 10000)}, {"hard_bounce": "hold"}, id="bounce-7pc-10000-hold"),
        pytest.param("marketing", {"hard_bounce": (120, 600)}, {"hard_bounce": "pause"}, id="bounce-20pc-pause"),
        pytest.param("marketing", {"complaint": (5, 1999)}, {"complaint": "too_few"}, id="complaint-min-sample"),
        pytest.param("marketing", {"complaint": (30, 4000)}, {"complaint": "pause"}, id="complaint-0.75pc-pause"),
        pytest.param("marketing", {"complaint": (60, 20000)}, {"complaint": "hold"}, id="complaint-0.3pc-hold"),
        pytest.param("marketing", {"open": (60, 400)}, {"open": "hold"}, id="marketing-open-15pc-hold"),
        pytest.param("marketing", {"open": (300, 400)}, {"open": "ok"}, id="marketing-open-75pc-ok"),
        pytest.param("signup", {"open": (200, 400)}, {"open": "warn"}, id="signup-open-50pc-warn"),
        pytest.param("signup", {"open": (390, 400)}, {"open": "ok"}, id="signup-open-97pc-ok"),
    ],
)
def test_decide_levels(content: str, counts: dict[str, tuple[int, int]], expected: dict[str, str]) -> None:
    """Each metric's verdict follows its line, its minimum sample and its side (opens: too few is bad)."""
    levels = figures(content, **counts)
    assert {m: levels[m] for m in expected} == expected


def test_decide_actions_and_reason() -> None:
    """A pause verdict pauses and also holds; a hold verdict holds; the reason names metric, line and identity."""
    buckets = {HOUR: {"accepted": 1000, "hard_bounce": 200, "complaint": 0}}
    guard = decide("id1", quality(buckets, NOW))
    assert guard.pause is not None
    assert guard.pause.line.metric == "hard_bounce"
    assert [v.line.metric for v in guard.holds] == ["hard_bounce"]
    assert guard.reason() == (
        "hard_bounce on id1: 20.00 % of 1,000 sends, lower bound 17.03 % above the pause line 10 %"
    )
    data = event_data(guard.pause)
    assert data["metric"] == "hard_bounce"
    assert (data["value"], data["threshold"], data["sample"]) == (0.2, 0.1, 1000)
    as_json = guard.as_json()
    assert as_json["held"] is True
    assert as_json["metrics"]["hard_bounce"]["level"] == "pause"
    assert as_json["metrics"]["hard_bounce"]["line"] == 0.1


def test_decide_clean_identity_has_no_action() -> None:
    """A clean identity is neither paused, held nor warned."""
    guard = decide("id2", quality({HOUR: {"accepted": 5000, "hard_bounce": 20}}, NOW))
    assert guard.pause is None
    assert guard.holds == []
    assert guard.warnings == []
    assert guard.as_json()["held"] is False


def test_decide_opens_not_judged_without_event_feed() -> None:
    """With no delivery event in the window (no callbacks, no follow-up), a zero open rate holds nothing."""
    unfed = {OLD: {"accepted": 400}, HOUR: {"accepted": 400}}
    guard = decide("id1", quality(unfed, NOW))
    assert guard.verdicts["open"].level == "too_few"
    assert guard.holds == []
    fed = {OLD: {"accepted": 400, "delivered": 390}, HOUR: {"accepted": 400, "delivered": 390}}
    assert decide("id1", quality(fed, NOW)).verdicts["open"].level == "hold"


def test_opens_are_judged_per_delivered_mail() -> None:
    """52.9 % of the mail delivered opened, 10 % of it bounced: not held (47.6 % of the accepted would be)."""
    cohort = {"accepted": 6000, "delivered": 5400, "open": 2857}
    verdict = decide("id1", quality({OLD: cohort, HOUR: {"accepted": 1, "delivered": 1}}, NOW)).verdicts["open"]
    assert (verdict.level, verdict.sample) == ("ok", 5400)


def test_complaints_are_judged_again_once_every_complaint_has_arrived() -> None:
    """A steady sender at 0.5 % complaints: in the last day's sends only about half their complaints are in
    yet (0.25 %, under the pause line); the sends a day old show all of them: the campaign pauses."""
    recent = {h: {"accepted": 1000, "complaint": 2 + (h % 2), "delivered": 990} for h in range(HOUR - 22, HOUR + 1)}
    settled = {h: {"accepted": 1000, "complaint": 5, "delivered": 990} for h in range(OLD - 23, OLD + 1)}
    guard = decide("id1", quality({**settled, **recent}, NOW))
    q = quality({**settled, **recent}, NOW)
    assert q.metrics["complaint"].rate is not None
    assert q.metrics["complaint"].rate < 0.003
    assert guard.verdicts["complaint"].level == "pause"
    assert guard.verdicts["complaint"].sample == 24_000  # the settled window's sends
    assert q.flags()["complaint"] == "pause"
    fresh_only = decide("id1", quality(recent, NOW))
    assert fresh_only.verdicts["complaint"].level != "pause"
