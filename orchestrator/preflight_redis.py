"""`orchestrate check`'s lines on the orchestrator's Redis, when one answers: the Redis itself as
submit judges it (its eviction policy and its append-only file, store/server_check.py), and the
campaign's identities against their stored warm-up state. Read only."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.core.campaign import Campaign
from orchestrator.core.checklist import Item
from orchestrator.store import identities
from orchestrator.store.server_check import keeping


async def stored_checks(redis: Redis, url: str, campaign: Campaign) -> list[Item]:
    """The Redis line, then the identities line."""
    return await _redis_keeping(redis, url) + await _known_identities(redis, campaign)


async def _redis_keeping(redis: Redis, url: str) -> list[Item]:
    """Submit's judgement of the Redis itself: refused when it evicts keys, a warning without its AOF."""
    try:
        kept = await keeping(redis)
    except RedisError as exc:
        return [Item("orchestrator", "Redis", "fail", f"cannot read its INFO: {type(exc).__name__}: {exc}")]
    refusal, warning = kept.refusal(url), kept.warning(url)
    if refusal:
        return [Item("orchestrator", "Redis", "fail", refusal, "submit, pacer, worker and up refuse this Redis")]
    if warning:
        return [Item("orchestrator", "Redis", "warn", warning)]
    if kept.policy is None:
        return [Item("orchestrator", "Redis", "info", "its INFO is refused: eviction and append-only file not judged")]
    if kept.aof is None:
        return [
            Item(
                "orchestrator",
                "Redis",
                "ok",
                "evicts nothing (noeviction); its INFO does not say whether it keeps an append-only file",
            )
        ]
    return [Item("orchestrator", "Redis", "ok", "evicts nothing (noeviction) and keeps an append-only file")]


async def _known_identities(redis: Redis, campaign: Campaign) -> list[Item]:
    """What submit would say of the identities' stored warm-up state: one line."""
    try:
        await identities.check_campaign(redis, campaign)
    except (identities.IdentityConflictError, identities.UnreadableIdentityError) as exc:
        fix = (
            "submit refuses this campaign until the file agrees with the stored identity, or with the campaign "
            "pacing it (the keys the line names), or that campaign has finished"
        )
        return [Item("orchestrator", "identities", "fail", str(exc), fix)]
    except RedisError as exc:  # a damaged key: submit would stop on it too
        return [Item("orchestrator", "identities", "fail", f"cannot read them: {type(exc).__name__}: {exc}")]
    return [Item("orchestrator", "identities", "ok", "consistent with their warm-up state in Redis")]
