"""Campaign records in Redis: the stored spec, the state machine, submit counts, progress counters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core.campaign import SEED_BOUND, Campaign
from orchestrator.core.campaign_state import (
    AUTOMATIC,
    ELSEWHERE,
    TABLE,
    UNFINISHED,
    CampaignState,
    Outcome,
    Transition,
)
from orchestrator.core.ledger_state import STATES
from orchestrator.core.strict import STORED
from orchestrator.core.text import finite_number
from orchestrator.store import events, keys
from orchestrator.store.scripts import as_str_list, source
from orchestrator.store.stored_values import MAX_WHOLE, BadStoredValueError, moment, refused, whole

#: The campaign's states are defined once, in the core (re-exported here under their short name).
State = CampaignState


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    cid: str
    name: str
    state: State
    reason: str
    paused_by: str
    created_at: float
    spec: Campaign
    seed: int
    submit: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def identities(self) -> list[str]:
        return [i.id for i in self.spec.identities]


_SPEC_CACHE: dict[str, Campaign] = {}

#: An unreadable campaign's reason is one line of at most this many characters.
REASON_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored campaign that cannot be read (an older format, a corrupt value): skipped, never fatal."""

    cid: str
    name: str
    reason: str  # one short line; never the stored value itself


class UnreadableCampaignError(Exception):
    """Raised by `get` for a campaign that cannot be read; `load` returns the `Unreadable` instead."""

    def __init__(self, unreadable: Unreadable) -> None:
        super().__init__(f"campaign {unreadable.cid} cannot be read: {unreadable.reason}")
        self.unreadable = unreadable


def unreadable(cid: str, name: str, reason: str) -> Unreadable:
    """An `Unreadable` whose name and reason are fit for a status line or a log."""
    return Unreadable(cid, _one_line(name or cid)[:80], _one_line(reason))


def _one_line(text: str) -> str:
    """A reason fit for a status line or a log: printable, one line, bounded."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= REASON_MAX_CHARS else flat[: REASON_MAX_CHARS - 3] + "..."


def _spec_reason(exc: ValidationError) -> str:
    """What is wrong with a stored spec: the first error's place and message, never the input value."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return "stored spec is invalid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"stored spec: {where + ': ' if where else ''}{first.get('msg', 'invalid')}{more}"


def parse_spec(cid: str, raw_spec: str) -> Campaign | Unreadable:
    """A campaign's stored spec, parsed once per process (it never changes after submit)."""
    spec = _SPEC_CACHE.get(cid)
    if spec is not None:
        return spec
    try:
        spec = Campaign.model_validate_json(raw_spec, context={STORED: True})
    except ValidationError as exc:
        return Unreadable(cid, cid, _one_line(_spec_reason(exc)))
    except (ValueError, TypeError, KeyError) as exc:  # a validator that fails in another way
        return Unreadable(cid, cid, f"stored spec: {type(exc).__name__}")
    _SPEC_CACHE[cid] = spec
    return spec


def cached_spec(cid: str) -> Campaign | None:
    return _SPEC_CACHE.get(cid)


async def load_spec(redis: Redis, cid: str) -> Campaign | Unreadable | None:
    """Only the spec (what a send job needs): None when the campaign does not exist."""
    cached = _SPEC_CACHE.get(cid)
    if cached is not None:
        return cached
    try:
        raw = await redis.hget(keys.campaign(cid), "spec")
    except ResponseError as exc:
        return Unreadable(cid, cid, refused(exc) or "Redis refused a command")
    if raw is None:
        return Unreadable(cid, cid, "no stored spec") if await redis.exists(keys.campaign(cid)) else None
    return parse_spec(cid, raw)


_META_FIELDS = ("name", "state", "reason", "paused_by", "created_at", "seed", "submit", "fingerprint", "source")


async def load(redis: Redis, cid: str) -> CampaignRecord | Unreadable | None:
    """A campaign's record, `Unreadable` when a stored value cannot be parsed, None when it does not exist.

    The stored spec is transferred and parsed once per process.
    """
    ck = keys.CampaignKeys(cid)
    cached = _SPEC_CACHE.get(cid)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(ck.meta, [*_META_FIELDS, "spec"] if cached is None else list(_META_FIELDS))
        pipe.hgetall(ck.counts)
        values, counts = await pipe.execute(raise_on_error=False)
    why = refused(values) or refused(counts)
    if why is not None:  # a key of the campaign holds another type (a string, a list...)
        return Unreadable(cid, cid, why)
    meta = {k: v for k, v in zip([*_META_FIELDS, "spec"], values, strict=False) if v is not None}
    if not meta:
        return None
    try:
        return _record(cid, meta, counts, cached)
    except _BadValueError as exc:
        return unreadable(cid, meta.get("name", ""), str(exc))


class _BadValueError(Exception):
    """One stored value that cannot be read (internal to `load`)."""


