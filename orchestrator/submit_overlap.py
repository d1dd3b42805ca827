"""One address, one unfinished campaign: a list that shares addresses with a running or paused campaign,
or with a cancelled one whose sends in flight or in doubt are not settled yet (`_unsettled`).

The same list as such a campaign's is refused by its digest (`submit._refuse_a_list_in_use`); a list
with a row added or removed, or another list that shares addresses with it, is found here: each
address submit loads is looked up in the unfinished campaigns' address indexes (`store/trace_index`,
one script call a batch and campaign, `lua/overlap.lua`; nothing is asked when no campaign is
unfinished); in the submit's commit turn, the campaigns created while it loaded are compared too
(`refuse`, from its staged index). Submit refuses such a list unless `--new`: the shared
addresses would be mailed by both campaigns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.addresses import fold
from orchestrator.core.campaign_state import UNFINISHED
from orchestrator.store import campaigns, keys
from orchestrator.store.scripts import source as script_source
from orchestrator.store.trace_index import Staging, bucket_of


class ListOverlapError(Exception):
    """The list shares addresses with a campaign that has not finished."""


@dataclass
class Overlap:
    """The unfinished campaigns with an address index, and what the loaded addresses met in them."""

    indexed: list[tuple[str, int, str]]  # (campaign id, its index's bucket count, its state)
    shared: Counter[str] = field(default_factory=Counter)  # campaign id -> addresses it holds too
    example: dict[str, str] = field(default_factory=dict)  # campaign id -> the first such address
    compared: bool = True  # False under --new: no campaign is compared, not even one created meanwhile

    @classmethod
    async def of_unfinished(cls, redis: Redis, none: bool = False) -> Overlap:
        """The running and paused campaigns to compare a list with (`none`: no campaign, as `--new`)."""
        if none:
            return cls([], compared=False)
        cids = await campaigns.all_ids(redis)
        indexed, ended = [], []
        for cid, reply in zip(cids, await campaigns.fields_of(redis, cids, ["state", "trace_buckets"]), strict=True):
            if reply is None:
                continue  # a record of another type: nothing of it to compare
            state, count = reply
            buckets = int(count) if count is not None and count.isdigit() else 0
            if buckets > 0 and state in UNFINISHED:
                indexed.append((cid, buckets, str(state)))
            elif buckets > 0:
                ended.append((cid, buckets, str(state)))
        return cls(indexed + await _unsettled(redis, ended))

    async def add(self, redis: Redis, addresses: list[str]) -> None:
        """Look up a batch of loaded addresses in every unfinished campaign's index."""
        if not self.indexed or not addresses:
            return
        folded = [fold(a) for a in addresses]
        script = redis.register_script(script_source("overlap"))
        async with redis.pipeline(transaction=False) as pipe:
            for cid, buckets, _ in self.indexed:  # one script call a campaign, the batch in one argument
                places = [bucket_of(f, buckets) for f in folded]
                names = sorted(set(places))
                pos = {b: k + 1 for k, b in enumerate(names)}
                items = "".join(f"{pos[b]}:{f}\0" for b, f in zip(places, folded, strict=True))
                await script(keys=[keys.trace_bucket(cid, b) for b in names], args=[items], client=pipe)
            replies = await pipe.execute()
        for (cid, _, _), (held, first) in zip(self.indexed, replies, strict=True):
            if int(held):
                self.shared[cid] += int(held)
                self.example.setdefault(cid, addresses[int(first) - 1])

    async def _catch_up(self, redis: Redis, staged: Staging) -> None:
        """Compare with the campaigns created since `of_unfinished` (another submit's turn came first):
        this submit's loaded addresses, read back from its staged address index, are looked up in them."""
        known = {cid for cid, _, _ in self.indexed}
        newer = [c for c in (await Overlap.of_unfinished(redis)).indexed if c[0] not in known]
        if not newer:
            return
        since = Overlap(newer)
        async for addresses in staged.loaded(redis):
            await since.add(redis, addresses)
        self.indexed += newer
        self.shared.update(since.shared)
        self.example.update(since.example)

    async def refuse(self, redis: Redis, staged: Staging, file: Path) -> None:
        """Raise when a campaign that has not finished holds addresses of this list, those created while
        it loaded included. Called in submit's commit turn: no campaign is created between this and the commit."""
        if self.compared:
            await self._catch_up(redis, staged)
        if not self.shared:
            return
        states = {cid: state for cid, _, state in self.indexed}
        cid, n = self.shared.most_common(1)[0]
        others = f" (and {len(self.shared) - 1} more campaigns)" if len(self.shared) > 1 else ""
        held = f"{file}: {n:,} of its addresses (such as {self.example[cid]}) are recipients of campaign {cid} "
        if states[cid] in UNFINISHED:
            raise ListOverlapError(
                f"{held}({states[cid]}){others}, which has not finished: they would be mailed twice. Take them out "
                "of the list, wait for that campaign to finish or cancel it, or pass --new to mail them again"
            )
        raise ListOverlapError(
            f"{held}({states[cid]}){others}: a send in flight or in doubt may have reached Tencent, and mailed "
            "again now its address could be mailed twice. Wait a few minutes, until the sweeper has asked Tencent "
            "about each, then export that campaign and submit the rows not accepted; or pass --new"
        )


async def _unsettled(redis: Redis, ended: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """Of the finished (cancelled) campaigns, those with sends in flight or in doubt: an address of theirs
    mailed again now may be mailed twice (the export of a cancelled campaign lists its doubts as not
    accepted). A doubt the sweeper gave up on is the operator's (trace names it), not a reason to refuse."""
    async with redis.pipeline(transaction=False) as pipe:
        for cid, _, _ in ended:
            ck = keys.CampaignKeys(cid)
            pipe.hmget(ck.counts, ["granted", "inflight"])
            pipe.zcard(ck.doubt)  # the doubts the sweeper still asks Tencent about (not those it gave up)
        replies = await pipe.execute(raise_on_error=False)  # a damaged key stops no submit
    out = []
    for k, (cid, buckets, state) in enumerate(ended):
        counts, doubts = replies[2 * k], replies[2 * k + 1]
        if isinstance(counts, Exception) or isinstance(doubts, Exception):  # unreadable: it may be sending
            out.append((cid, buckets, f"{state}, its counts unreadable"))
            continue
        n = int(doubts) + sum(int(c) for c in counts if c is not None and str(c).isdigit())
        if n:
            out.append((cid, buckets, f"{state}, {n:,} in flight or in doubt"))
    return out
