"""The suppression store: the addresses that must not be mailed, and why, in three Redis hashes.

Layout (the callbacks' Lua writes the first two; store/lua/claim.lua reads all three):

- `wo:supp:domain:<sender domain>`: address -> {"reason", "at", "source": unsubscribe | operator |
  import}: never mail the address from that sender domain, in any campaign, later ones included.
- `wo:supp:all`: address -> {"reason", "at", "source": complaint | hard_bounce | operator | import}:
  never mail it from any sender domain of ours.
- `wo:supp:blocklist`: address -> {"bounced_at", "expires_at", "reason" (Tencent's IspDesc),
  "account"}: the mirror of Tencent's blocklist; an entry stops suppressing at `expires_at`
  (`bounced_at` + 14 days, as Tencent keeps an address), compared with `now` at submit and claim.

A field of every list is the address folded (`core/addresses.fold`: ASCII letters lower-cased, the
local part too, as Lua's string.lower in the claim script): mailbox providers and Tencent read the
local part without case, so an entry for `Jiwoo@` stops `jiwoo@` too (`put` and `block` fold what
they write). An entry an older release wrote as it was written (`Lee@example.com`) is still found
for that exact address, and `remove` takes it off when given that spelling (or the folded one).
`at`, `bounced_at`, `expires_at` are Unix seconds. Lists written as SETs by older versions are turned
into these hashes on first use (`migrate`), the reason "recorded before reasons were kept".
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core.addresses import fold, normalize_address
from orchestrator.store import keys
from orchestrator.store.scripts import as_str_list
from orchestrator.store.scripts import source as script_source
from orchestrator.store.stored_values import BadStoredValueError, moment

#: How long Tencent keeps an address on its blocklist (docs: 14 days), counted from its bounce.
BLOCKLIST_KEEP_S: Final = 14 * 86400
LEGACY_REASON: Final = "recorded before reasons were kept"
DOMAIN_SOURCES: Final = ("unsubscribe", "operator", "import")
ALL_SOURCES: Final = ("complaint", "hard_bounce", "operator", "import")


class Scope(StrEnum):
    """Which list an entry is on."""

    DOMAIN = "domain"  # one sender domain
    ALL = "all"  # every sender domain
    BLOCKLIST = "blocklist"  # Tencent's blocklist (the mirror)


@dataclass(frozen=True, slots=True)
class Entry:
    """One address on the domain or all-domains list."""

    address: str
    sender_domain: str  # "" on the all-domains list
    reason: str
    at: float
    source: str

    def as_json(self) -> dict[str, object]:
        scope = Scope.DOMAIN if self.sender_domain else Scope.ALL
        return {"address": self.address, "scope": scope.value, "sender_domain": self.sender_domain} | {
            "reason": self.reason,
            "at": self.at,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """One address of the blocklist mirror."""

    address: str
    bounced_at: float
    expires_at: float
    reason: str
    account: str

    def as_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "bounced_at": self.bounced_at,
            "expires_at": self.expires_at,
            "reason": self.reason,
            "account": self.account,
        }


def address_as_written(raw: str) -> str | None:
    """The address normalised as submit does (domain lower-cased, local part as written); None: not one."""
    return normalize_address(raw)[0]


def address_key(raw: str, scope: Scope = Scope.DOMAIN) -> str | None:
    """The field an address is stored under on a list of `scope` (None: not an e-mail address)."""
    norm, _ = normalize_address(raw)
    if norm is None:
        return None
    del scope  # every list keys an address the same way: folded (core/addresses.fold)
    return fold(norm)


def list_key(sender_domain: str) -> str:
    """The hash of one sender domain, or the all-domains hash for ""."""
    return keys.suppression(sender_domain.lower()) if sender_domain else keys.SUPPRESS_ALL


def encode(reason: str, at: float, source: str) -> str:
    return json.dumps({"reason": reason, "at": at, "source": source}, ensure_ascii=False)


def encode_block(bounced_at: float, reason: str, account: str) -> str:
    entry = {"bounced_at": bounced_at, "expires_at": bounced_at + BLOCKLIST_KEEP_S, "reason": reason}
    return json.dumps(entry | {"account": account}, ensure_ascii=False)


def _fields(raw: str) -> dict[str, object]:
    """A stored entry's fields; an unreadable one keeps its text as the reason (it still suppresses)."""
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"reason": f"unreadable entry: {raw[:80]}"}


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def decode(address: str, sender_domain: str, raw: str) -> Entry:
    f = _fields(raw)
    return Entry(address, sender_domain, str(f.get("reason", "")), _num(f.get("at")), str(f.get("source", "")))


