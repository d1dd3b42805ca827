"""Redis memory of a run, measured: keys and bytes in all and per key family, and which keys live forever."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: What may live without a TTL once every finished campaign is compacted: each family's size is bounded
#: by the number of campaigns, identities, accounts, sender domains or suppressed addresses, never by
#: the sends made (the events stream is capped by its MAXLEN; the cohorts are pruned by age).
LONG_LIVED = frozenset(
    {
        "wo:campaigns",
        "wo:instance",
        "wo:data_lost",
        "wo:campaign:*",
        "wo:c:*:counts",
        "wo:fingerprint:*",
        "wo:events",
        "wo:identities",
        "wo:id:*",
        "wo:id:*:gcra",
        "wo:id:*:groups",
        "wo:id:*:groups:stamp",
        "wo:acct:*:gcra",
        "wo:acct:*:stats",
        "wo:supp:all",
        "wo:supp:domain:*",
        "wo:supp:domains",
        "wo:supp:blocklist",
        "wo:supp:blocklist:synced",
        "wo:fb:totals",
        "wo:fb:unknown",
        "wo:fb:cohorts",
        "wo:fb:pending",
        "wo:fb:early",
        "wo:guard:ack",
        "wo:pacer:tick",
        "wo:grant:seq",
        "wo:msgid",
    }
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def family(key: str) -> str:
    """The key's family: campaign ids, identities, accounts, dates, buckets and groups as `*`."""
    parts = key.split(":")
    if key.startswith("arq:"):
        return "arq:" + parts[1] + (":*" if len(parts) > 2 else "")
    head = parts[1] if len(parts) > 1 else ""
    if head == "c" and len(parts) > 3:
        rest = parts[3:]
        return "wo:c:*:" + rest[0] + (":*" if len(rest) > 1 else "")
    if head in ("campaign", "fingerprint"):
        return f"wo:{head}:*"
    if head == "fb" and len(parts) > 3:
        return f"wo:fb:{parts[2]}:*"
    if head in ("id", "acct"):
        rest = parts[3:]
        tail = "".join(f":{'*' if _DATE.fullmatch(p) else p}" for p in rest)
        return f"wo:{head}:*{tail}"
    if head == "guard" and len(parts) > 2 and parts[2] == "warned":
        return "wo:guard:warned:*"
    if head == "supp" and len(parts) > 2 and parts[2] == "domain":
        return "wo:supp:domain:*"
    return key


@dataclass
class Footprint:
    """One measurement: DBSIZE, INFO memory's used_memory, and per family its keys, bytes and keys without TTL."""

    keys: int = 0
    used_memory: int = 0
    family_keys: Counter[str] = field(default_factory=Counter)
    family_bytes: Counter[str] = field(default_factory=Counter)
    no_ttl: dict[str, list[str]] = field(default_factory=dict)

    @property
    def key_bytes(self) -> int:
        return sum(self.family_bytes.values())

    def table(self) -> str:
        rows = sorted(self.family_keys, key=lambda f: -self.family_bytes[f])
        return "\n".join(
            f"{f:32} {self.family_keys[f]:7} keys {self.family_bytes[f]:10} B {'no TTL' if f in self.no_ttl else ''}"
            for f in rows
        )


async def measure(redis: Any) -> Footprint:
    """Walk every key (SCAN), with MEMORY USAGE and TTL of each, pipelined."""
    fp = Footprint(keys=int(await redis.dbsize()), used_memory=int((await redis.info("memory"))["used_memory"]))
    names = [str(k) async for k in redis.scan_iter(count=1000)]
    for i in range(0, len(names), 1000):
        chunk = names[i : i + 1000]
        async with redis.pipeline(transaction=False) as pipe:
            for k in chunk:
                pipe.memory_usage(k)
                pipe.ttl(k)
            replies = await pipe.execute()
        for j, k in enumerate(chunk):
            size, ttl = replies[2 * j], replies[2 * j + 1]
            if ttl == -2:  # gone since the scan
                continue
            f = family(k)
            fp.family_keys[f] += 1
            fp.family_bytes[f] += int(size or 0)
            if ttl == -1:
                fp.no_ttl.setdefault(f, []).append(k)
    return fp
