"""The one event stream: everything that happens to a campaign or identity, appended in order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from orchestrator.store import keys

#: The stream keeps about this many entries (oldest trimmed first).
MAXLEN = 1_000_000


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    t: float
    type: str
    campaign: str
    identity: str
    data: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "t": self.t,
            "type": self.type,
            "campaign": self.campaign,
            "identity": self.identity,
            **self.data,
        }


async def emit(redis: Redis, now: float, etype: str, campaign: str = "", identity: str = "", **data: object) -> str:
    """Append one event; values are stored as strings (dicts and lists as JSON)."""
    fields: dict[str, str] = {"t": repr(now), "type": etype, "campaign": campaign, "identity": identity}
    for k, v in data.items():
        if v is None:
            continue
        fields[k] = v if isinstance(v, str) else json.dumps(v)
    return str(await redis.xadd(keys.EVENTS, fields, maxlen=MAXLEN, approximate=True))  # type: ignore[arg-type]


def _parse(entry_id: str, fields: dict[str, str]) -> Event:
    data = {k: v for k, v in fields.items() if k not in {"t", "type", "campaign", "identity"}}
    return Event(
        id=entry_id,
        t=float(fields.get("t", "0")),
        type=fields.get("type", ""),
        campaign=fields.get("campaign", ""),
        identity=fields.get("identity", ""),
        data=data,
    )


async def read(redis: Redis, campaign: str | None = None, after: str = "-", count: int = 1000) -> list[Event]:
    """Events after stream id `after` (exclusive; "-" from the start), optionally of one campaign."""
    start = "-" if after == "-" else f"({after}"
    rows = await redis.xrange(keys.EVENTS, min=start, max="+", count=count)
    out = [_parse(eid, f) for eid, f in rows]
    if campaign is not None:
        out = [e for e in out if e.campaign == campaign]
    return out
