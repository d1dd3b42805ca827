"""The quality guardrails: the thresholds of spec/warmup.md section 7 and the data-failure pause.

One owner for each threshold: the report draws them, and the rules that act on them read them here.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, PlainValidator, ValidationInfo, field_validator, model_validator

from orchestrator.core.evidence import DEFAULT_Z, Line
from orchestrator.core.strict import Strict, stored

#: Hard bounces, in percent of the mail Tencent accepted: (hold the warm-up step, pause the campaign).
HARD_BOUNCE_PCT = (5.0, 10.0)
#: Spam complaints, in percent of the mail Tencent accepted: (hold the step, pause the campaign).
COMPLAINT_PCT = (0.1, 0.3)
#: Opens below this percent of delivered mail hold the step.
OPEN_HOLD_PCT = 50.0

#: Sign-up mail opening below this percent gets a warning (it normally opens above it).
OPEN_SIGNUP_WARN_PCT = 80.0
#: The sends a rate needs before it is judged on the line's own bound: a few expected events at the
#: line, so one early event cannot trip it; below it a ceiling acts only on overwhelming evidence
#: (core/evidence.py, EARLY_Z). docs/benchmarks.md, "Guardrails", measures what these give.
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


def _setting(value: object) -> float | Literal["off"] | None:
    """A line's value in the file: a percentage above 0 and below 100, `off`, or left out (None: the
    default). `off` rather than `null` switches a line off, so a stored and re-read campaign keeps its
    meaning; YAML reads a bare `off` (and `no`, `false`) as false, which is the file's `off` too."""
    if value is None:
        return None
    if value is False or value == "off":
        return "off"
    shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as the file wrote it
    expected = f"expected a percentage above 0 and below 100, or off (got {shown})"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(expected)
    try:
        pct = float(value)
    except ValueError:
        raise ValueError(expected) from None
    if not 0 < pct < 100:  # also refuses nan
        raise ValueError(expected)
    return pct


Setting = Annotated[float | Literal["off"] | None, PlainValidator(_setting)]


def _fraction(value: Setting, default: float | None) -> float | None:
    if value is None:
        return default
    return None if value == "off" else float(value) / 100


class CeilingSpec(Strict):
    """A rate that must stay low (bounces, complaints): hold the step above `hold_pct`, pause above `pause_pct`.

    A key left out keeps its default; `off` switches that line off.
    """

    hold_pct: Setting = None
    pause_pct: Setting = None
    min_sample: Annotated[int, Field(ge=1, le=10_000_000)] | None = None

    def line(self, default: Line) -> Line:
        hold, pause = _fraction(self.hold_pct, default.hold), _fraction(self.pause_pct, default.pause)
        if hold is not None and pause is not None and pause < hold:
            msg = f"pause_pct ({100 * pause:g}) must be at least hold_pct ({100 * hold:g})"
            raise ValueError(msg)
        return Line(default.metric, hold=hold, pause=pause, min_sample=self.min_sample or default.min_sample)


class FloorSpec(Strict):
    """A rate that must stay high (opens): below `hold_pct` the step is held, below `warn_pct` a warning.

    A key left out keeps its default for the campaign's `content`; `off` switches that line off.
    """

    hold_pct: Setting = None
    warn_pct: Setting = None
    min_sample: Annotated[int, Field(ge=1, le=10_000_000)] | None = None

    def line(self, default: Line) -> Line:
        hold, warn = _fraction(self.hold_pct, default.hold), _fraction(self.warn_pct, default.warn)
        return Line(
            default.metric, hold=hold, warn=warn, low_is_bad=True, min_sample=self.min_sample or default.min_sample
        )


#: The longest rolling window: a late metric reads the window's length of sends a window old, and the
#: hour counts are kept that long (store/feedback.py COHORT_KEEP_S, 8 days).
MAX_WINDOW_HOURS = 96


class GuardrailsSpec(Strict):
    """The campaign file's `guardrails:` section; every key defaults to spec/warmup.md section 7."""

    hard_bounce: CeilingSpec = Field(default_factory=CeilingSpec)
    complaint: CeilingSpec = Field(default_factory=CeilingSpec)
    open: FloorSpec = Field(default_factory=FloorSpec)
    confidence_z: Annotated[float, Field(ge=0, le=6)] = DEFAULT_Z
    window_hours: Annotated[int, Field(ge=1)] = 24

    @field_validator("window_hours")
    @classmethod
    def _kept_long_enough(cls, v: int, info: ValidationInfo) -> int:
        if v <= MAX_WINDOW_HOURS:
            return v
        if stored(info):  # stored by a release that allowed longer: judged on what is kept
            return MAX_WINDOW_HOURS
        msg = (
            f"window_hours {v}: at most {MAX_WINDOW_HOURS} (opens and settled complaints are judged on the "
            f"window's length of sends a window old, and the hour counts are kept {2 * MAX_WINDOW_HOURS} hours)"
        )
        raise ValueError(msg)

    def lines(self, content: Content) -> tuple[Line, ...]:
        """The lines to judge by: the file's, or the defaults for this kind of mail."""
        defaults = {line.metric: line for line in default_lines(content)}
        return (
            self.hard_bounce.line(defaults["hard_bounce"]),
            self.complaint.line(defaults["complaint"]),
            self.open.line(defaults["open"]),
        )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        defaults = {line.metric: line for line in default_lines()}
        for name, spec in (("hard_bounce", self.hard_bounce), ("complaint", self.complaint)):
            try:
                spec.line(defaults[name])
            except ValueError as exc:
                msg = f"{name}: {exc}"
                raise ValueError(msg) from None
        return self


#: GetSendEmailStatus `SendStatus` codes that pause the campaign of the mail they are read on: Tencent
#: stops the account or the sender, not one recipient (as the SendEmail answers
#: `FailedOperation.HighRejectionRate`, `FailedOperation.InsufficientBalance` and
#: `OperationDenied.DomainNotVerified` do).
PAUSING_SEND_STATUS = {
    3030: "Tencent limits sending: the bounce rate is too high (SendStatus 3030)",
    3033: "Tencent refuses to send: the account's balance is insufficient (SendStatus 3033)",
    3014: "Tencent refuses to send: the sender domain is not verified (SendStatus 3014)",
}

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