def _record(cid: str, meta: dict[str, str], counts: dict[str, str], cached: Campaign | None) -> CampaignRecord:
    if "state" not in meta:
        raise _BadValueError("no stored state")
    try:
        state = State(meta["state"])
    except ValueError:
        raise _BadValueError(f"unknown state (not one of {', '.join(s.value for s in State)})") from None
    if cached is None and "spec" not in meta:
        raise _BadValueError("no stored spec")
    spec = cached if cached is not None else parse_spec(cid, meta["spec"])
    if isinstance(spec, Unreadable):
        raise _BadValueError(spec.reason)
    try:
        submit = json.loads(meta.get("submit", "{}"))
        created_at = moment(meta.get("created_at"), "created_at")
        seed = whole(meta.get("seed"), "seed", low=-SEED_BOUND + 1, high=SEED_BOUND - 1)
        parsed_counts = {s: whole(counts.get(s), f"count of {s}", low=-MAX_WHOLE) for s in STATES}
    except BadStoredValueError as exc:
        raise _BadValueError(f"stored counts or submit data: {str(exc).removeprefix('stored ')}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise _BadValueError(f"stored counts or submit data: {type(exc).__name__}") from None
    if not isinstance(submit, dict):
        raise _BadValueError("stored submit data is not an object")
    valid = submit.get("valid", 0)
    if isinstance(valid, bool) or not isinstance(valid, int) or not 0 <= valid <= 2**53:
        raise _BadValueError("stored submit data: valid is not a count")
    return CampaignRecord(
        cid=cid,
        name=meta.get("name", cid),
        state=state,
        reason=meta.get("reason", ""),
        paused_by=meta.get("paused_by", ""),
        created_at=created_at,
        spec=spec,
        seed=seed,
        submit=submit,
        counts=parsed_counts,
        raw=meta,
    )


async def get(redis: Redis, cid: str) -> CampaignRecord | None:
    """A campaign's record, None when it does not exist; `UnreadableCampaignError` when it cannot be read."""
    rec = await load(redis, cid)
    if isinstance(rec, Unreadable):
        raise UnreadableCampaignError(rec)
    return rec


async def all_ids(redis: Redis) -> list[str]:
    return [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]


async def fields_of(redis: Redis, ids: Sequence[str], names: list[str]) -> list[list[str | None] | None]:
    """The fields `names` of each campaign's record, in one pipeline; None for a record Redis refuses to read
    (its key holds another type)."""
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.hmget(keys.campaign(cid), names)
        replies = await pipe.execute(raise_on_error=False)
    return [None if refused(reply) else reply for reply in replies]


#: A listing of every campaign (`status`, the live page, /metrics) shows the unfinished ones and this many of
#: the finished ones that finished last (`status --all`: every one).
FINISHED_SHOWN = 20


async def listed(redis: Redis, finished_shown: int | None = FINISHED_SHOWN) -> tuple[list[str], int]:
    """The campaigns a listing shows, in submit order: every one not completed or cancelled, and the
    `finished_shown` that finished last (None: all); and how many that finished earlier it leaves out."""
    ids = await all_ids(redis)
    if finished_shown is None:
        return ids, 0
    records = await fields_of(redis, ids, ["state", "changed_at"])
    ended = {
        cid: finite_number(rec[1]) or 0.0
        for cid, rec in zip(ids, records, strict=True)
        if rec is not None and rec[0] in (State.COMPLETED, State.CANCELLED)
    }
    by_end = sorted(ended, key=ended.__getitem__)  # stable: submit order among equal times
    left_out = set(by_end[: max(0, len(by_end) - finished_shown)])
    return [cid for cid in ids if cid not in left_out], len(left_out)


async def running_ids(redis: Redis) -> list[str]:
    return await running_among(redis, await all_ids(redis))


async def running_among(redis: Redis, ids: list[str]) -> list[str]:
    """Of the campaigns `ids` (every one, as `all_ids` lists them), those running."""
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.hget(keys.campaign(cid), "state")
        states = await pipe.execute(raise_on_error=False)
    # A campaign whose record Redis refuses to read is listed: loading it then says why it is skipped.
    return [cid for cid, st in zip(ids, states, strict=True) if st == State.RUNNING or refused(st)]


async def resolve(redis: Redis, ref: str) -> str | None:
    """A campaign id from an id or a name: the newest running or paused campaign of that name, else the
    newest of that name (a cancelled or completed one submitted after it does not hide the one still running)."""
    if await redis.exists(keys.campaign(ref)):
        return ref
    ids = list(reversed(await all_ids(redis)))
    records = await fields_of(redis, ids, ["name", "state"])  # a record of the wrong type has no name
    named = [(cid, rec[1]) for cid, rec in zip(ids, records, strict=True) if rec is not None and rec[0] == ref]
    return next((cid for cid, state in named if state in UNFINISHED), named[0][0] if named else None)


async def transition(
    redis: Redis,
    cid: str,
    change: Transition,
    now: float,
    reason: str = "",
    by: str = "",
    acknowledged: bool | None = None,
) -> tuple[Outcome, str]:
    """Apply `change` from the one transition table: (ok | same | refused | needs_ack | missing, the state
    it was in). `acknowledged` (a resume): False leaves an automatic pause as it is (needs_ack); True lifts
    it and stores the acknowledgement in the same step (the guardrails judge only the sends after it)."""
    rule = TABLE[change]
    script = redis.register_script(source("transition"))
    args = [rule.to.value, reason, rule.by or by, repr(now), "" if acknowledged is None else AUTOMATIC]
    args += ["1" if acknowledged else "0", cid, ELSEWHERE if change is Transition.RESUME else ""]
    args += ["1" if rule.retakes else "0", *sorted(s.value for s in rule.sources)]
    reply = await script(keys=[keys.campaign(cid), keys.GUARD_ACK], args=args)
    first, was = as_str_list(reply)
    outcome = Outcome(first)
    if outcome is Outcome.OK:
        await events.emit(redis, now, rule.event, cid, reason=reason or None, by=(rule.by or by) or None, was=was)
    return outcome, was
