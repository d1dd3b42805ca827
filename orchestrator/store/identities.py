"""Warm-up state per sending identity, shared by every campaign that uses the identity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core.campaign import Campaign, Identity
from orchestrator.core.campaign_state import UNFINISHED
from orchestrator.core.identity_sharing import PACING_KEYS, pacing_differences
from orchestrator.core.progress import MAX_WARMUP_DAY, IdentityProgress, ProgressRules, close_day
from orchestrator.store import campaigns, keys
from orchestrator.store.stored_values import MAX_WHOLE, BadStoredValueError, iso_date, moment, refused, whole


class IdentityConflictError(Exception):
    """An identity is already registered with settings a new campaign contradicts."""


class UnreadableIdentityError(Exception):
    """An identity's stored state cannot be read: the campaigns that use it are unreadable until it is fixed."""

    def __init__(self, identity: str, reason: str) -> None:
        super().__init__(f"identity {identity} cannot be read: {reason}")
        self.identity = identity
        self.reason = reason  # names the field, never the stored value


@dataclass(frozen=True, slots=True)
class IdentityState:
    id: str
    from_address: str
    domain: str
    account: str
    timezone: str
    daily_quota: int | None
    progress: IdentityProgress
    open_date: str  # the local date whose sends are being counted ("" before the first send)
    open_cap: int  # the daily cap in force on open_date (for the day-advance rule)
    stopped_until: float  # Tencent's daily quota ran out: no sends before this time
    live_quota: int | None = None  # the quota Tencent reported last (ListEmailIdentities)

    @property
    def quota(self) -> int | None:
        """Tencent's daily quota: the one it reported last (ListEmailIdentities, read by the pacer every
        QUOTA_REFRESH_S), else the campaign file's `daily_quota` until the first read. The file's value
        is a snapshot of Tencent's: when Tencent raises the domain's level, the warm-up follows (a
        ceiling of the user's own is `plan.target_daily`)."""
        return self.live_quota or self.daily_quota or None


def _progress(meta: dict[str, str]) -> IdentityProgress:
    return IdentityProgress(
        warmup_day=whole(meta.get("warmup_day"), "warmup_day", 1, low=1, high=MAX_WARMUP_DAY),
        last_sending_date=iso_date(meta.get("last_sending_date"), "last_sending_date"),
        held_days=whole(meta.get("held_days"), "held_days"),
    )


def _quota(meta: dict[str, str], name: str) -> int | None:
    return whole(meta.get(name), name) or None  # absent, empty or 0: unknown


def parse(identity: str, meta: dict[str, str]) -> IdentityState:
    """An identity's stored state; `UnreadableIdentityError` when a stored value cannot be read."""
    try:
        open_date = iso_date(meta.get("open_date"), "open_date")
        return IdentityState(
            id=identity,
            from_address=meta.get("from", ""),
            domain=meta.get("domain", ""),
            account=meta.get("account", "default"),
            timezone=meta.get("timezone", "UTC"),
            daily_quota=_quota(meta, "daily_quota"),
            progress=_progress(meta),
            open_date=open_date.isoformat() if open_date else "",
            open_cap=whole(meta.get("open_cap"), "open_cap"),
            stopped_until=moment(meta.get("stopped_until"), "stopped_until"),
            live_quota=_quota(meta, "live_quota"),
        )
    except BadStoredValueError as exc:
        raise UnreadableIdentityError(identity, str(exc)) from None


def _parse_reply(identity: str, reply: object) -> IdentityState | None:
    """One HGETALL reply (or the error Redis answered it with) as a state; None when the identity has none."""
    why = refused(reply)
    if why is not None:
        raise UnreadableIdentityError(identity, why)
    return parse(identity, reply) if reply else None  # type: ignore[arg-type]


async def load(redis: Redis, identity: str) -> IdentityState | None:
    """An identity's state, None when it has none; `UnreadableIdentityError` when it cannot be read."""
    try:
        meta = await redis.hgetall(keys.IdentityKeys(identity).meta)
    except ResponseError as exc:
        raise UnreadableIdentityError(identity, refused(exc) or "Redis refused a command") from None
    return _parse_reply(identity, meta)


