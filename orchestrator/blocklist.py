"""`blocklist`: Tencent's blocklist mirrored in Redis: read it in (sync), list it, release an address."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Protocol, cast

from redis.asyncio import Redis

from orchestrator.core.addresses import shown
from orchestrator.core.calendar import TENCENT_ZONE
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.ses.errors import SesError
from orchestrator.ses.records import BlacklistPage
from orchestrator.store import identities, keys
from orchestrator.store import suppression as store
from orchestrator.store.suppression import BLOCKLIST_KEEP_S, BlockEntry

#: ListBlackEmailAddress's page size, and the most pages one account's sync reads.
PAGE_LIMIT: Final = 100
MAX_PAGES: Final = 2000
_BOUNCE_TIME = "%Y-%m-%d %H:%M:%S"


class BlocklistSource(Protocol):
    """What the sync and the release need of Tencent (ses/client.TencentSender has it)."""

    async def list_blacklist(
        self,
        start: date,
        end: date,
        *,
        account: str = ...,
        address: str | None = ...,
        offset: int = ...,
        limit: int = ...,
    ) -> BlacklistPage: ...

    async def delete_blacklist(self, addresses: list[str], account: str = ...) -> None: ...


class NotBlockedError(LookupError):
    """The address is not in the blocklist mirror."""


class NotAnAddressError(ValueError):
    """The address given is no e-mail address at all (a mistyped argument)."""


@dataclass
class SyncReport:
    """Per account: how many addresses Tencent lists, added to and removed from the mirror; or the error."""

    accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {"accounts": self.accounts, "errors": self.errors}


async def accounts_in_use(redis: Redis) -> list[str]:
    """The Tencent accounts of every registered identity (the default account when there is none)."""
    members = await cast("Awaitable[set[str]]", redis.smembers(keys.IDENTITIES))  # redis-py types it as either
    ids = sorted(str(i) for i in members)
    found, _unreadable = await identities.load_readable(redis, ids)
    return sorted({s.account for s in found.values()}) or [DEFAULT_ACCOUNT]


def bounce_time(text: str, fallback: float) -> float:
    """Tencent's BounceTime (China time, 'YYYY-MM-DD HH:MM:SS') in Unix seconds; `fallback` if unreadable."""
    try:
        return datetime.strptime(text.strip(), _BOUNCE_TIME).replace(tzinfo=TENCENT_ZONE).timestamp()
    except ValueError:
        return fallback


async def read_account(source: BlocklistSource, account: str, now: float) -> list[BlockEntry]:
    """Every address Tencent lists for `account` that is still within its 14 days, page by page."""
    end = datetime.fromtimestamp(now, tz=TENCENT_ZONE).date()
    start = datetime.fromtimestamp(now - BLOCKLIST_KEEP_S, tz=TENCENT_ZONE).date()
    out: dict[str, BlockEntry] = {}
    offset = 0
    for _ in range(MAX_PAGES):
        page = await source.list_blacklist(start, end, account=account, offset=offset, limit=PAGE_LIMIT)
        for e in page.entries:
            address = store.address_key(e.address, store.Scope.BLOCKLIST)
            bounced = bounce_time(e.bounce_time, now)
            if address is not None and bounced + BLOCKLIST_KEEP_S > now:
                out[address] = BlockEntry(address, bounced, bounced + BLOCKLIST_KEEP_S, e.isp, account)
        offset += len(page.entries)
        if not page.entries or offset >= page.total_count:
            break
    return list(out.values())


async def sync(redis: Redis, source: BlocklistSource, now: float, accounts: list[str] | None = None) -> SyncReport:
    """Read each account's blocklist into the mirror; an account that fails keeps its previous entries."""
    report = SyncReport()
    for account in accounts or await accounts_in_use(redis):
        try:
            listed = await read_account(source, account, now)
        except SesError as exc:
            report.errors[account] = f"{exc.code}: {exc.detail}"
            continue
        added, removed = await store.replace_blocklist(redis, account, listed, now)
        report.accounts[account] = {"listed": len(listed), "added": added, "removed": removed}
    return report


async def listing(redis: Redis, now: float) -> tuple[list[BlockEntry], dict[str, float | None]]:
    """The mirror's entries still in force, and when each account was last synced."""
    entries = [e for e in await store.blocklist(redis, now) if e.expires_at > now]
    return entries, await store.last_synced(redis)


def address_of(raw: str) -> str:
    """The blocklist's key of `raw`; NotAnAddressError when it is no e-mail address."""
    address = store.address_key(raw, store.Scope.BLOCKLIST)
    if address is None:
        msg = f"not an e-mail address: {shown(raw)}"
        raise NotAnAddressError(msg)
    return address


async def release(redis: Redis, source: BlocklistSource, raw: str, now: float) -> BlockEntry:
    """DeleteBlackList for the address (on the account that listed it), then drop our copy.

    A refusal of Tencent raises its SesError and keeps our copy: the address is still blocked there.
    """
    address = address_of(raw)
    entry = next((e for e in await store.blocklist(redis, now) if e.address == address), None)
    if entry is None:
        msg = f"{address} is not in the blocklist mirror (see `orchestrate blocklist list`; run `blocklist sync`)"
        raise NotBlockedError(msg)
    for account in [entry.account] if entry.account else await accounts_in_use(redis):
        await source.delete_blacklist([address], account=account)
    await store.unblock(redis, address, now)
    return entry
