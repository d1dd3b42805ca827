"""Deferral bursts: the per-minute counts callback.lua keeps per identity and provider group, tallied.

callback.lua counts, in the minute an event arrives (`keys.fb_deferrals`), each identity and group's
deferrals and soft bounces ("<identity>|<group>|d") and all their outcomes ("...|o"). The pacer,
before each grant of an identity under per-domain shaping, reads the minutes of the campaign's
window (none before a group's last block) and backs off each group whose count is a burst
(core/domain_shaping.py), exactly as a `FailedOperation.TemporaryBlocked` answer does
(store/group_state.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core.domain_shaping import GroupState, deferral_buckets
from orchestrator.store.stored_values import MAX_WHOLE, whole


def minutes(now: float, window_s: float) -> range:
    """The minute buckets a burst check at `now` reads (the widest: a group's last block may narrow its own)."""
    return deferral_buckets(now, window_s, None)


def tally(
    identity: str,
    states: Mapping[str, GroupState],
    per_minute: Iterable[tuple[int, dict[Any, Any]]],
    window_s: float,
    now: float,
) -> dict[str, tuple[int, int]]:
    """Group -> (deferrals, outcomes) of `identity` from the minute hashes read, after each group's last block."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    prefix = identity + "|"
    for bucket, raw in per_minute:
        for field, value in raw.items():
            name = str(field)
            if not name.startswith(prefix):
                continue
            group, _, kind = name[len(prefix) :].rpartition("|")
            state = states.get(group)
            if bucket not in deferral_buckets(now, window_s, state.blocked_at if state else None):
                continue
            out[group][0 if kind == "d" else 1] += whole(str(value), "deferral count", low=-MAX_WHOLE)
    return {g: (d, o) for g, (d, o) in out.items()}