async def load_readable(redis: Redis, ids: list[str]) -> tuple[dict[str, IdentityState], dict[str, str]]:
    """The states of `ids` that can be read, and why each of the others cannot (ids without state are left out)."""
    async with redis.pipeline(transaction=False) as pipe:
        for i in ids:
            pipe.hgetall(keys.IdentityKeys(i).meta)
        replies = await pipe.execute(raise_on_error=False)
    states: dict[str, IdentityState] = {}
    unreadable: dict[str, str] = {}
    for i, reply in zip(ids, replies, strict=True):
        try:
            state = _parse_reply(i, reply)
        except UnreadableIdentityError as exc:
            unreadable[i] = exc.reason
            continue
        if state is not None:
            states[i] = state
    return states, unreadable


async def load_many(redis: Redis, ids: list[str]) -> dict[str, IdentityState]:
    """The states of `ids` (those that have one); `UnreadableIdentityError` for the first that cannot be read."""
    states, unreadable = await load_readable(redis, ids)
    for identity, reason in unreadable.items():
        raise UnreadableIdentityError(identity, reason)
    return states


def check_compatible(existing: IdentityState, campaign: Campaign, identity_id: str) -> None:
    """Raise when `campaign` declares `identity_id` differently from its stored warm-up state."""
    ident = next(i for i in campaign.identities if i.id == identity_id)
    if existing.timezone != campaign.timezone:
        msg = (
            f"identity {identity_id!r} counts its days in {existing.timezone}, but this campaign uses "
            f"{campaign.timezone}: one identity has one day boundary (use the same timezone)"
        )
        raise IdentityConflictError(msg)
    if existing.from_address and existing.domain != ident.domain:
        msg = (
            f"identity {identity_id!r} is registered for domain {existing.domain}, "
            f"this campaign gives {ident.domain}: use another identity id"
        )
        raise IdentityConflictError(msg)


async def _owners(redis: Redis) -> dict[tuple[str, str], set[str]]:
    """(account, lower-cased sender domain) -> the identity ids registered for it (none of a damaged identity)."""
    ids = sorted(await redis.smembers(keys.IDENTITIES))
    async with redis.pipeline(transaction=False) as pipe:
        for i in ids:
            pipe.hmget(keys.IdentityKeys(i).meta, ["account", "domain"])
        replies = await pipe.execute(raise_on_error=False)  # a damaged identity stops only what uses it
    owners: dict[tuple[str, str], set[str]] = {}
    for i, reply in zip(ids, replies, strict=True):
        if isinstance(reply, list) and reply[1]:
            owners.setdefault((str(reply[0] or "default"), str(reply[1]).lower()), set()).add(str(i))
    return owners


async def sender_domains(redis: Redis) -> set[str]:
    """The sender domains of every identity ever registered, lower-cased (none of a damaged identity)."""
    return {domain for _, domain in await _owners(redis)}


async def check_domains(redis: Redis, campaign: Campaign) -> None:
    """Raise when another identity id already warms up one of `campaign`'s sender domains (per account).

    The warm-up state is the id's: two ids on one domain would each get the whole plan, on one IP."""
    owners = await _owners(redis)
    for ident in campaign.identities:
        known = owners.get((ident.account, ident.domain.lower()), {ident.id})
        if ident.id not in known:  # ids that already share a domain (before this rule) keep working
            named = " or ".join(repr(o) for o in sorted(known))
            msg = (
                f"identity {ident.id!r}: the sender domain {ident.domain} (account {ident.account}) is warmed up "
                f"as identity {named}; name it so here and both campaigns share one warm-up (two ids "
                "would each be given the whole plan, on one domain and IP)"
            )
            raise IdentityConflictError(msg)


async def check_campaign(redis: Redis, campaign: Campaign) -> None:
    """Raise when an identity already known in Redis cannot take this campaign (submit refuses it; check
    says so beforehand): another id warms up its domain, its stored state names another time zone, or an
    unfinished campaign paces it differently (core/identity_sharing.py)."""
    await check_domains(redis, campaign)
    for ident in campaign.identities:
        state = await load(redis, ident.id)
        if state is not None:
            check_compatible(state, campaign, ident.id)
    await check_sharing(redis, campaign)


async def check_sharing(redis: Redis, campaign: Campaign) -> None:
    """Raise when a running or paused campaign shares an identity with `campaign` but paces it differently.

    A campaign that cannot be read is not compared (status lists it; the pacer skips it)."""
    mine = {i.id for i in campaign.identities}
    for cid in await campaigns.all_ids(redis):
        rec = await campaigns.load(redis, cid)
        if not isinstance(rec, campaigns.CampaignRecord) or rec.state not in UNFINISHED:
            continue
        shared = sorted(mine.intersection(rec.identities))
        differences = pacing_differences(campaign, rec.spec) if shared else []
        if differences:
            msg = (
                f"identity {shared[0]!r} is paced by campaign {cid} ({rec.state.value}), and this campaign "
                f"differs from it in {', '.join(differences)}: campaigns that share an identity while they "
                "send share its counters, warm-up day and day roll, so they need the same identities, "
                f"{', '.join(PACING_KEYS)}; make those keys the same, or wait for {cid} to finish "
                "(or cancel it)"
            )
            raise IdentityConflictError(msg)


