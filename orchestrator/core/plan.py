"""The warm-up plan: daily and hourly caps per warm-up day, identity caps, the pool ceiling, fair shares."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

#: No cap ever exceeds this; doubling past the table would otherwise grow without bound.
CAP_LIMIT = 1_000_000_000
#: `skip-warmup` is allowed only at or under this daily volume (the seed's rule).
SKIP_WARMUP_MAX_DAILY = 10_000


class Mode(StrEnum):
    WARMUP = "warmup"
    TRANSACTIONAL = "transactional"
    SHARED = "shared"
    SKIP_WARMUP = "skip-warmup"


#: The modes whose caps follow the plan's ramp (the others have no plan to climb).
RAMPED = frozenset({Mode.WARMUP, Mode.TRANSACTIONAL})


class AfterTable(StrEnum):
    DOUBLE = "double"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Caps:
    """How much may be sent: per calendar day and per rolling 60 minutes."""

    daily: int
    hourly: int

    def min(self, other: Caps) -> Caps:
        return Caps(min(self.daily, other.daily), min(self.hourly, other.hourly))


@dataclass(frozen=True, slots=True)
class PlanRow:
    """Warm-up days `first..last` ramp linearly from the low to the high value of each range."""

    first: int
    last: int
    daily_lo: int
    daily_hi: int
    hourly_lo: int
    hourly_hi: int


#: The seed table of spec/warmup.md section 2.
DEFAULT_ROWS: tuple[PlanRow, ...] = (
    PlanRow(1, 1, 1000, 1000, 200, 200),
    PlanRow(2, 2, 1500, 1500, 200, 200),
    PlanRow(3, 3, 2000, 2000, 400, 400),
    PlanRow(4, 4, 3000, 3000, 400, 400),
    PlanRow(5, 5, 4500, 4500, 500, 500),
    PlanRow(6, 10, 6000, 8000, 500, 1000),
    PlanRow(11, 15, 8000, 10000, 800, 2000),
    PlanRow(16, 20, 10000, 15000, 1000, 3000),
    PlanRow(21, 30, 15000, 25000, 3000, 5000),
)


def times(value: int, factor: float) -> int:
    """`value x factor`, floored, with `factor` taken as written: 100 x 0.57 is 57, not 56."""
    # Plain float products floor one unit low (100 * 0.57 == 56.99999999999999).
    return int(value * Fraction(repr(factor)))


def _ramp(lo: int, hi: int, first: int, last: int, day: int) -> int:
    if last == first:
        return hi
    return lo + (day - first) * (hi - lo) // (last - first)


def _written(rows: Sequence[PlanRow]) -> Iterator[tuple[int, Caps]]:
    """Every day of the rows with its caps as the rows ramp them (before the day-before floor)."""
    for row in rows:
        for day in range(row.first, row.last + 1):
            yield (
                day,
                Caps(
                    _ramp(row.daily_lo, row.daily_hi, row.first, row.last, day),
                    _ramp(row.hourly_lo, row.hourly_hi, row.first, row.last, day),
                ),
            )


def table_caps(rows: Sequence[PlanRow], after_table: AfterTable = AfterTable.DOUBLE) -> list[Caps]:
    """Every day of the table (index 0 = day 1), ramped, floored, never below the day before."""
    caps: list[Caps] = []
    prev = Caps(0, 0)
    for _, written in _written(rows):
        # CAP_LIMIT: a row stored before the file's bound (plan_spec) may hold more.
        prev = Caps(min(max(prev.daily, written.daily), CAP_LIMIT), min(max(prev.hourly, written.hourly), CAP_LIMIT))
        caps.append(prev)
    del after_table  # the tail is computed in Plan.base_caps
    return caps


def lifted_days(rows: Sequence[PlanRow]) -> list[tuple[int, str, int, int]]:
    """The days `table_caps` lifts to the day before: (day, "daily" or "hourly", as the rows ramp it, as sent)."""
    out: list[tuple[int, str, int, int]] = []
    for (day, written), used in zip(_written(rows), table_caps(rows), strict=True):
        if written.daily < used.daily:
            out.append((day, "daily", written.daily, used.daily))
        if written.hourly < used.hourly:
            out.append((day, "hourly", written.hourly, used.hourly))
    return out


class Plan:
    """A campaign's warm-up plan: the table, what follows it, `scale` and `target_daily`."""

    def __init__(
        self,
        rows: Sequence[PlanRow] = DEFAULT_ROWS,
        after_table: AfterTable = AfterTable.DOUBLE,
        scale: float = 1.0,
        target_daily: int | None = None,
    ) -> None:
        if not rows:
            msg = "a plan needs at least one row"
            raise ValueError(msg)
        if not 0 < scale <= 1:
            msg = "scale must be in (0, 1]"
            raise ValueError(msg)
        self._table = table_caps(rows)
        self.after_table = after_table
        self.scale = scale
        self.target_daily = target_daily
        self._caps: dict[int, Caps] = {}  # a plan never changes: each day is computed once

    @property
    def table_days(self) -> int:
        return len(self._table)

    def base_caps(self, day: int) -> Caps:
        """The table's caps for warm-up `day` (1-based), before `scale` and `target_daily`."""
        if day < 1:
            msg = f"warm-up days start at 1, got {day}"
            raise ValueError(msg)
        if day <= len(self._table):
            return self._table[day - 1]
        last = self._table[-1]
        if self.after_table is AfterTable.HOLD:
            return last
        # Doubling every day past the table; the exponent is bounded so huge days stay cheap.
        factor = 2 ** min(day - len(self._table), 40)
        return Caps(min(last.daily * factor, CAP_LIMIT), min(last.hourly * factor, CAP_LIMIT))

    def caps(self, day: int) -> Caps:
        """The caps of one identity on warm-up `day`: scaled, and stopped at `target_daily`."""
        cached = self._caps.get(day)
        if cached is None:
            cached = self._caps[day] = self._compute_caps(day)
        return cached

    def _compute_caps(self, day: int) -> Caps:
        base = self.base_caps(day)
        daily = max(1, times(base.daily, self.scale))
        hourly = max(1, times(base.hourly, self.scale))
        if self.target_daily is not None:
            daily = min(daily, self.target_daily)
        return Caps(daily, min(hourly, daily))


