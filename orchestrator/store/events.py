"""The one event stream: everything that happens to a campaign or identity, appended in order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from orchestrator.store import keys
from orchestrator.store.stored_values import MAX_WHOLE, BadStoredValueError, moment, whole

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
    unreadable: str = ""  # why the entry cannot be read (a corrupt time); "" for a sound entry

    def as_json(self) -> dict[str, Any]:
        sound = {"id": self.id, "t": self.t, "type": self.type, "campaign": self.campaign, "identity": self.identity}
        if self.unreadable:  # the entry is named and marked, its data left out
            return {**sound, "t": None, "unreadable": self.unreadable}
        return {**sound, **self.data}


async def emit(redis: Redis, now: float, etype: str, campaign: str = "", identity: str = "", **data: object) -> str:
    """Append one event; values are stored as strings (dicts and lists as JSON)."""
    fields: dict[str, str] = {"t": repr(now), "type": etype, "campaign": campaign, "identity": identity}
    for k, v in data.items():
        if v is None:
            continue
        fields[k] = v if isinstance(v, str) else json.dumps(v)
    return str(await redis.xadd(keys.EVENTS, fields, maxlen=MAXLEN, approximate=True))  # type: ignore[arg-type]


def _parse(entry_id: str, fields: dict[str, str]) -> Event:
    """One stream entry; a value that cannot be read marks the entry (`unreadable`), never raises."""
    data = {k: v for k, v in fields.items() if k not in {"t", "type", "campaign", "identity"}}
    try:
        t, problem = moment(fields.get("t"), "t"), ""
    except BadStoredValueError as exc:
        t, problem = 0.0, str(exc)
    return Event(
        id=entry_id,
        t=t,
        type=fields.get("type", ""),
        campaign=fields.get("campaign", ""),
        identity=fields.get("identity", ""),
        data=data,
        unreadable=problem,
    )


async def read(redis: Redis, campaign: str | None = None, after: str = "-", count: int = 1000) -> list[Event]:
    """Events after stream id `after` (exclusive; "-" from the start), optionally of one campaign."""
    start = "-" if after == "-" else f"({after}"
    rows = await redis.xrange(keys.EVENTS, min=start, max="+", count=count)
    out = [_parse(eid, f) for eid, f in rows]
    if campaign is not None:
        out = [e for e in out if e.campaign == campaign]
    return out


async def newest_id(redis: Redis) -> str:
    """The stream id of the newest event, "0-0" when there is none: a reader of what comes later starts after it."""
    rows = await redis.xrevrange(keys.EVENTS, count=1)
    return str(rows[0][0]) if rows else "0-0"


async def recent(redis: Redis, count: int, before: str = "+") -> list[Event]:
    """The newest `count` events (before stream id `before`, exclusive; "+": the newest), newest first."""
    rows = await redis.xrevrange(keys.EVENTS, max="+" if before == "+" else f"({before}", min="-", count=count)
    return [_parse(eid, f) for eid, f in rows]


async def hour_summary(
    redis: Redis, cid: str, identities: list[str], counts: dict[str, int], day: str, hour: int, now: float
) -> dict[str, Any] | None:
    """Append the campaign's `hour_summary` of local `day` and `hour`: the grants each identity got in it
    (the grant script's hour counts) and the campaign's totals so far; None (nothing appended) when no
    identity got any. Returns the event's data."""
    stored = await redis.hgetall(keys.CampaignKeys(cid).hours_prefix + day)
    granted = {i: whole(stored.get(f"{i}|{hour:02d}"), "hour count", low=-MAX_WHOLE) for i in identities}
    if not any(granted.values()):
        return None
    data: dict[str, Any] = {
        "date": day,
        "hour": f"{hour:02d}:00",
        "granted": granted,
        "accepted": counts["accepted"],
        "pending": counts["queued"],
        "failed": counts["failed"],
        "in_doubt": counts["in_doubt"],
    }
    await emit(redis, now, "hour_summary", cid, "", **data)
    return data