def _fields(ident: Identity, campaign: Campaign) -> dict[str, str]:
    """What a campaign file says of one of its identities: refreshed at every committed submit. A file
    without `daily_quota` leaves the one stored (another campaign's word on the identity's quota)."""
    fields = {"from": ident.from_, "domain": ident.domain, "account": ident.account, "timezone": campaign.timezone}
    return fields | ({"daily_quota": str(ident.daily_quota)} if ident.daily_quota else {})


def registration(campaign: Campaign) -> tuple[list[str], list[str]]:
    """What registering the campaign's identities writes, for submit's commit script (lua/submit_commit.lua),
    which writes it in the same step as the campaign (a submit that never commits registers nothing):
    its KEYS (each identity's hash) and ARGV (per identity: id, warm-up day, the number of fields, then
    field, value pairs).

    A new identity gets its warm-up state; a known one has its address, account, time zone and quota
    refreshed. The warm-up day of a known identity is never reset by a campaign file: it belongs to it.
    """
    names: list[str] = []
    args: list[str] = []
    for ident in campaign.identities:
        fields = _fields(ident, campaign)
        names.append(keys.IdentityKeys(ident.id).meta)
        args += [ident.id, str(ident.warmup_day), str(len(fields)), *(x for kv in fields.items() for x in kv)]
    return names, args


async def save_progress(redis: Redis, identity: str, progress: IdentityProgress, open_date: str, open_cap: int) -> None:
    await redis.hset(
        keys.IdentityKeys(identity).meta,
        mapping={
            "warmup_day": str(progress.warmup_day),
            "last_sending_date": progress.last_sending_date.isoformat() if progress.last_sending_date else "",
            "held_days": str(progress.held_days),
            "open_date": open_date,
            "open_cap": str(open_cap),
        },
    )


async def set_live_quota(redis: Redis, identity: str, quota: int, level: int) -> None:
    await redis.hset(
        keys.IdentityKeys(identity).meta, mapping={"live_quota": str(quota), "reputation_level": str(level)}
    )


async def stop_until(redis: Redis, identity: str, until: float) -> None:
    await redis.hset(keys.IdentityKeys(identity).meta, "stopped_until", repr(until))


async def sent_on(redis: Redis, identity: str, local_date: str) -> int:
    """What the identity sent on `local_date`; `UnreadableIdentityError` when the stored count cannot be read."""
    try:
        return whole(
            await redis.get(keys.IdentityKeys(identity).day(local_date)), f"count of {local_date}", low=-MAX_WHOLE
        )
    except ResponseError as exc:
        raise UnreadableIdentityError(identity, refused(exc) or "Redis refused a command") from None
    except BadStoredValueError as exc:
        raise UnreadableIdentityError(identity, str(exc)) from None


async def load_rolled(redis: Redis, spec: Campaign, now: float) -> dict[str, IdentityState]:
    """The states of `spec`'s identities as the pacer's next tick finds them once it has closed each open
    day of a date now past (core/progress.close_day; a guardrail's hold aside, which `status` shows
    beside it): the warm-up day `status` and `resume` show. A campaign paused over midnight, or days,
    has its last day closed only when it runs again; its stored day is the one before that close."""
    states = await load_many(redis, [i.id for i in spec.identities])
    today = datetime.fromtimestamp(now, tz=spec.zone).date().isoformat()
    rules = spec.plan.progress_rules(spec.mode)
    for ident, st in states.items():
        if st.open_date and st.open_date < today:
            states[ident] = replace(st, progress=(await close_open_day(redis, st, rules))[1])
    return states


async def close_open_day(
    redis: Redis, state: IdentityState, rules: ProgressRules, hold: bool = False
) -> tuple[int, IdentityProgress]:
    """What the identity sent on its open day, and its progress once that day is closed (core/progress.
    close_day against the day's cap, `hold` when a guardrail holds it): the pacer's day roll stores it,
    `status` and `resume` show it before."""
    sent = await sent_on(redis, state.id, state.open_date)
    return sent, close_day(state.progress, date.fromisoformat(state.open_date), sent, state.open_cap, rules, hold)
