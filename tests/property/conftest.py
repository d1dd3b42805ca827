"""Hypothesis settings for the generated hostile-input suites: a recorded seed, a fixed number of cases.

The seed is HOSTILE_SEED (a fixed default, so CI is reproducible) and is printed in pytest's
header; HOSTILE_EXAMPLES sets the cases per target (CI runs the default, 2,000).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, seed, settings

#: The seed every hostile-input test draws from; replay a failure with HOSTILE_SEED=<it>.
SEED = int(os.environ.get("HOSTILE_SEED", "20261203"))
#: Generated cases per target (the suite's promise is at least 2,000 in CI).
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "2000"))
#: HOSTILE_SHRINK=0 reports the first failing case as found (shrinking a large file can take minutes).
PHASES = [p for p in Phase if os.environ.get("HOSTILE_SHRINK", "1") != "0" or p not in (Phase.shrink, Phase.explain)]

#: The settings of every hostile-input test: no example database (every run is the seed's own),
#: no deadline (a shared 2-core machine stalls now and then), the failing case's blob printed.
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
SEEDED = seed(SEED)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for a module's generated cases (a loop per case would cost more than the case)."""
    with asyncio.Runner() as runner:
        yield runner
