"""The guardrail and shaping marks (orchestrator/core/timeline.py) read from event-stream entries."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.core.timeline import Mark, marks_of


@dataclass(frozen=True)
class Ev:
    t: float
    type: str
    identity: str = ""
    data: dict[str, str] = field(default_factory=dict)
    campaign: str = "c-1"


def test_marks_of_reads_holds_pauses_and_resumes_in_time_order() -> None:
    """A guardrail hold keeps its metric and reason; a pause and a resume name who did it; sends are no marks."""
    held = {"date": "2026-12-01", "metric": "hard_bounce", "reason": "hard_bounce: 7 % of 300 sends"}
    got = marks_of(
        [
            Ev(300.0, "campaign_resumed", data={"by": "operator"}),
            Ev(100.0, "day_held", "id-a", held),
            Ev(200.0, "campaign_paused", data={"by": "automatic", "reason": "guardrail: complaint"}),
            Ev(150.0, "send_accepted", "id-a"),
        ]
    )
    assert got == [
        Mark(
            100.0,
            "held",
            "id-a",
            "id-a: warm-up day of 2026-12-01 held (hard_bounce: 7 % of 300 sends)",
            None,
            "hard_bounce",
        ),
        Mark(200.0, "paused", "", "paused by automatic: guardrail: complaint", campaign="c-1"),
        Mark(300.0, "resumed", "", "resumed by operator", campaign="c-1"),
    ]


def test_marks_of_merges_overlapping_backoffs_of_one_group() -> None:
    """Backoffs of one identity and group that overlap are one span; a later one, or another identity's, is its own."""

    def block(t: float, until: float, identity: str = "id-a") -> Ev:
        data = {"group": "naver", "code": "FailedOperation.TemporaryBlocked", "until": repr(until)}
        return Ev(t, "domain_backoff", identity, data)

    got = marks_of(
        [block(0, 600), block(500, 1100), block(2000, 2600), block(100, 700, "id-b"), block(50, float("nan"))]
    )
    spans = [(m.identity, m.t, m.end) for m in got]
    assert spans == [("id-a", 0, 1100), ("id-b", 100, 700), ("id-a", 2000, 2600)]
    assert all(m.kind == "backoff" and m.subject == "naver" for m in got)