def decode_block(address: str, raw: str) -> BlockEntry:
    f = _fields(raw)
    expires = _num(f.get("expires_at")) if "expires_at" in f else float("inf")
    return BlockEntry(address, _num(f.get("bounced_at")), expires, str(f.get("reason", "")), str(f.get("account", "")))


def reason_code(by: str, raw: str) -> str:
    """The ledger's reason for a recipient a list stopped: `blocklist`, `all:<source>`, `domain:<source>`."""
    if by == Scope.BLOCKLIST:
        return "blocklist"
    return f"{by}:{_fields(raw).get('source', '') or 'unknown'}"


def reason_detail(by: str, raw: str) -> str:
    """The human reason kept in the event stream: the entry's own reason text."""
    return str(_fields(raw).get("reason", ""))[:200] if by else ""


# --- migration from the SETs of older versions ---


async def migrate(redis: Redis, names: list[str], now: float) -> int:
    """Convert those of `names` still SETs into hashes, each atomically; returns the members converted."""
    if not names:
        return 0
    # The old SETs were filled by Tencent's answers to sends: a blocklist refusal, an unsubscribe.
    legacy = [
        encode_block(now, LEGACY_REASON, "")
        if name == keys.BLOCKLIST
        else encode(LEGACY_REASON, now, "import" if name == keys.SUPPRESS_ALL else "unsubscribe")
        for name in names
    ]
    script = redis.register_script(script_source("supp_migrate"))
    return int(await script(keys=names, args=[*legacy, keys.BLOCKLIST]))


async def listed_domains(redis: Redis) -> set[str]:
    """The sender domains whose list was ever written (by `put`, or found by `sender_domains`): no scan."""
    return {str(d) for d in await redis.smembers(keys.SUPPRESS_DOMAINS)}


async def sender_domains(redis: Redis) -> list[str]:
    """Every sender domain with a suppression list."""
    found = [str(k) async for k in redis.scan_iter(match=keys.SUPPRESS_DOMAIN_PREFIX + "*", count=1000)]
    domains = sorted(k.removeprefix(keys.SUPPRESS_DOMAIN_PREFIX) for k in found)
    if domains:  # lists an earlier release wrote join the set trace reads (SUPPRESS_DOMAINS)
        with contextlib.suppress(ResponseError):  # a full or read-only Redis: this read still answers
            await redis.sadd(keys.SUPPRESS_DOMAINS, *domains)
    return domains


async def migrate_all(redis: Redis, now: float) -> int:
    """Convert every suppression list still written as a SET (the workers and the pacer call it at start)."""
    names = [keys.BLOCKLIST, keys.SUPPRESS_ALL, *(keys.suppression(d) for d in await sender_domains(redis))]
    return await migrate(redis, names, now)


# --- the domain and all-domains lists ---


async def put(redis: Redis, entries: list[Entry], now: float) -> None:
    """Write `entries` all at once (MULTI/EXEC: every one or, on an error, none), each address folded."""
    await migrate(redis, sorted({list_key(e.sender_domain) for e in entries}), now)
    await _write(redis, entries)


async def _write(redis: Redis, entries: list[Entry]) -> None:
    """`put` on lists already migrated: the entries and their sender domains (SUPPRESS_DOMAINS) in one MULTI."""
    domains = sorted({e.sender_domain.lower() for e in entries if e.sender_domain})
    async with redis.pipeline(transaction=True) as pipe:
        for e in entries:
            pipe.hset(list_key(e.sender_domain), fold(e.address), encode(e.reason, e.at, e.source))
        if domains:
            pipe.sadd(keys.SUPPRESS_DOMAINS, *domains)
        await pipe.execute()


async def put_new(redis: Redis, entry: Entry, now: float) -> Entry | None:
    """Write `entry` unless its address is on that list already: then the entry there (left as it is)."""
    name = list_key(entry.sender_domain)
    await migrate(redis, [name], now)
    folded = fold(entry.address)
    for raw in await redis.hmget(name, [folded, entry.address]):  # folded, or as written before lists were
        if raw is not None:
            return decode(folded, entry.sender_domain, str(raw))
    await _write(redis, [entry])  # the list was migrated above
    return None


async def remove(redis: Redis, address: str, sender_domain: str, now: float) -> bool:
    """Take `address` off one list; False when it was not on it."""
    name = list_key(sender_domain)
    await migrate(redis, [name], now)
    return bool(await redis.hdel(name, *dict.fromkeys((address, fold(address)))))  # an entry kept as written too


