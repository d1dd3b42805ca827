"""The emulator's world for a simulation: the campaign's identities, its template, its behaviour and faults."""

from __future__ import annotations

from typing import Any

from orchestrator.core.campaign import Campaign
from orchestrator.ses.emulator import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    Account,
    Behaviour,
    FaultRule,
    IdentityConfig,
    World,
)


def build_world(spec: Campaign) -> World:
    """The emulator's world for a simulation: the campaign's identities, its template, its behaviour."""
    sim = spec.simulation

    def behaviour(over: Any = None) -> Behaviour:
        def pick(name: str, default: float) -> float:
            v = getattr(over, name, None) if over is not None else None
            return float(v) if v is not None else default

        return Behaviour(
            hard_bounce_rate=pick("hard_bounce_rate", sim.hard_bounce_rate),
            soft_bounce_rate=pick("soft_bounce_rate", sim.soft_bounce_rate),
            open_rate=pick("open_rate", sim.open_rate),
            click_rate=pick("click_rate", sim.click_rate),
            spamreport_rate=pick("complaint_rate", sim.complaint_rate),
            unsubscribe_rate=pick("unsubscribe_rate", sim.unsubscribe_rate),
        )

    faults = []
    if sim.transient_error_rate:
        faults.append(FaultRule(code="InternalError", rate=sim.transient_error_rate))
    if sim.temporary_block_rate:
        faults.append(FaultRule(code="FailedOperation.TemporaryBlocked", rate=sim.temporary_block_rate))
    for dom, over in sim.domains.items():
        if over.temporary_block_rate:
            faults.append(
                FaultRule(code="FailedOperation.TemporaryBlocked", rate=over.temporary_block_rate, recipient_domain=dom)
            )
    return World(
        accounts=[Account(name="default", secret_id=DEFAULT_SECRET_ID, secret_key=DEFAULT_SECRET_KEY)],
        identities=[
            IdentityConfig(domain=i.domain, reputation_level=20, daily_quota=i.daily_quota) for i in spec.identities
        ],
        permissive=True,
        faults=faults,
        behaviour=behaviour(),
        domains={d: behaviour(o) for d, o in sim.domains.items()},
        seed=sim.seed,
    )
