"""The emulator's world for a simulation: the campaign's identities, its template, its behaviour and faults."""

from __future__ import annotations

from typing import Any

from orchestrator.core.campaign import Campaign, Simulation
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.ses.emulator import (
    Account,
    Behaviour,
    FaultRule,
    IdentityConfig,
    SenderBehaviour,
    World,
    emulator_pair,
)

#: The rates a recipient behaviour is made of: the campaign file's name -> the emulator's.
RATES = {
    "hard_bounce_rate": "hard_bounce_rate",
    "soft_bounce_rate": "soft_bounce_rate",
    "open_rate": "open_rate",
    "click_rate": "click_rate",
    "complaint_rate": "spamreport_rate",
    "unsubscribe_rate": "unsubscribe_rate",
}


def behaviour(sim: Simulation, *overrides: Any) -> Behaviour:
    """The simulation's rates, each taken from the first override that sets it (None: not set)."""

    def pick(name: str) -> float:
        for over in overrides:
            value = getattr(over, name, None) if over is not None else None
            if value is not None:
                return float(value)
        return float(getattr(sim, name))

    return Behaviour(**{theirs: pick(ours) for ours, theirs in RATES.items()})


def _senders(spec: Campaign) -> dict[str, SenderBehaviour]:
    """Per identity with rates of its own (by its sender address): its rates win over a recipient domain's."""
    sim = spec.simulation
    out = {}
    for ident in spec.identities:
        own = sim.identities.get(ident.id)
        if own is not None:
            out[ident.address] = SenderBehaviour(
                behaviour=behaviour(sim, own), domains={d: behaviour(sim, own, o) for d, o in sim.domains.items()}
            )
    return out


def _faults(sim: Simulation) -> list[FaultRule]:
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
    return faults


def build_world(spec: Campaign) -> World:
    """The emulator's world for a simulation: the campaign's identities, its template, its behaviour."""
    sim = spec.simulation
    return World(
        accounts=[Account(name=n, secret_id=i, secret_key=k) for n, (i, k) in account_pairs(spec).items()],
        identities=[
            IdentityConfig(domain=i.domain, reputation_level=20, daily_quota=i.daily_quota) for i in spec.identities
        ],
        permissive=True,
        faults=_faults(sim),
        behaviour=behaviour(sim),
        domains={d: behaviour(sim, o) for d, o in sim.domains.items()},
        senders=_senders(spec),
        seed=sim.seed,
    )


def account_pairs(spec: Campaign) -> dict[str, tuple[str, str]]:
    """The emulator's key pair of each account the campaign's identities name (and `default`'s): each has
    its own API rate window there, as each Tencent account has. Never a configured key: the documented
    local pairs (`emulator_pair`, with no environment)."""
    names = sorted({DEFAULT_ACCOUNT} | {i.account for i in spec.identities})
    return {name: emulator_pair(name, {}) for name in names}