async def entries(redis: Redis, sender_domain: str | None, now: float) -> list[Entry]:
    """The entries of one sender domain ("" = the all-domains list), or of every list when None."""
    domains = [sender_domain] if sender_domain is not None else ["", *await sender_domains(redis)]
    await migrate(redis, [list_key(d) for d in domains], now)
    out: list[Entry] = []
    for d in domains:
        stored = await redis.hgetall(list_key(d))
        out.extend(decode(str(a), d.lower(), str(raw)) for a, raw in stored.items())
    return sorted(out, key=lambda e: (e.sender_domain, e.address))


async def suppressed_why(redis: Redis, addresses: list[str], sender_domains: list[str], now: float) -> list[str]:
    """Per address "" to send, else the first list that stops it: `blocklist`, `all:<source>`, `domain:<d>:<source>`.

    Lists that hold nothing are not asked: on a first submit they are all empty. A list that fills
    up later is still checked at claim time.
    """
    names = [keys.BLOCKLIST, keys.SUPPRESS_ALL, *(keys.suppression(d.lower()) for d in sender_domains)]
    await migrate(redis, names, now)
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hlen(name)
        sizes = await pipe.execute()
    asked = [name for name, n in zip(names, sizes, strict=True) if n]
    if not asked:
        return [""] * len(addresses)
    folded = [fold(a) for a in addresses]
    async with redis.pipeline(transaction=False) as pipe:
        for name in asked:
            pipe.hmget(name, folded)
            if name != keys.BLOCKLIST:  # an entry written before lists were folded: as it was written
                pipe.hmget(name, addresses)
        replies = iter(await pipe.execute())
    why = [""] * len(addresses)
    for name in asked:
        values = next(replies)
        if name != keys.BLOCKLIST:
            values = [a if a is not None else b for a, b in zip(values, next(replies), strict=True)]
        for i, raw in enumerate(values):
            if raw is None or why[i]:
                continue
            if name == keys.BLOCKLIST:
                why[i] = "blocklist" if decode_block("", str(raw)).expires_at > now else ""
            elif name == keys.SUPPRESS_ALL:
                why[i] = reason_code(Scope.ALL, str(raw))
            else:
                domain = name.removeprefix(keys.SUPPRESS_DOMAIN_PREFIX)
                why[i] = f"domain:{domain}:{_fields(str(raw)).get('source', '') or 'unknown'}"
    return why


# --- the blocklist mirror ---


async def blocklist(redis: Redis, now: float) -> list[BlockEntry]:
    """Every address of the blocklist mirror, expired ones included (`expires_at` says)."""
    await migrate(redis, [keys.BLOCKLIST], now)
    stored = await redis.hgetall(keys.BLOCKLIST)
    return sorted((decode_block(str(a), str(raw)) for a, raw in stored.items()), key=lambda e: e.address)


async def block(redis: Redis, entry: BlockEntry, now: float) -> None:
    """Add one address to the mirror (a send Tencent refused because the address is on its blocklist)."""
    await migrate(redis, [keys.BLOCKLIST], now)
    await redis.hset(keys.BLOCKLIST, fold(entry.address), encode_block(entry.bounced_at, entry.reason, entry.account))


async def unblock(redis: Redis, address: str, now: float) -> bool:
    await migrate(redis, [keys.BLOCKLIST], now)
    return bool(await redis.hdel(keys.BLOCKLIST, address))


async def replace_blocklist(redis: Redis, account: str, listed: list[BlockEntry], now: float) -> tuple[int, int]:
    """Make `account`'s part of the mirror what Tencent lists now, drop expired entries: (added, removed)."""
    await migrate(redis, [keys.BLOCKLIST], now)
    args: list[str] = [account, repr(now)]
    for e in listed:
        args += [e.address, encode_block(e.bounced_at, e.reason, account)]
    script = redis.register_script(script_source("blocklist_sync"))
    reply = as_str_list(await script(keys=[keys.BLOCKLIST, keys.BLOCKLIST_SYNCED], args=args))
    return int(reply[0]), int(reply[1])


async def last_synced(redis: Redis) -> dict[str, float | None]:
    """When each account's blocklist was last read into the mirror (None: a time that cannot be read)."""
    raw = await redis.hgetall(keys.BLOCKLIST_SYNCED)
    return {str(k): _synced(v) for k, v in raw.items()}


def _synced(raw: str) -> float | None:
    try:
        return moment(raw, "blocklist sync time")
    except BadStoredValueError:
        return None
