"""The pacer's periodic blocklist sync: Tencent's blocklist read into Redis every BLOCKLIST_SYNC_S."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from redis.asyncio import Redis

from orchestrator import blocklist
from orchestrator.core.clock import Clock
from orchestrator.store import suppression
from orchestrator.store.connection import error_text

log = structlog.get_logger("workers.blocklist")


class BlocklistSync:
    """Reads every account's blocklist into the mirror (orchestrator/blocklist.sync), while this pacer leads."""

    def __init__(self, redis: Redis, source: blocklist.BlocklistSource, clock: Clock, every_s: float) -> None:
        self.redis = redis
        self.source = source
        self.clock = clock
        self.every_s = every_s

    async def once(self) -> blocklist.SyncReport | None:
        """One sync; a failure (Redis restarting, Tencent out) is logged and tried again next time."""
        try:
            # Lists written as SETs by an older version become hashes before anything reads them.
            converted = await suppression.migrate_all(self.redis, self.clock.now())
            if converted:
                log.info("suppression_migrated", entries=converted)
            report = await blocklist.sync(self.redis, self.source, self.clock.now())
        except Exception as exc:
            log.warning("blocklist_sync_failed", error=type(exc).__name__, detail=error_text(exc)[:200])
            return None
        for account, error in report.errors.items():
            log.warning("blocklist_sync_failed", account=account, detail=error[:200])
        for account, counts in report.accounts.items():
            log.info("blocklist_synced", account=account, **counts)
        return report

    async def run(self, leading: asyncio.Event, stop: asyncio.Event) -> None:
        """Sync as soon as this process leads, then every `every_s` while it does, until `stop`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leading.wait(), timeout=self.every_s)
            if leading.is_set() and not stop.is_set():
                await self.once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
