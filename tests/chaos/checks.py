"""The promises checked after each chaos scenario, from the emulator's own logs and the ledger."""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.pipeline_helpers import max_in_rolling_window

TERMINAL = frozenset({"accepted", "failed", "suppressed"})
#: Tencent's per-account API rate (calls in any rolling second), which the emulator is set to.
API_LIMIT_PER_S = 20
#: A send may start at most this long after `pause` returned.
PAUSE_GRACE_S = 2.0


@dataclass(frozen=True)
class RunRecord:
    """What a finished scenario left behind: the emulator's logs, the ledger, and the harness's own notes."""

    recipients: int
    sends: list[dict[str, Any]]  # the emulator's send log: this run's recipients
    all_sends: list[dict[str, Any]]  # the whole send log: every run on these identities so far
    calls: list[dict[str, Any]]  # the emulator's call log (every request, throttled or not)
    ledger: dict[str, str]  # address -> raw ledger state ("a|<MessageId>", "d|...", ...)
    counts: dict[str, int]  # the campaign's counts hash
    in_doubt_listed: list[str]  # addresses `status --in-doubt` lists
    day_counters: dict[str, int]  # the limiter's per-identity daily counters
    hourly_cap: int
    daily_cap: int
    pauses: list[tuple[float, float | None]] = field(default_factory=list)  # (pause returned, resume called)
    eras: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)  # pacer -> leader eras
    pacer_kills: dict[str, float] = field(default_factory=dict)
    outlived_locks: int = 0  # `pacer_tick_outlived_lock` warnings: a tick ran past the leader lock
    began: float = 0.0  # when this run began (earlier runs' kills still end their pacers' eras)
    stopped_at: float = 0.0
    lock_ttl_s: float = 0.0


@dataclass
class Verdict:
    """The figures of one scenario and every broken promise, each one line."""

    duplicates: int = 0
    lost: int = 0
    in_doubt: int = 0
    worst_cap_ratio: float = 0.0
    worst_api_rate: int = 0
    late_sends: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.problems.append(what)


def state_name(raw: str) -> str:
    from orchestrator.core.ledger_state import parse

    return parse(raw).state.value


def judge(run: RunRecord) -> Verdict:
    """Every check of the issue's list, run on one scenario's record."""
    v = Verdict()
    _no_duplicate(run, v)
    _nothing_lost(run, v)
    _counts_consistent(run, v)
    _caps(run, v)
    _api_rate(run, v)
    _pauses(run, v)
    _one_leader(run, v)
    return v


def _no_duplicate(run: RunRecord, v: Verdict) -> None:
    twice = {a: n for a, n in Counter(s["to_address"] for s in run.sends).items() if n > 1}
    v.duplicates = sum(n - 1 for n in twice.values())
    if twice:
        v.fail(f"sent more than once: {sorted(twice.items())[:5]}")


def _nothing_lost(run: RunRecord, v: Verdict) -> None:
    if len(run.ledger) != run.recipients:
        v.fail(f"the ledger holds {len(run.ledger)} recipients, {run.recipients} were submitted")
    states = {a: state_name(raw) for a, raw in run.ledger.items()}
    waiting = sorted(a for a, s in states.items() if s not in TERMINAL and s != "in_doubt")
    doubts = sorted(a for a, s in states.items() if s == "in_doubt")
    unlisted = sorted(set(doubts) - set(run.in_doubt_listed))
    sent = {s["to_address"]: s["message_id"] for s in run.sends}
    # Accepted in the ledger, never accepted by Tencent (or under another MessageId): a send that was lost.
    phantom = sorted(
        a for a, raw in run.ledger.items() if state_name(raw) == "accepted" and raw.removeprefix("a|") != sent.get(a)
    )
    v.in_doubt = len(doubts)
    v.lost = len(waiting) + len(unlisted) + len(phantom)
    if waiting:
        v.fail(f"{len(waiting)} recipients neither terminal nor in doubt: {[(a, states[a]) for a in waiting[:5]]}")
    if unlisted:
        v.fail(f"in doubt but not listed by `status --in-doubt`: {unlisted[:5]}")
    if phantom:
        v.fail(f"accepted in the ledger without that MessageId in the send log: {phantom[:5]}")


def _counts_consistent(run: RunRecord, v: Verdict) -> None:
    tally = Counter(state_name(raw) for raw in run.ledger.values())
    counts = {s: n for s, n in run.counts.items() if n}
    if counts != dict(tally):
        v.fail(f"the counts hash {counts} disagrees with the ledger {dict(tally)}")
    if sum(run.counts.values()) != run.recipients:
        v.fail(f"the counts add up to {sum(run.counts.values())}, not {run.recipients}")
    states = {a: state_name(raw) for a, raw in run.ledger.items()}
    # Tencent took it: the ledger says accepted, or in doubt (then the operator settles it).
    unrecorded = sorted(
        a for a in {s["to_address"] for s in run.sends} if states.get(a) not in ("accepted", "in_doubt")
    )
    if unrecorded:
        v.fail(f"sent but recorded as something else: {[(a, states.get(a)) for a in unrecorded[:5]]}")


