"""What a worker process holds for its whole life: Redis, the ledger, the sender, the clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from redis.asyncio import Redis

from orchestrator.core.clock import Clock
from orchestrator.core.sending import Sender
from orchestrator.store.ledger import Ledger

#: A claim's lease: longer than any send can take (job_timeout), so a live send is never parked.
LEASE_S = 90.0


@dataclass
class Deps:
    redis: Redis
    ledger: Ledger
    sender: Sender
    clock: Clock
    lease_s: float = LEASE_S
    reconcile_after_s: float = 60.0  # first status lookup of a send that timed out (RECONCILE_AFTER_S)
    rnd: random.Random = field(default_factory=random.Random)
    owns_sender: bool = True
    refunds: int = 0  # sends that certainly did not leave (their budget went back): the pacer may regrant
    pseudonym_key: bytes = b""  # LOG_PSEUDONYM_KEY: keys the recipients' pseudonym in logs and events
    #: Where `sender` sends (core/endpoint.sending_target): a campaign's first claim binds it there, and a
    #: claim from elsewhere pauses it (store/lua/claim.lua); "": no binding (a simulation's own Redis).
    target: str = ""
