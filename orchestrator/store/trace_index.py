"""Where an address was submitted, what submit made of each row, and a recipient's attempts: for `trace` and `export`.

Layout (keys.py, "per-recipient answers"), every key staged and committed with its campaign:

- `wo:c:<cid>:a:<n>` (n = a hash of the address modulo the campaign's `trace_buckets`, chosen at
  submit from the file's size so each hash stays small, in Redis's compact listpack): address ->
  "<row>:<what>" entries joined by ",", `what` the recipient's ledger index when loaded, else `i`
  invalid, `d` duplicate, `s` suppressed. Written by store/lua/trace_add.lua as submit streams, so
  `trace` asks one hash per campaign and never scans a ledger. At most KEEP_PER_ADDRESS rows per
  address (the first ones).
- `wo:c:<cid>:x:<row // BUCKET>`: row -> JSON [kind, detail, address cell] of every row submit did
  not load (invalid + reason, duplicate + first row, suppressed + list): `export` walks them with
  the ledger in file order.
- `wo:c:<cid>:h:<idx // BUCKET>`: index -> the recipient's last HISTORY_CAP outcomes, each
  "time US identity US decision US code US attempt US in-doubt-since" (US = \\x1f), RS (\\x1e) between.
  Written by store/lua/finish.lua only once something other than a first clean accept happened.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Final

from redis.asyncio import Redis

from orchestrator.core.addresses import fold, normalize_address
from orchestrator.core.recipient_trace import KIND_OF_MARK, Attempt, Dropped, Place, parse_history
from orchestrator.store import keys
from orchestrator.store.scripts import as_str_list
from orchestrator.store.scripts import source as script_source

KEEP_PER_ADDRESS: Final = 4
HISTORY_CAP: Final = 8
MARK_OF_KIND: Final = {v: k for k, v in KIND_OF_MARK.items()}
#: Addresses per index hash aimed at (Redis keeps a hash of up to 128 short entries as a listpack).
BUCKET_FILL: Final = 64
#: A short row: guessing rows from a file's size with it errs towards more, emptier hashes.
BYTES_PER_ROW_GUESS: Final = 24
MAX_BUCKETS: Final = 1 << 20
#: Rows gathered before one index write: each write names every index hash it touches (in a large
#: file about one per row of a 5,000-row batch), so a larger write names each hash fewer times; one
#: script call of 20,000 rows keeps Redis about a tenth of a second.
FLUSH_ROWS: Final = 20_000
#: Index hashes read back in one round trip (`Staging.loaded`): about 5,000 addresses.
LOADED_READ: Final = 80
#: An index entry naming a loaded row: "<row>:<ledger index>" (lua/overlap.lua reads it alike).
_LOADED: Final = re.compile(r"(?:^|,)\d+:\d+")


def index_field(raw: str) -> str:
    """An address as `trace` shows it: normalised when it is an address, else as written (trimmed)."""
    norm, _ = normalize_address(raw)
    return norm if norm is not None else raw.strip()


def index_fields(raw: str) -> list[str]:
    """The fields `trace` looks an address up under: an address folded (`Jiwoo@` finds `jiwoo@`, the
    duplicate check's and the suppression lists' sameness), then as written for a campaign indexed
    before the index folded; anything else (an invalid row's cell) trimmed and folded alike, then
    trimmed as written (indexed so before invalid cells were folded)."""
    norm, _ = normalize_address(raw)
    if norm is None:
        cell = raw.strip()
        return list(dict.fromkeys([fold(cell), cell]))
    return list(dict.fromkeys([fold(norm), norm]))


def bucket_of(field: str, buckets: int) -> int:
    return int.from_bytes(hashlib.blake2b(field.encode(), digest_size=4).digest(), "little") % buckets


def bucket_count(file_bytes: int) -> int:
    """How many index hashes a campaign gets: about BUCKET_FILL addresses each for a file of this size."""
    rows = max(1, file_bytes // BYTES_PER_ROW_GUESS)
    n = 1
    while n * BUCKET_FILL < rows and n < MAX_BUCKETS:
        n *= 2
    return n


def encode_dropped(d: Dropped) -> str:
    return json.dumps([d.kind, d.detail, d.cell], ensure_ascii=False, separators=(",", ":"))


def decode_dropped(row: int, raw: str) -> Dropped:
    try:
        kind, detail, cell = (str(x) for x in json.loads(raw))
    except (ValueError, TypeError):
        return Dropped(row, "", "unreadable", raw[:80])
    return Dropped(row, cell, kind, detail)


class Staging:
    """What a submit stages for `trace` and `export`: the index hashes and dropped-row hashes written so far."""

    def __init__(self, cid: str, buckets: int, ttl_ms: int) -> None:
        self.cid = cid
        self.buckets = buckets
        self.ttl_ms = ttl_ms
        self.index: set[int] = set()
        self.dropped: set[int] = set()
        self._loaded: list[tuple[int, int, str]] = []  # gathered, not yet written
        self._dropped: list[Dropped] = []

    def names(self) -> list[str]:
        index = [keys.trace_bucket(self.cid, n) for n in sorted(self.index)]
        return index + [keys.dropped_bucket(self.cid, b * keys.BUCKET) for b in sorted(self.dropped)]

    async def write(self, redis: Redis, loaded: list[tuple[int, int, str]], dropped: list[Dropped]) -> None:
        """Gather a batch (loaded rows as (index, row, address), dropped rows); write once FLUSH_ROWS are in."""
        self._loaded += loaded
        self._dropped += dropped
        if len(self._loaded) + len(self._dropped) >= FLUSH_ROWS:
            await self.flush(redis)

    async def flush(self, redis: Redis) -> None:
        """Index the rows gathered so far and stage the dropped ones."""
        loaded, dropped = self._loaded, self._dropped
        self._loaded, self._dropped = [], []
        # Each row under its address's first field (folded: a capitalised duplicate finds its first row).
        # Loaded, duplicate and suppressed rows hold the normalised address: folding it is that field.
        items = [(row, fold(address), str(i)) for i, row, address in loaded]
        items += [
            (d.row, index_fields(d.cell)[0] if d.kind == "invalid" else fold(d.cell), MARK_OF_KIND[d.kind])
            for d in dropped
        ]
        items = sorted(i for i in items if i[1])
        fields = [(f, bucket_of(f, self.buckets), row, what) for row, f, what in items]
        new = sorted({b for _, b, _, _ in fields} - self.index)  # hashes this write creates: they get the TTL
        new_dropped = {d.row // keys.BUCKET for d in dropped} - self.dropped  # these get the TTL
        # Named before they are written: a write cut short is still removed by the discard.
        self.index.update(new)
        self.dropped.update(new_dropped)
        firsts = iter(await self._add(redis, fields, new))
        found = {row: next(firsts) for row, _, what in items if what == "d"}
        if not dropped:
            return
        async with redis.pipeline(transaction=False) as pipe:
            for d in dropped:
                kept = Dropped(d.row, d.cell, d.kind, found.get(d.row, "")) if d.kind == "duplicate" else d
                pipe.hset(keys.dropped_bucket(self.cid, d.row), str(d.row), encode_dropped(kept))
            for b in new_dropped:  # the others have it, renewed by submit's heartbeat
                pipe.pexpire(keys.dropped_bucket(self.cid, b * keys.BUCKET), self.ttl_ms)
            await pipe.execute()

    async def loaded(self, redis: Redis) -> AsyncIterator[list[str]]:
        """The loaded rows' addresses (folded) this submit has staged so far, LOADED_READ hashes at a time."""
        buckets = sorted(self.index)
        for start in range(0, len(buckets), LOADED_READ):
            async with redis.pipeline(transaction=False) as pipe:
                for bucket in buckets[start : start + LOADED_READ]:
                    pipe.hgetall(keys.trace_bucket(self.cid, bucket))
                replies: list[dict[str, str]] = await pipe.execute()
            yield [f for entries in replies for f, value in entries.items() if _LOADED.search(value)]

    async def _add(self, redis: Redis, fields: list[tuple[str, int, int, str]], new: list[int]) -> list[str]:
        if not fields:
            return []
        names = {keys.trace_bucket(self.cid, b): n for n, b in enumerate(new, 1)}  # the new ones first
        items: list[str] = []
        for field, bucket, row, what in fields:
            pos = names.setdefault(keys.trace_bucket(self.cid, bucket), len(names) + 1)
            items.append(f"{pos}:{row}:{what}:{field}\0")
        script = redis.register_script(script_source("trace_add"))
        args: list[str | int] = [KEEP_PER_ADDRESS, self.ttl_ms, "".join(items), len(new)]
        return as_str_list(await script(keys=list(names), args=args))


async def places(redis: Redis, raw: str, only: str | None = None) -> tuple[list[Place], int]:
    """Every row of every campaign (or only campaign `only`) that held the address; and how many campaigns
    have no index (submitted before it was kept)."""
    fields = index_fields(raw) if raw.strip() else []
    cids = [only] if only else [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for cid in cids:
            pipe.hget(keys.campaign(cid), "trace_buckets")
        counts = await pipe.execute()
    indexed = [(cid, int(n)) for cid, n in zip(cids, counts, strict=True) if n and str(n).isdigit() and int(n) > 0]
    asked = [(cid, f) for cid, n in indexed for f in fields]
    async with redis.pipeline(transaction=False) as pipe:
        for cid, n in indexed:
            for f in fields:
                pipe.hget(keys.trace_bucket(cid, bucket_of(f, n)), f)
        values = await pipe.execute() if asked else []
    out: dict[tuple[str, int], Place] = {}
    for (cid, _), value in zip(asked, values, strict=True):
        for entry in str(value or "").split(","):
            row, _, what = entry.partition(":")
            if row.isdigit() and (what.isdigit() or what in KIND_OF_MARK):
                index = int(what) if what.isdigit() else None
                place = Place(cid, int(row), index, "loaded" if index is not None else KIND_OF_MARK[what])
                out.setdefault((cid, int(row)), place)
    order = {cid: i for i, cid in enumerate(cids)}
    return sorted(out.values(), key=lambda p: (order[p.cid], p.row)), len(cids) - len(indexed)


async def dropped_row(redis: Redis, cid: str, row: int) -> Dropped | None:
    raw = await redis.hget(keys.dropped_bucket(cid, row), str(row))
    return None if raw is None else decode_dropped(row, str(raw))


async def history(redis: Redis, cid: str, idx: int) -> list[Attempt]:
    return parse_history(str(await redis.hget(keys.history_bucket(cid, idx), str(idx)) or ""))
