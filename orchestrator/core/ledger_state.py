"""A recipient's ledger states and their stored encoding, parsed and formatted in one place.

Each recipient's state is one string in Redis: a one-letter tag, then the state's fields joined by
`|` (the last field takes the rest of the string, so a Tencent code or MessageId with a `|` in it
still reads back whole). The Lua scripts parse and write the same strings with helpers generated
from this module (`lua_tables`, substituted into store/lua/_ledger.lua), and a test checks the two
sides agree field for field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LedgerState(StrEnum):
    QUEUED = "queued"  # waiting: in the queue, a retry not yet due, or held back by the domain share
    GRANTED = "granted"  # the limiter granted it; its job is on arq's queue
    INFLIGHT = "inflight"  # a worker claimed it under a lease and is talking to Tencent
    ACCEPTED = "accepted"  # Tencent took it (MessageId kept)
    FAILED = "failed"  # given up (bad data, retries exhausted)
    SUPPRESSED = "suppressed"  # never to be mailed (blocklist, unsubscribed, Tencent's refusal)
    IN_DOUBT = "in_doubt"  # may have reached Tencent: settled by a status lookup, never resent blindly


L = LedgerState
#: Every state, in the order counts are reported.
STATES: tuple[str, ...] = tuple(s.value for s in LedgerState)
TAGS: dict[LedgerState, str] = {
    L.QUEUED: "q",
    L.GRANTED: "g",
    L.INFLIGHT: "c",
    L.ACCEPTED: "a",
    L.FAILED: "f",
    L.SUPPRESSED: "s",
    L.IN_DOUBT: "d",
}
#: The fields each state stores, in order. `attempts` counts the tries made so far; `attempt` is
#: the number of the try under way; times are seconds since the epoch, written with full precision.
FIELDS: dict[LedgerState, tuple[str, ...]] = {
    L.QUEUED: ("attempts",),
    L.GRANTED: ("grant", "attempts", "grant_time"),
    L.INFLIGHT: ("token", "deadline", "attempt", "grant", "grant_time"),
    L.ACCEPTED: ("message_id",),
    L.FAILED: ("code",),
    L.SUPPRESSED: ("reason",),
    L.IN_DOUBT: ("token", "since", "attempt", "grant", "grant_time"),
}
SEP = "|"
_BY_TAG = {tag: state for state, tag in TAGS.items()}
#: What a recipient with no stored state is: queued, never tried.
UNTOUCHED = "q|0"


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded ledger state; `fields` by name, as FIELDS lists them."""

    state: LedgerState
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields[name]

    @property
    def identity(self) -> str:
        """The identity of the grant (grant ids are `identity:sequence`)."""
        return self.fields["grant"].rsplit(":", 1)[0]

    @property
    def grant_seq(self) -> str:
        return self.fields["grant"].rsplit(":", 1)[1]


class LedgerFormatError(ValueError):
    """A stored state that is not in the ledger's format."""


def parse(raw: str | None) -> Entry:
    """Decode a stored state (None: a recipient never touched, queued with no try)."""
    text = UNTOUCHED if raw is None else raw
    state = _BY_TAG.get(text[:1])
    if state is None or text[1:2] != SEP:
        msg = f"not a ledger state: {text[:20]!r}"
        raise LedgerFormatError(msg)
    names = FIELDS[state]
    values = text[2:].split(SEP, len(names) - 1)
    if len(values) != len(names):
        msg = f"a {state.value} state needs {len(names)} fields: {text[:40]!r}"
        raise LedgerFormatError(msg)
    return Entry(state, dict(zip(names, values, strict=True)))


def format_entry(state: LedgerState, **fields: object) -> str:
    """Encode a state; every field of FIELDS[state] must be given (floats with full precision)."""
    names = FIELDS[state]
    if set(fields) != set(names):
        msg = f"a {state.value} state has the fields {names}, got {tuple(fields)}"
        raise ValueError(msg)
    parts = [repr(v) if isinstance(v, float) else str(v) for v in (fields[n] for n in names)]
    return SEP.join([TAGS[state], *parts])


def lua_tables() -> dict[str, str]:
    """The placeholders of store/lua/_ledger.lua and the Lua tables they stand for."""
    tags = ", ".join(f"{s.value} = '{t}'" for s, t in TAGS.items())
    fields = ", ".join(f"{s.value} = {{{', '.join(repr(n) for n in FIELDS[s])}}}" for s in LedgerState)
    return {"__LEDGER_TAGS__": "{" + tags + "}", "__LEDGER_FIELDS__": "{" + fields + "}"}
