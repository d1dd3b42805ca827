"""The limiter: one atomic grant (store/lua/grant.lua) that checks every limit and enqueues the granted sends.

The caller says which arq queue the jobs go to and how long they live (`JobQueue`): the job format
is defined once, on the arq side (workers/jobs.py), and the store never imports it. The script is
given every key it touches: the recipients it may pick are peeked first (store/grant_peek.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.core.calendar import tencent_day
from orchestrator.core.plan import Caps
from orchestrator.store import keys
from orchestrator.store.grant_peek import GroupCache, Peek, peek
from orchestrator.store.scripts import Scripts, as_str_list

#: How many times one grant calls the script when its peeked recipients run out (reason `more`).
MAX_CALLS = 4
#: Recipients peeked per source on a first call: twice what the last call granted, plus this.
WINDOW_EXTRA = 16
#: Where in the script's ARGV (0-based) the per-group caps go.
GROUPS_ARG = 21
#: The script's KEYS before the other identities' domain shares and the candidates (its header's 1-20).
FIXED_KEYS = 18


@dataclass(frozen=True, slots=True)
class JobQueue:
    """Where the grant script writes each grant's send job, and how long the job waits there."""

    name: str  # arq's queue (a sorted set)
    expires_ms: int
    function: str  # the job function's name
    job_key_prefix: str  # arq keeps a job under this prefix + its id
    id_prefix: str  # a send job's id: id_prefix + "campaign:index:grant"

    def job_id(self, cid: str, idx: int, grant: str) -> str:
        """One job id per grant: a grant is never enqueued twice while its job lives."""
        return f"{self.id_prefix}{cid}:{idx}:{grant}"


@dataclass(frozen=True, slots=True)
class Grant:
    idx: int
    grant: str  # "identity:seq"


@dataclass(frozen=True, slots=True)
class GrantResult:
    reason: str  # what stopped the grants: want_met, identity_hour, spacing, no_backlog, more, ...
    wait_s: float  # how long until the next grant could succeed; < 0: nothing waits
    grants: list[Grant]


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit one grant call checks, already computed by the core."""

    identity: Caps
    pool: Caps
    account_interval_s: float
    account_burst: int
    catchup_s: float
    domain_share: float  # 0 turns the recipient-domain share off
    #: Per-domain shaping (None: off): provider group -> its own (hourly, daily, held until) caps;
    #: a group not named has only the identity's (store/group_state.py).
    groups: Mapping[str, tuple[int, int, float]] | None = None

    def groups_arg(self, declared: Iterable[str]) -> str:
        """ARGV 22 for one script call: the caps of the `declared` groups that have their own.

        The script only admits a recipient whose group's held list was declared (grant.lua `usable`),
        so it never looks up another group's caps; an identity's groups may run to thousands.
        """
        if self.groups is None:
            return ""
        own = {g: list(self.groups[g]) for g in sorted(declared) if g in self.groups}
        return json.dumps(own, separators=(",", ":"))


class NotLeaderError(Exception):
    """The grant was refused: the fence token given is no longer the leader lock's (another pacer leads)."""


