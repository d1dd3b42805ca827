"""One address, one unfinished campaign: a list that shares addresses with a running or paused campaign.

The same list as such a campaign's is refused by its digest (`submit._refuse_a_list_in_use`); a list
with a row added or removed, or another list that shares addresses with it, is found here: each
address submit loads is looked up in the unfinished campaigns' address indexes (`store/trace_index`,
one pipeline a batch; nothing is asked when no campaign is unfinished). Submit refuses such a list
unless `--new`: the shared addresses would be mailed by both campaigns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.addresses import fold
from orchestrator.core.campaign_state import UNFINISHED
from orchestrator.store import keys
from orchestrator.store.trace_index import bucket_of


class ListOverlapError(Exception):
    """The list shares addresses with a campaign that has not finished."""


@dataclass
class Overlap:
    """The unfinished campaigns with an address index, and what the loaded addresses met in them."""

    indexed: list[tuple[str, int, str]]  # (campaign id, its index's bucket count, its state)
    shared: Counter[str] = field(default_factory=Counter)  # campaign id -> addresses it holds too
    example: dict[str, str] = field(default_factory=dict)  # campaign id -> the first such address

    @classmethod
    async def of_unfinished(cls, redis: Redis) -> Overlap:
        cids = [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]
        async with redis.pipeline(transaction=False) as pipe:
            for cid in cids:
                pipe.hmget(keys.campaign(cid), ["state", "trace_buckets"])
            found = await pipe.execute(raise_on_error=False)
        indexed = []
        for cid, reply in zip(cids, found, strict=True):
            buckets = int(reply[1]) if isinstance(reply, list) and str(reply[1] or "").isdigit() else 0
            if buckets > 0 and reply[0] in UNFINISHED:
                indexed.append((cid, buckets, str(reply[0])))
        return cls(indexed)

    async def add(self, redis: Redis, addresses: list[str]) -> None:
        """Look up a batch of loaded addresses in every unfinished campaign's index."""
        if not self.indexed or not addresses:
            return
        folded = [fold(a) for a in addresses]
        async with redis.pipeline(transaction=False) as pipe:
            for cid, buckets, _ in self.indexed:
                for f in folded:
                    pipe.hget(keys.trace_bucket(cid, bucket_of(f, buckets)), f)
            values = await pipe.execute()
        k = 0
        for cid, _, _ in self.indexed:
            for address in addresses:
                if _loaded(values[k]):
                    self.shared[cid] += 1
                    self.example.setdefault(cid, address)
                k += 1

    def refuse(self, file: Path) -> None:
        """Raise when a campaign that has not finished holds addresses of this list."""
        if not self.shared:
            return
        states = {cid: state for cid, _, state in self.indexed}
        cid, n = self.shared.most_common(1)[0]
        others = f" (and {len(self.shared) - 1} more campaigns)" if len(self.shared) > 1 else ""
        msg = (
            f"{file}: {n:,} of its addresses (such as {self.example[cid]}) are recipients of campaign {cid} "
            f"({states[cid]}){others}, which has not finished: they would be mailed twice. Take them out of "
            "the list, wait for that campaign to finish or cancel it, or pass --new to mail them again"
        )
        raise ListOverlapError(msg)


def _loaded(value: object) -> bool:
    """Whether an index entry ("<row>:<what>,...") names a loaded row (`what` a ledger index)."""
    return any(entry.partition(":")[2].isdigit() for entry in str(value or "").split(","))
