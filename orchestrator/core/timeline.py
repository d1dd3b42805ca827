"""The guardrail and shaping events as marks on a timeline: day held, pause, resume, domain backoff (start, end).

Read from the event stream's entries (any object with `t`, `type`, `identity` and `data`), so the
simulation report and the live page draw the same marks from the same events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from orchestrator.core.text import finite_number

#: The kinds of mark, in the order a legend lists them, with what they stand for.
KINDS = {
    "held": "day held",
    "paused": "paused",
    "resumed": "resumed",
    "backoff": "domain backoff",
}


class TimedEvent(Protocol):
    @property
    def t(self) -> float: ...
    @property
    def type(self) -> str: ...
    @property
    def identity(self) -> str: ...
    @property
    def data(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Mark:
    """One thing to draw: an instant (`end` None) or a span (a backoff from `t` to `end`)."""

    t: float
    kind: str
    identity: str  # "" for the whole campaign (a pause, a resume)
    text: str
    end: float | None = None
    subject: str = ""  # the held day's metric, the backed-off provider group
    campaign: str = ""  # the paused or resumed campaign


def _held(e: TimedEvent) -> Mark:
    d = e.data
    why = d.get("reason") or (
        f"{d.get('metric')} guardrail" if d.get("metric") else f"sent {d.get('sent', '?')} of {d.get('daily_cap', '?')}"
    )
    text = f"{e.identity}: warm-up day of {d.get('date', '?')} held ({why})"
    return Mark(e.t, "held", e.identity, text, subject=d.get("metric", ""))


def _campaign(e: TimedEvent, kind: str) -> Mark:
    d = e.data
    by = d.get("by") or "operator"
    reason = d.get("reason") or ""
    text = f"{KINDS[kind]} by {by}" + (f": {reason}" if reason else "")
    return Mark(e.t, kind, "", text, campaign=str(getattr(e, "campaign", "")))


def marks_of(events: Iterable[TimedEvent]) -> list[Mark]:
    """The marks of `events` in time order; backoffs of one identity and group that overlap are one span."""
    out: list[Mark] = []
    open_spans: dict[tuple[str, str], tuple[float, float, str]] = {}
    for e in sorted(events, key=lambda e: e.t):
        if e.type == "day_held":
            out.append(_held(e))
        elif e.type == "campaign_paused":
            out.append(_campaign(e, "paused"))
        elif e.type == "campaign_resumed":
            out.append(_campaign(e, "resumed"))
        elif e.type == "domain_backoff":
            key = (e.identity, e.data.get("group", "?"))
            end = max(e.t, finite_number(e.data.get("until")) or e.t)
            span = open_spans.get(key)
            if span is not None and e.t <= span[1]:
                open_spans[key] = (span[0], max(span[1], end), span[2])
            else:
                if span is not None:
                    out.append(_backoff(key, span))
                open_spans[key] = (e.t, end, e.data.get("code", ""))
    out += [_backoff(key, span) for key, span in open_spans.items()]
    return sorted(out, key=lambda m: (m.t, m.kind, m.identity))


def _backoff(key: tuple[str, str], span: tuple[float, float, str]) -> Mark:
    identity, group = key
    start, end, code = span
    text = f"{identity}: {group} backed off after {code or 'a block'}"
    return Mark(start, "backoff", identity, text, end, subject=group)
