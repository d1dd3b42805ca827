"""Test doubles shared by the pipeline tests: an in-process provider on a virtual clock, and submit helpers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.core.sending import (
    LookupResult,
    LookupVerdict,
    OutcomeKind,
    SendOutcome,
    SendRequest,
    StatusQuery,
)
from orchestrator.store import keys
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign


@dataclass
class ClockedSender:
    """An in-process provider that records the virtual time of each accepted send.

    A `fail_rate` share of calls (drawn from `rnd`) fails transiently. Lookups answer truthfully from
    the accepted sends, or always UNKNOWN when `answers_lookups` is False.
    """

    clock: VirtualClock
    sent: list[tuple[float, SendRequest]] = field(default_factory=list)
    fail_rate: float = 0.0
    rnd: random.Random = field(default_factory=lambda: random.Random(3))
    answers_lookups: bool = True
    calls: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)

    async def send(self, request: SendRequest) -> SendOutcome:
        self.calls += 1
        if self.rnd.random() < self.fail_rate:
            self.failures.append((self.clock.now(), request.to_address))
            return SendOutcome(OutcomeKind.TRANSIENT, code="InternalError")
        self.sent.append((self.clock.now(), request))
        return SendOutcome(OutcomeKind.ACCEPTED, message_id=f"m{len(self.sent)}")

    async def lookup(self, query: StatusQuery) -> LookupResult:
        if not self.answers_lookups:
            return LookupResult(LookupVerdict.UNKNOWN)
        for i, (at, r) in enumerate(self.sent, start=1):
            if (r.to_address, r.from_address) == (query.to_address, query.from_address):
                return LookupResult(LookupVerdict.SENT, message_id=f"m{i}", sent_at=at)
        return LookupResult(LookupVerdict.NOT_SENT)

    async def close(self) -> None:
        return None

    def times(self, *, to_domain: str | None = None, sender: str | None = None) -> list[float]:
        """The virtual times of the accepted sends, optionally to one domain or from one sender."""
        return [
            t
            for t, r in self.sent
            if (to_domain is None or r.to_address.endswith("@" + to_domain))
            and (sender is None or sender in r.from_address)
        ]


async def submit_file(redis: Redis, path: Path, now: float) -> str:
    """Submit the campaign file at `path` at time `now`; its campaign id."""
    campaign, fp = load(path)
    return (await submit(redis, campaign, fp, now, str(path))).campaign_id


async def one_identity_campaign(
    redis: Redis, tmp_path: Path, now: float, n: int = 5, new: bool = False
) -> tuple[Ledger, keys.CampaignKeys, str]:
    """A campaign of `n` recipients and one identity, submitted at `now`: its ledger, keys and identity id
    (`new`: as `submit --new`, beside a running campaign of the same addresses)."""
    path = write_campaign(tmp_path, n, identities=1)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, now, str(path), force_new=new)).campaign_id
    return Ledger(redis), keys.CampaignKeys(cid), campaign.identities[0].id