def _caps(run: RunRecord, v: Verdict) -> None:
    by_identity: dict[str, list[float]] = {}
    for s in run.all_sends:
        by_identity.setdefault(s["from_address"], []).append(float(s["time"]))
    ratios = [0.0]
    for sender, times in sorted(by_identity.items()):
        hour = max_in_rolling_window(times, 3600.0)
        day = max(Counter(datetime.fromtimestamp(t, tz=UTC).date() for t in times).values())
        ratios += [hour / run.hourly_cap, day / run.daily_cap]
        if hour > run.hourly_cap or day > run.daily_cap:
            v.fail(f"{sender}: {hour} in a rolling hour (cap {run.hourly_cap}), {day} in a day (cap {run.daily_cap})")
    for key, granted in sorted(run.day_counters.items()):
        ratios.append(granted / run.daily_cap)
        if granted > run.daily_cap:
            v.fail(f"{key}: {granted} granted, daily cap {run.daily_cap}")
    v.worst_cap_ratio = max(ratios)


def max_in_window(times: Iterable[float], window_s: float) -> int:
    ts = sorted(times)
    return max((bisect.bisect_left(ts, t + window_s) - i for i, t in enumerate(ts)), default=0)


def _api_rate(run: RunRecord, v: Verdict) -> None:
    by_account: dict[str, list[float]] = {}
    for c in run.calls:
        if c.get("account"):
            by_account.setdefault(str(c["account"]), []).append(float(c["time"]))
    v.worst_api_rate = max((max_in_window(ts, 1.0) for ts in by_account.values()), default=0)
    if v.worst_api_rate > API_LIMIT_PER_S:
        v.fail(f"{v.worst_api_rate} API calls in one rolling second (Tencent allows {API_LIMIT_PER_S})")
    throttled = [c for c in run.calls if c.get("error") == "RequestLimitExceeded" and not c.get("counted")]
    if throttled:
        v.fail(f"Tencent's own rate limit refused {len(throttled)} calls")


def send_starts(calls: Sequence[dict[str, Any]]) -> list[float]:
    """When each SendEmail reached the emulator (accepted or not)."""
    return sorted(float(c["time"]) for c in calls if c.get("action") == "SendEmail")


def _pauses(run: RunRecord, v: Verdict) -> None:
    starts = send_starts(run.calls)
    for returned, resumed in run.pauses:
        end = resumed if resumed is not None else float("inf")
        late = [t for t in starts if returned + PAUSE_GRACE_S < t < end]
        v.late_sends += len(late)
        if late:
            v.fail(f"{len(late)} sends started {late[0] - returned:.2f} s or more after a pause returned")


def _one_leader(run: RunRecord, v: Verdict) -> None:
    eras = sorted(
        (start, end if end is not None else run.stopped_at, name) for name, es in run.eras.items() for start, end in es
    )
    for (_, e1, n1), (s2, _, n2) in itertools.pairwise(eras):
        if s2 < e1 and n1 != n2:
            v.fail(f"two active pacers: {n1} led until {e1:.3f}, {n2} from {s2:.3f}")
    if run.outlived_locks:
        v.fail(f"{run.outlived_locks} pacer ticks outlived the leader lock (a standby may have granted meanwhile)")
    for name, killed in run.pacer_kills.items():
        if killed < run.began:
            continue
        after = [s for s, _, n in eras if n != name and s >= killed - 0.001]
        took = (min(after) - killed) if after else float("inf")
        # The lock lapses at most one TTL after the last renewal; a standby sees it at its next tick.
        if took > run.lock_ttl_s + 1.5:
            v.fail(f"after {name} was killed, no pacer led for {took:.2f} s (lock TTL {run.lock_ttl_s} s)")


def summary(name: str, seed: int, faults: dict[str, int], run: RunRecord, v: Verdict, took_s: float) -> str:
    injected = ", ".join(f"{k} {n}" for k, n in sorted(faults.items())) or "none"
    return (
        f"chaos {name} seed={seed}: faults [{injected}]; recipients {run.recipients}; duplicates {v.duplicates}; "
        f"lost {v.lost}; in doubt {v.in_doubt}; worst cap ratio {v.worst_cap_ratio:.4f}; "
        f"worst API rate {v.worst_api_rate}/s (limit {API_LIMIT_PER_S}); late sends after pause {v.late_sends}; "
        f"{took_s:.1f} s"
    )
