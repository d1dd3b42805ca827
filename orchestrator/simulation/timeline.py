"""What a simulation's event stream says of its warm-up steps, pauses and backoffs (summary.json, the report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.core.timeline import Mark, marks_of
from orchestrator.store import events

#: At most this many events are read back (the stream keeps far more than a simulation writes).
MAX_EVENTS = 1_000_000


@dataclass
class Timeline:
    """The campaign's events, read once: each closed day's step, the pauses, resumes and backoffs."""

    steps: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)  # (date, id) -> step, why
    pauses: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    rows: list[events.Event] = field(default_factory=list)


def _iso(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz=zone).isoformat(timespec="seconds")


def _held_reason(data: dict[str, str]) -> str:
    """Why a closed day did not advance: the guardrail's own reason, or too little sent."""
    if data.get("reason"):
        return data["reason"]
    return f"sent {_count(data.get('sent'))} of its daily cap {_count(data.get('daily_cap'))}, too few to advance"


def _count(raw: str | None) -> str:
    """A stored count as the other reasons show one (1,500); whatever else as it is, '?' when missing."""
    if raw is None:
        return "?"
    return f"{int(raw):,}" if raw.isdigit() else raw


def _by(data: dict[str, str]) -> dict[str, str]:
    """Who moved the campaign: `automatic` (the pipeline itself) or `operator`, and the operator's name."""
    who = data.get("by") or ""
    return {"by": "automatic"} if who == "automatic" else {"by": "operator", "who": who}


async def read_timeline(redis: Any, cid: str, identities: list[str], zone: ZoneInfo) -> Timeline:
    """The campaign's events (and its identities' own: day steps, backoffs) read into a `Timeline`."""
    out = Timeline()
    mine = set(identities)
    for e in await events.read(redis, None, count=MAX_EVENTS):
        if e.campaign != cid and not (e.campaign == "" and e.identity in mine):
            continue
        out.rows.append(e)
        if e.type == "day_advanced":
            out.steps[(e.data.get("date", ""), e.identity)] = ("advanced", None)
        elif e.type == "day_held":
            out.steps[(e.data.get("date", ""), e.identity)] = ("held", _held_reason(e.data))
        elif e.type == "campaign_paused":
            out.pauses.append({"t": _iso(e.t, zone), **_by(e.data), "reason": e.data.get("reason", "")})
        elif e.type == "campaign_resumed":
            out.resumes.append({"t": _iso(e.t, zone), **_by(e.data)})
    out.marks = marks_of(out.rows)
    return out


def backoffs(marks: list[Mark], zone: ZoneInfo) -> list[dict[str, Any]]:
    """summary.json's backoffs: per identity and provider group, each span of backing off."""
    return [
        {
            "identity": m.identity,
            "group": m.subject,
            "start": _iso(m.t, zone),
            "end": _iso(m.end if m.end is not None else m.t, zone),
            "what": m.text,
        }
        for m in marks
        if m.kind == "backoff"
    ]
