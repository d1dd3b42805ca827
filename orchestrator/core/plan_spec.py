"""The campaign file's `plan:` block: its rows (days '6-10', counts '6000-8000'), checked and built into a Plan."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from orchestrator.core.addresses import shown
from orchestrator.core.plan import CAP_LIMIT, DEFAULT_ROWS, AfterTable, Mode, Plan, PlanRow
from orchestrator.core.progress import ProgressRules
from orchestrator.core.strict import Strict, stored

#: The last warm-up day a row may name: a plan is a table of days, built day by day when loaded (a row
#: `1-100000000` would cost every process that loads the campaign gigabytes). Past its last row a plan
#: holds or doubles (`after_table`).
MAX_PLAN_DAY = 1000


def _parse_days(text: str, bounded: bool = True) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        msg = f"days must look like '3' or '6-10', got {shown(text)}"
        raise ValueError(msg)
    first = int(m.group(1))
    last = int(m.group(2) or first)
    if first < 1 or last < first:
        msg = f"days {shown(text)}: the range must start at 1 or later and not run backwards"
        raise ValueError(msg)
    if bounded and last > MAX_PLAN_DAY:
        msg = (
            f"days {shown(text)}: a plan's rows end by day {MAX_PLAN_DAY} "
            "(after its last row it holds or doubles, as after_table says)"
        )
        raise ValueError(msg)
    return first, last


def _parse_range(value: int | str, what: str, bounded: bool = True) -> tuple[int, int]:
    if isinstance(value, int):
        lo = hi = value
    else:
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", value)
        if not m:
            msg = f"{what} must be a number or a range like '6000-8000', got {shown(value)}"
            raise ValueError(msg)
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
    if lo < 1 or hi < lo:
        msg = f"{what} {shown(value)}: values must be at least 1, low then high"
        raise ValueError(msg)
    if bounded and hi > CAP_LIMIT:
        msg = f"{what} {shown(value)}: at most {CAP_LIMIT:,} (no identity sends more in a day)"
        raise ValueError(msg)
    return lo, hi


class PlanRowSpec(Strict):
    days: int | str
    daily: int | str
    hourly: int | str

    def to_row(self) -> PlanRow:
        """The row as the plan uses it (its bounds were checked when the file was read)."""
        first, last = _parse_days(str(self.days), bounded=False)
        dlo, dhi = _parse_range(self.daily, "daily", bounded=False)
        hlo, hhi = _parse_range(self.hourly, "hourly", bounded=False)
        return PlanRow(first, last, dlo, dhi, hlo, hhi)

    @field_validator("days", "daily", "hourly", mode="before")
    @classmethod
    def _number_or_range(cls, v: object) -> object:
        # One clear message instead of one per member of `int | str` (6.5, a list, true...).
        if isinstance(v, bool) or not isinstance(v, int | str):
            msg = f"must be a whole number or a range like '6-10', got {shown(v)}"
            raise ValueError(msg)
        return v

    @field_validator("days")
    @classmethod
    def _check_days(cls, v: int | str, info: ValidationInfo) -> int | str:
        _parse_days(str(v), bounded=not stored(info))  # an older release stored no bound: still readable
        return v

    @field_validator("daily", "hourly")
    @classmethod
    def _check_range(cls, v: int | str, info: ValidationInfo) -> int | str:
        _parse_range(v, str(info.field_name), bounded=not stored(info))
        return v


class PlanSpec(Strict):
    table: Literal["default"] | None = "default"
    rows: list[PlanRowSpec] | None = None
    after_table: AfterTable = AfterTable.DOUBLE
    scale: Annotated[float, Field(gt=0, le=1)] = 1.0
    target_daily: Annotated[int | None, Field(ge=1)] = None
    advance_min_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    idle_grace_days: Annotated[int, Field(ge=0)] = 3
    idle_reset_days: Annotated[int, Field(ge=1)] = 30

    @field_validator("target_daily")
    @classmethod
    def _check_target(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and v > CAP_LIMIT and not stored(info):
            msg = f"at most {CAP_LIMIT:,} (no identity sends more in a day), got {v:,}"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _check_idle_days(self) -> Self:
        if self.idle_grace_days >= self.idle_reset_days:
            msg = (
                f"idle_grace_days ({self.idle_grace_days}) must be below idle_reset_days ({self.idle_reset_days}):"
                " the grace is the idle days that cost nothing before the reset"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _check_rows(self) -> Self:
        if self.rows is None:
            return self
        if not self.rows:
            msg = "rows: give at least one row, or leave rows out to use the default table"
            raise ValueError(msg)
        expected = 1
        for i, spec in enumerate(self.rows):
            row = spec.to_row()
            if row.first < expected:
                msg = f"rows[{i}]: days {spec.days} overlap the row before (expected day {expected} next)"
                raise ValueError(msg)
            if row.first > expected:
                msg = f"rows[{i}]: days {spec.days} leave a gap (day {expected} has no row)"
                raise ValueError(msg)
            expected = row.last + 1
        return self

    def build(self) -> Plan:
        rows = tuple(r.to_row() for r in self.rows) if self.rows else DEFAULT_ROWS
        return Plan(rows, self.after_table, self.scale, self.target_daily)

    def progress_rules(self, mode: Mode) -> ProgressRules:
        return ProgressRules(
            advance_min_fraction=self.advance_min_fraction,
            idle_grace_days=self.idle_grace_days,
            idle_reset_days=self.idle_reset_days,
            every_sending_day_counts=mode is Mode.TRANSACTIONAL,
        )
