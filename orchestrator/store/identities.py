"""Warm-up state per sending identity, shared by every campaign that uses the identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.core.progress import IdentityProgress
from orchestrator.store import keys


class IdentityConflictError(Exception):
    """An identity is already registered with settings a new campaign contradicts."""


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
        """The tighter of the campaign file's daily_quota and Tencent's live one."""
        known = [q for q in (self.daily_quota, self.live_quota) if q]
        return min(known) if known else None


def _progress(meta: dict[str, str]) -> IdentityProgress:
    last = meta.get("last_sending_date") or ""
    return IdentityProgress(
        warmup_day=int(meta.get("warmup_day", "1")),
        last_sending_date=date.fromisoformat(last) if last else None,
        held_days=int(meta.get("held_days", "0")),
    )


def parse(identity: str, meta: dict[str, str]) -> IdentityState:
    quota = meta.get("daily_quota") or ""
    return IdentityState(
        id=identity,
        from_address=meta.get("from", ""),
        domain=meta.get("domain", ""),
        account=meta.get("account", "default"),
        timezone=meta.get("timezone", "UTC"),
        daily_quota=int(quota) if quota else None,
        progress=_progress(meta),
        open_date=meta.get("open_date", ""),
        open_cap=int(meta.get("open_cap", "0")),
        stopped_until=float(meta.get("stopped_until", "0")),
        live_quota=int(meta["live_quota"]) if meta.get("live_quota") else None,
    )


async def load(redis: Redis, identity: str) -> IdentityState | None:
    meta = await redis.hgetall(keys.IdentityKeys(identity).meta)
    return parse(identity, meta) if meta else None


async def load_many(redis: Redis, ids: list[str]) -> dict[str, IdentityState]:
    async with redis.pipeline(transaction=False) as pipe:
        for i in ids:
            pipe.hgetall(keys.IdentityKeys(i).meta)
        metas = await pipe.execute()
    return {i: parse(i, m) for i, m in zip(ids, metas, strict=True) if m}


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


async def register(redis: Redis, campaign: Campaign) -> None:
    """Create the warm-up state of new identities; refresh address, account and quota of known ones.

    The warm-up day of a known identity is never reset by a campaign file: it belongs to the identity.
    """
    for ident in campaign.identities:
        ik = keys.IdentityKeys(ident.id)
        fields = {
            "from": ident.from_,
            "domain": ident.domain,
            "account": ident.account,
            "timezone": campaign.timezone,
            "daily_quota": str(ident.daily_quota or ""),
        }
        await redis.hsetnx(ik.meta, "warmup_day", str(ident.warmup_day))
        await redis.hset(ik.meta, mapping=fields)
        await redis.sadd(keys.IDENTITIES, ident.id)


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
    return int(await redis.get(keys.IdentityKeys(identity).day(local_date)) or 0)
