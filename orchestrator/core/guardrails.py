"""The quality guardrails: the thresholds of spec/warmup.md section 7 and the data-failure pause.

One owner for each threshold: the report draws them, and the rules that act on them read them here.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.core.evidence import Line

#: Hard bounces, in percent of delivered mail: (hold the warm-up step, pause the campaign).
HARD_BOUNCE_PCT = (5.0, 10.0)
#: Spam complaints, in percent of delivered mail: (hold the step, pause the campaign).
COMPLAINT_PCT = (0.1, 0.3)
#: Opens below this percent of delivered mail hold the step.
OPEN_HOLD_PCT = 50.0

#: Sign-up mail opening below this percent gets a warning (it normally opens above it).
OPEN_SIGNUP_WARN_PCT = 80.0
#: The sends a rate needs before it is judged at all: a few expected events at the line, so one
#: early event cannot trip it (docs/benchmarks.md, "Guardrails", measures what these give).
BOUNCE_MIN_SAMPLE = 200
COMPLAINT_MIN_SAMPLE = 2000
OPEN_MIN_SAMPLE = 200

Content = Literal["marketing", "signup"]


def default_lines(content: Content = "marketing") -> tuple[Line, ...]:
    """The guardrails of spec/warmup.md section 7 for this kind of mail (fractions, not percent)."""
    opens = (
        Line("open", hold=OPEN_HOLD_PCT / 100, low_is_bad=True, min_sample=OPEN_MIN_SAMPLE)
        if content == "marketing"
        else Line("open", warn=OPEN_SIGNUP_WARN_PCT / 100, low_is_bad=True, min_sample=OPEN_MIN_SAMPLE)
    )
    return (
        Line(
            "hard_bounce", hold=HARD_BOUNCE_PCT[0] / 100, pause=HARD_BOUNCE_PCT[1] / 100, min_sample=BOUNCE_MIN_SAMPLE
        ),
        Line("complaint", hold=COMPLAINT_PCT[0] / 100, pause=COMPLAINT_PCT[1] / 100, min_sample=COMPLAINT_MIN_SAMPLE),
        opens,
    )


#: A campaign pauses itself when at least this many recipients failed on their template data and
#: they outnumber the accepted ones: the data mapping, not the recipients, is wrong.
DATA_FAILURE_PAUSE_MIN = 20
#: Tencent's codes for template data a recipient's row could not fill.
DATA_CODES_PREFIXES = (
    "InvalidParameterValue.Template",
    "InvalidParameterValue.InValidTemplateData",
    "FailedOperation.WrongContentJson",
)


def is_data_failure(code: str) -> bool:
    return code.startswith(DATA_CODES_PREFIXES)


def data_failure_pause(code: str, failed: int, accepted: int) -> str | None:
    """The pause reason when failures on template data show the mapping is wrong, else None."""
    if is_data_failure(code) and failed >= DATA_FAILURE_PAUSE_MIN and failed > accepted:
        return f"most recipients fail on their template data ({code}): check template.data"
    return None
