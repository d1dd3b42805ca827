"""Backoff schedules: exponential with a cap, plus jitter drawn from a caller-given generator."""

from __future__ import annotations

import random


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """The delay before try `attempt + 1` after `attempt` failed tries (no jitter): base x 2^(n-1)."""
    return float(min(cap_s, base_s * 2.0 ** max(attempt - 1, 0)))


def backoff_with_jitter_s(attempt: int, base_s: float, cap_s: float, rnd: random.Random) -> float:
    """`backoff_s` plus up to 10 % jitter, so retries of many recipients do not line up."""
    delay = backoff_s(attempt, base_s, cap_s)
    return delay + rnd.uniform(0, 0.1 * delay)