class Limiter:
    """Grants sends against the limits held in Redis, shared by every pacer and host."""

    def __init__(self, scripts: Scripts, jobs: JobQueue) -> None:
        self.scripts = scripts
        self.jobs = jobs
        #: The leader lock's token this limiter's grants need (workers/pacer.py sets it while it leads);
        #: None: no fence (the virtual-clock driver and tests run one pacer in one process).
        self.fence: str | None = None
        self._last: dict[tuple[str, str], int] = {}  # (campaign, identity) -> sends its last grant gave
        self._groups = GroupCache()
        #: campaign -> (its queue holds mail, up to 3 of its held groups), read this tick (`new_tick`) for the
        #: campaigns that share an identity, and read again after a grant call of that campaign changed them.
        self._waiting: dict[str, tuple[bool, tuple[str, ...]]] = {}
        #: Script calls made, and how many of them were a second (or later) call of one grant.
        self.calls = 0
        self.calls_again = 0

    async def grant(
        self,
        ck: keys.CampaignKeys,
        identity: str,
        account: str,
        now: float,
        want: int,
        limits: Limits,
        local_date: str,
        local_hour: int,
        to_midnight_s: float,
        grant_deadline_s: float = 120.0,
        day_ttl_s: int = 40 * 86400,
        wall_now: float | None = None,
        quota: int | None = None,
        peers: Sequence[str] = (),
        rivals: Sequence[str] = (),
    ) -> GrantResult:
        """Grant up to `want` sends at `now` and enqueue their jobs (arq scores them at `wall_now`).

        `peers`: the campaign's other identities; a recipient this one holds back for its domain share
        is due as soon as one of them may send it. `rivals`: the other running campaigns using this
        identity: mail of theirs waiting keeps the domain share holding (the share is of the identity's hour).
        """
        wall_now = now if wall_now is None else wall_now
        quota_date, to_quota_day_s = tencent_day(now)
        ik = keys.IdentityKeys(identity)
        others = [keys.IdentityKeys(p) for p in dict.fromkeys(peers) if p != identity]
        # Their domain shares, rolling hours and day counts: the pool's are the sums of its identities'.
        peer_keys = [o.domains for o in others] + [o.hour for o in others] + [o.day(local_date) for o in others]
        fixed = self._keys(ck, ik, account, local_date, quota_date) + peer_keys
        args: list[str | int] = [
            repr(now),
            want,
            limits.identity.hourly,
            limits.identity.daily,
            limits.pool.hourly,
            limits.pool.daily,
            repr(limits.account_interval_s),
            limits.account_burst,
            repr(limits.catchup_s),
            day_ttl_s,
            ck.cid,
            identity,
            repr(limits.domain_share),
            repr(grant_deadline_s),
            repr(to_midnight_s),
            self.jobs.function,
            f"{local_hour:02d}",
            int(wall_now * 1000),
            self.jobs.expires_ms,
            quota or 0,
            repr(to_quota_day_s),
            "",  # the groups' own caps: per call, for the groups it declares (`_call`)
        ]
        share_on = limits.domain_share > 0 or limits.groups is not None
        waiting = await self._rivals_waiting(rivals) if share_on and rivals else ""
        self._waiting.pop(ck.cid, None)  # the call moves its queue and held list: read again when a rival asks
        return await self._calls(ck, identity, now, want, share_on, fixed, args, limits, waiting)

    def new_tick(self) -> None:
        """Forget what the campaigns had waiting: a tick reads each once (`_rivals_waiting`), not once per
        campaign and identity sharing it (128 campaigns on two identities: 65,000 reads a tick)."""
        self._waiting.clear()

    async def _rivals_waiting(self, rivals: Sequence[str]) -> str:
        """What the other campaigns on the identity have waiting, as the script's ARGV 26: whether a queue
        of theirs holds mail, and (up to 3 of) the domain groups they hold back."""
        unread = [cid for cid in dict.fromkeys(rivals) if cid not in self._waiting]
        if unread:
            async with self.scripts.redis.pipeline(transaction=False) as pipe:
                for cid in unread:
                    rk = keys.CampaignKeys(cid)
                    pipe.llen(rk.queue)
                    pipe.zrange(rk.held, 0, 2)
                replies = await pipe.execute()
            for n, cid in enumerate(unread):
                self._waiting[cid] = (bool(replies[2 * n]), tuple(str(g) for g in replies[2 * n + 1]))
        held = sorted({g for cid in rivals for g in self._waiting[cid][1]})
        return json.dumps({"q": any(self._waiting[cid][0] for cid in rivals), "g": held})

    async def _calls(
        self,
        ck: keys.CampaignKeys,
        identity: str,
        now: float,
        want: int,
        share_on: bool,
        fixed: list[str],
        args: list[str | int],
        limits: Limits,
        waiting: str,
    ) -> GrantResult:
        """Call the script until it stops for a reason other than running out of peeked recipients."""
        redis, job = self.scripts.redis, (self.jobs.job_key_prefix, self.jobs.job_id)
        window = min(2 * self._last.get((ck.cid, identity), 0), 2 * want) + WINDOW_EXTRA
        grants: list[Grant] = []
        groups: set[str] = set()  # domain groups a call stopped at: their held lists are declared next time
        reason, wait_s = "more", 0.0
        for call in range(MAX_CALLS):
            p = await peek(redis, ck, identity, job, now, window, share_on, groups, len(fixed) + 1, self._groups)
            args[1] = want - len(grants)
            args[GROUPS_ARG] = limits.groups_arg(p.held)
            reason, wait_s, got = await self._call(fixed, args, p, waiting)
            grants += got
            self.calls += 1
            self.calls_again += call > 0
            if not reason.startswith("more"):
                break
            if "|" in reason:
                groups.add(reason.partition("|")[2])
            window = 2 * want + WINDOW_EXTRA
        self._last[(ck.cid, identity)] = len(grants)
        return GrantResult(reason.partition("|")[0], wait_s, grants)

    async def _call(
        self, fixed: list[str], args: list[str | int], p: Peek, waiting: str
    ) -> tuple[str, float, list[Grant]]:
        peers = (len(fixed) - FIXED_KEYS) // 3  # each other identity: domain share, hour, day count
        extra: list[str | int] = [p.declared, self.fence or "", peers, waiting]
        reply = await self.scripts.grant(keys=fixed + p.keys, args=[*args, *extra])
        parts = as_str_list(reply)
        if parts[0] == "not_leader":
            raise NotLeaderError("the pacer leader lock is held by another pacer")
        grants = [Grant(int(parts[i]), parts[i + 1]) for i in range(2, len(parts), 2)]
        return parts[0], float(parts[1]), grants

    def _keys(
        self, ck: keys.CampaignKeys, ik: keys.IdentityKeys, account: str, local_date: str, quota_date: str
    ) -> list[str]:
        """The grant script's fixed KEYS, in the order its header names them."""
        return [
            ck.meta,
            ck.queue,
            ck.later,
            ck.held,
            ck.counts,
            ck.inflight,
            ik.hour,
            ik.day(local_date),
            ik.gcra,
            keys.account_gcra(account),
            self.jobs.name,
            ik.quota_day(quota_date),
            ck.hours_prefix + local_date,
            ik.domains,
            ck.blocks,
            ik.group_tat,
            ik.group_day(local_date),
            keys.PACER_LOCK,
        ]