def identity_caps(plan: Plan, mode: Mode, warmup_day: int, daily_quota: int | None = None) -> Caps:
    """An identity's caps for its warm-up day, with Tencent's daily quota as an extra ceiling."""
    if mode in RAMPED:
        caps = plan.caps(warmup_day)
    elif mode is Mode.SKIP_WARMUP:
        daily = min(plan.target_daily or SKIP_WARMUP_MAX_DAILY, SKIP_WARMUP_MAX_DAILY)
        caps = Caps(daily, daily)
    else:  # shared: Tencent's warm shared IPs, no ramp; only the quotas bind
        daily = min(plan.target_daily or CAP_LIMIT, CAP_LIMIT)  # a campaign stored before the bound: clamped
        caps = Caps(daily, daily)
    if daily_quota is not None:
        caps = caps.min(Caps(daily_quota, daily_quota))
    return caps


def pool_ceiling(plan: Plan, warmup_days: Sequence[int], multiplier: float) -> Caps:
    """`multiplier x plan(day)` where day is the most advanced identity's warm-up day."""
    base = plan.caps(max(warmup_days))
    return Caps(times(base.daily, multiplier), times(base.hourly, multiplier))


def ranks_of(ids: Sequence[str]) -> tuple[int, ...]:
    """Each identity's place among the ids in sorted order: the order the remainder of a split follows,
    so campaigns listing the same identities in another order hand it to the same ones."""
    place = {i: k for k, i in enumerate(sorted(ids))}
    return tuple(place[i] for i in ids)


def fair_shares(ceiling: int, demands: Sequence[int], rotate: int = 0, ranks: Sequence[int] = ()) -> list[int]:
    """Max-min fair split of `ceiling` among `demands`: nobody gets more than it asks, nobody starves.

    When the ceiling binds, the shares sum to it exactly; the remainder of an uneven split goes
    one unit each to identities in an order rotated by `rotate`, so no identity is always last: the
    order of their `ranks` (`ranks_of` their ids), else of their places in `demands`.
    """
    n = len(demands)
    shares = [0] * n
    if n == 0 or ceiling <= 0:
        return shares
    if sum(demands) <= ceiling:
        return list(demands)
    remaining = ceiling
    open_ = [i for i in range(n) if demands[i] > 0]
    while open_ and remaining > 0:
        each = remaining // len(open_)
        if each == 0:
            order = sorted(open_, key=lambda i: ((ranks[i] if ranks else i) - rotate) % n)
            for i in order[:remaining]:
                shares[i] += 1
            remaining = 0
            break
        still_open = []
        for i in open_:
            give = min(each, demands[i] - shares[i])
            shares[i] += give
            remaining -= give
            if shares[i] < demands[i]:
                still_open.append(i)
        open_ = still_open
    return shares


@dataclass(frozen=True, slots=True)
class PoolAllocation:
    """Per-identity effective caps (fair shares when the pool ceiling binds) and the pool's caps."""

    identities: tuple[Caps, ...]
    pool: Caps
    ceiling: Caps


def allocate_pool(
    plan: Plan,
    mode: Mode,
    warmup_days: Sequence[int],
    daily_quotas: Sequence[int | None],
    multiplier: float,
    rotate: int = 0,
    ranks: Sequence[int] = (),
) -> PoolAllocation:
    """Each identity's caps, cut to a fair share of `multiplier x plan(day)` when that binds (`ranks`: see
    `fair_shares`)."""
    own = [identity_caps(plan, mode, d, q) for d, q in zip(warmup_days, daily_quotas, strict=True)]
    if mode in (Mode.SHARED, Mode.SKIP_WARMUP):
        # No ramp, so no plan to multiply: the pool is the sum of its identities; skip-warmup's 10,000 a
        # day is the campaign's whole volume (spec section 6), however many identities share it.
        ceiling = Caps(sum(c.daily for c in own), sum(c.hourly for c in own))
        if mode is Mode.SKIP_WARMUP:
            ceiling = ceiling.min(Caps(SKIP_WARMUP_MAX_DAILY, SKIP_WARMUP_MAX_DAILY))
    else:
        ceiling = pool_ceiling(plan, warmup_days, multiplier)
    daily = fair_shares(ceiling.daily, [c.daily for c in own], rotate, ranks)
    hourly = fair_shares(ceiling.hourly, [c.hourly for c in own], rotate, ranks)
    shares = tuple(Caps(d, min(h, d)) for d, h in zip(daily, hourly, strict=True))
    # The pool is what its identities may send together: the shares never sum above the ceiling.
    pool = Caps(sum(c.daily for c in shares), sum(c.hourly for c in shares))
    return PoolAllocation(identities=shares, pool=pool, ceiling=ceiling)
