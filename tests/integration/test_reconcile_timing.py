"""How soon a send in doubt is settled: a throttled status lookup is asked again within seconds, not minutes."""

from __future__ import annotations

import pytest

from orchestrator.pacing import PacerConfig
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import FaultRule
from orchestrator.simulation.virtual_run import VirtualRun
from tests.pipeline_harness import VICTIM, VICTIM_DOMAIN, Pipeline, recipients_csv, settings_for

pytestmark = [pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning")]

CONFIG = PacerConfig(reconcile_after_s=60.0, reconcile_retry_s=60.0, reconcile_throttled_retry_s=5.0)


async def _run(pipe: Pipeline, seconds: float) -> None:
    async with (
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender, CONFIG, workers=2) as run,
    ):
        await run.run_until(pipe.clock.now() + seconds, sweep_every_s=1.0)


@pytest.mark.parametrize(
    ("code", "lookups"),
    [
        pytest.param("RequestLimitExceeded", 2, id="throttled"),
        pytest.param("InternalError", 2, id="tencent-busy"),
    ],
)
async def test_reconcile_asks_a_throttled_lookup_again_within_seconds(pipe: Pipeline, code: str, lookups: int) -> None:
    """The first lookups of a send in doubt come back throttled: each is asked again 5 s later, not minutes."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(
        FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0)
    )
    pipe.emu.world.faults.append(FaultRule(code=code, count=lookups, action="GetSendEmailStatus"))
    await _run(pipe, 3600)
    [parked] = await pipe.events("send_in_doubt")
    [resolved] = await pipe.events("in_doubt_resolved")
    assert resolved.data["verdict"] == "sent"
    # First lookup after 60 s, then one retry 5 s after each throttled answer (sweeps every second).
    assert parked.t + 60 + lookups * 5 <= resolved.t <= parked.t + 60 + lookups * 6 + 2
    assert len(pipe.sent_to(VICTIM)) == 1
    pipe.assert_each_sent_once()


async def test_reconcile_asks_an_undecided_lookup_again_after_the_retry_interval(pipe: Pipeline) -> None:
    """A lookup that found no record yet but cannot rule the send out is asked again after RECONCILE_RETRY_S."""
    await pipe.submit(recipients_csv())
    pipe.emu.world.faults.append(
        FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0)
    )
    # An answer that is neither a throttle nor a decision: the lookup stays undecided once.
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.UnknownLookupFailure", count=1, action="GetSendEmailStatus")
    )
    await _run(pipe, 3600)
    [parked] = await pipe.events("send_in_doubt")
    [resolved] = await pipe.events("in_doubt_resolved")
    assert parked.t + 120 <= resolved.t <= parked.t + 123
    pipe.assert_each_sent_once()
