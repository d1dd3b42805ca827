"""Each provider group's standing with one identity (core/domain_shaping.py), shared by the pacer and every worker.

Stored per identity in one hash (`keys.IdentityKeys.groups`): provider group -> JSON
{"day", "blocked_at", "reason"}. A group with no entry has never been cut back nor rolled: it sends
at the identity's own day. The grant script enforces the caps computed here (store/limiter.py).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import structlog
from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.core.domain_shaping import (
    BLOCK_S,
    DEFERRAL_BURST_REASON,
    GroupState,
    deferral_burst,
    group_caps,
    on_block,
    roll_day,
    shaping_active,
    start_group,
)
from orchestrator.core.plan import Caps, Plan
from orchestrator.store import deferrals, events, keys
from orchestrator.store.stored_values import MAX_WHOLE, BadStoredValueError, moment, whole

log = structlog.get_logger("orchestrator.group_state")


def encode(state: GroupState) -> str:
    return json.dumps({"day": state.day, "blocked_at": state.blocked_at, "reason": state.reason})


def decode(raw: str, where: str) -> GroupState:
    """One stored group state; a one-line error naming `where` when it cannot be read."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadStoredValueError(f"{where}: not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("reason", ""), str):
        raise BadStoredValueError(f"{where}: not a group state")
    blocked = data.get("blocked_at")
    return GroupState(
        day=whole(str(data.get("day", "")), f"{where} day", 1, low=1, high=MAX_WHOLE),
        blocked_at=None if blocked is None else moment(str(blocked), f"{where} blocked_at"),
        reason=str(data.get("reason", "")),
    )


#: Stored texts already decoded: an identity's groups mostly share a handful of texts (every group
#: rolled on the same days holds the same JSON), and equal texts give one object (`GroupCaps`).
_DECODED: dict[str, GroupState] = {}
_DECODED_MAX = 4096


async def load(redis: Redis, identity: str) -> Mapping[str, GroupState]:
    """Every provider group with a stored state for `identity` (read-only, `decode_all`)."""
    return decode_all(identity, await redis.hgetall(keys.IdentityKeys(identity).groups))


#: The pacer's view of each identity's group hash, by the stamp written with it (`store`) and the
#: hash's length: an identity may have thousands of groups, and the hash changes only at a day roll
#: or a block, so a tick reads the short stamp and the length, and the whole hash only when either
#: moved (the length catches an entry deleted by hand). Stamps are random: a stamp seen again is the
#: same write, even in another Redis (a test's fresh database).
_BY_STAMP: dict[str, tuple[str, Mapping[str, GroupState]]] = {}


async def _states_at(redis: Redis, identity: str, stamp: str | None) -> Mapping[str, GroupState]:
    """The identity's decoded group hash as of `stamp` (read just before): the kept one when the stamp
    is the one it was read with, else read now. A hash without a stamp (written by an older release)
    is read every time, as before."""
    kept = _BY_STAMP.get(identity)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    states = await load(redis, identity)
    if stamp is not None:
        if len(_BY_STAMP) >= _DECODED_MAX:
            _BY_STAMP.clear()
        _BY_STAMP[identity] = (stamp, states)
    return states


def decode_all(identity: str, raw: dict[Any, Any]) -> Mapping[str, GroupState]:
    """The identity's stored group hash, decoded. Read-only (the pacer keeps it between ticks,
    `_states_at`; a caller that changes a state copies it first)."""
    out: dict[str, GroupState] = {}
    for g, v in raw.items():
        text = str(v)
        state = _DECODED.get(text)
        if state is None:
            state = decode(text, f"group state {identity}/{g}")
            if len(_DECODED) >= _DECODED_MAX:
                _DECODED.clear()
            _DECODED[text] = state
        out[str(g)] = state
    return MappingProxyType(out)


async def store(redis: Redis, identity: str, mapping: Mapping[str, str]) -> None:
    """The only write of an identity's group hash: the states and a new stamp together (MULTI), so a
    reader that finds the stamp it last read knows the hash unchanged (`apply_bursts`)."""
    ik = keys.IdentityKeys(identity)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(ik.groups, mapping=dict(mapping))
        pipe.set(ik.groups_stamp, secrets.token_hex(8))
        await pipe.execute()


async def block(redis: Redis, identity: str, group: str, now: float, reason: str, identity_day: int) -> GroupState:
    """A temporary block or deferral burst from `group`: its backoff starts again at `now`."""
    key = keys.IdentityKeys(identity).groups
    raw = await redis.hget(key, group)
    current = decode(str(raw), f"group state {identity}/{group}") if raw is not None else start_group(identity_day)
    state = on_block(current, now, reason)
    await store(redis, identity, {group: encode(state)})
    return state


async def back_off(
    redis: Redis,
    cid: str,
    identity: str,
    group: str,
    now: float,
    code: str,
    identity_day: int,
    *,
    shaped: bool,
    hold_until: float = 0.0,
    detail: str = "",
) -> GroupState:
    """Restart the group's backoff with `identity` and write its `domain_backoff` event (start and end).

    `shaped`: per-domain shaping applies to the identity (else only the campaign's own hold, until
    `hold_until`, acts, not the reduced rate); the report and the live page draw the event.
    """
    state = await block(redis, identity, group, now, code, identity_day)
    end = state.recovered_at() if shaped else None
    extra = {"detail": detail} if detail else {}
    await events.emit(
        redis,
        now,
        "domain_backoff",
        cid,
        identity,
        group=group,
        code=code,
        held_until=max(hold_until, now + BLOCK_S if shaped else hold_until),
        until=max(hold_until, end or hold_until),
        shaped=shaped,
        **extra,
    )
    return state


class GroupCaps(Mapping[str, tuple[int, int, float]]):
    """The grant script's per-group caps: (hourly, daily, held until) for each group with a state of
    its own, computed when asked. A grant call names only the groups of its candidates (a few), while
    an identity's stored states may run to thousands: computing them all at every tick cost more than
    the grant itself."""

    def __init__(
        self, states: Mapping[str, GroupState], plan: Plan, identity: Caps, now: float, share: float = 0.0
    ) -> None:
        self._states = states
        self._plan = plan
        self._identity = identity
        self._now = now
        self._share = share
        # Groups in the same state have the same caps. Equal stored texts decode to one object
        # (`decode_all`), so its id finds them without hashing the state; `_states` keeps each alive.
        self._by_state: dict[int, tuple[int, int, float]] = {}

    def __getitem__(self, group: str) -> tuple[int, int, float]:
        state = self._states[group]
        limit = self._by_state.get(id(state))
        if limit is None:
            caps = group_caps(self._plan, state, self._identity, self._now, self._share)
            until = state.next_change(self._now) if caps.hourly <= 0 else None
            limit = self._by_state[id(state)] = (caps.hourly, caps.daily, until if until is not None else 0.0)
        return limit

    def __contains__(self, group: object) -> bool:
        return group in self._states

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


async def roll(
    redis: Redis,
    identity: str,
    plan: Plan,
    identity_caps: Caps,
    closed_date: str,
    identity_day: int,
    min_fraction: float,
    hold: str | None = None,
) -> dict[str, str]:
    """The identity's day closed: each group that sent or has a state moves on or stays (why, per group).

    `hold`: why a guardrail held the identity's day; then no group's own day advances either."""
    ik = keys.IdentityKeys(identity)
    sent = {
        str(g): whole(str(n), f"group sends {identity}/{g}")
        for g, n in (await redis.hgetall(ik.group_day(closed_date))).items()
    }
    states = await load(redis, identity)
    held: dict[str, str] = {}
    rolled: dict[str, str] = {}
    for group in sorted(set(sent) | set(states)):
        state = states.get(group) or start_group(identity_day)
        cap = plan.caps(state.day).min(identity_caps).daily
        after, why = roll_day(state, sent.get(group, 0), cap, min_fraction, hold)
        rolled[group] = encode(after)
        if why:
            held[group] = why
    if rolled:
        await store(redis, identity, rolled)  # one write: an identity may have thousands of groups
    return held


async def follow(redis: Redis, identity: str, identity_day: int) -> None:
    """The identity's day closed before per-domain shaping applies to it: every group had its random share
    of the identity's sends, so a state stored meanwhile (a block's backoff) moves on with the identity's
    day, and shaping starts each group where the identity is (`start_group`), its backoff kept."""
    behind = {
        g: encode(replace(s, day=identity_day))
        for g, s in (await load(redis, identity)).items()
        if s.day < identity_day
    }
    if behind:
        await store(redis, identity, behind)


def active(spec: Campaign, identity_day: int, identity_daily: int) -> bool:
    """Whether per-domain shaping applies to this campaign's identity at this day and daily cap."""
    sh = spec.shaping
    return spec.mode.value == "warmup" and shaping_active(
        identity_day, identity_daily, sh.per_domain_from_day, sh.per_domain_from_daily
    )


async def apply_bursts(
    redis: Redis,
    cid: str,
    spec: Campaign,
    identity: str,
    identity_day: int,
    now: float,
    read: dict[int, dict[Any, Any]] | None = None,
) -> Mapping[str, GroupState]:
    """Back off each group of `identity` whose recent deferrals are a burst; every group's state after it.

    `read`: minute hashes already read at `now` (the pacer's tick shares them between its identities:
    each hash holds every identity's counts); the ones read here are added to it. A deferral counted
    while the tick runs is seen by the identities after it at the next tick.
    """
    sh = spec.shaping
    minutes = deferrals.minutes(now, sh.deferral_window_s)
    known: dict[int, dict[Any, Any]] = {} if read is None else read
    missing = [bucket for bucket in minutes if bucket not in known]
    ik = keys.IdentityKeys(identity)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(ik.groups_stamp)  # before the hash: a write in between only makes the next tick read again
        pipe.hlen(ik.groups)  # an entry deleted by hand (HDEL, DEL: the documented way to lift a backoff)
        for bucket in missing:
            pipe.hgetall(keys.fb_deferrals(bucket))
        stamp, size, *per_minute = await pipe.execute()
    known.update(zip(missing, per_minute, strict=True))
    states = await _states_at(redis, identity, None if stamp is None else f"{stamp}|{size}")
    backed_off: dict[str, GroupState] = {}
    for group, (deferred, outcomes) in sorted(
        deferrals.tally(identity, states, ((b, known[b]) for b in minutes), sh.deferral_window_s, now).items()
    ):
        if deferral_burst(deferred, outcomes, sh.deferral_burst, sh.deferral_share):
            detail = f"{deferred} deferrals or soft bounces of {outcomes} outcomes"
            backed_off[group] = await back_off(
                redis, cid, identity, group, now, DEFERRAL_BURST_REASON, identity_day, shaped=True, detail=detail
            )
            log.warning("domain_backoff", campaign=cid, identity=identity, group=group, detail=detail)
    return {**states, **backed_off} if backed_off else states


async def shaping_limits(
    redis: Redis,
    cid: str,
    spec: Campaign,
    identity: str,
    identity_day: int,
    caps: Caps,
    now: float,
    read: dict[int, dict[Any, Any]] | None = None,
    day_cap: int | None = None,
) -> GroupCaps | None:
    """The pacer's hook: the grant's per-group caps for one identity (deferral bursts acted on first), None
    before shaping starts. `read`: the deferral minutes already read at `now` (`apply_bursts`); `day_cap`:
    the daily cap the identity's day counts against (its `open_cap`), which decides whether shaping is on,
    as the day roll and the send's backoff decide it."""
    if not active(spec, identity_day, caps.daily if day_cap is None else day_cap):
        return None
    states = await apply_bursts(redis, cid, spec, identity, identity_day, now, read)
    return GroupCaps(states, spec.build_plan(), caps, now, spec.shaping.max_domain_share)


#: A group `status` lists because per-domain shaping has it on a warm-up day of its own (its caps
#: below the identity's): the usual state once shaping applies, not a hold.
OWN_DAY = "its own warm-up day"
#: The domain groups a campaign's temporary blocks hold: group -> (until, why) (`campaign_blocks`).
Blocks = Mapping[str, tuple[float, str]]


def _shown(group: str, reason: str, until: float | None, hourly: int, daily: int) -> dict[str, Any]:
    """One group as `status` lists it."""
    return {"group": group, "reason": reason, "until": until, "hourly_cap": hourly, "daily_cap": daily}


def _held(why: str) -> str:
    """Why `status` says a group is held: after a block (its code) or a deferral burst."""
    return f"held after {why or 'a block'}"


async def campaign_blocks(redis: Redis, cid: str, identity_ids: Sequence[str], now: float) -> Blocks:
    """For `status`: the domain groups a temporary block holds for campaign `cid` at `now` (`CampaignKeys.blocks`,
    written by the send worker whether or not shaping applies; the grant script holds them for each of the
    campaign's identities): group -> (until, why). `why` is the reason of the group's latest block stored
    for one of `identity_ids` (a deferral burst never writes the campaign's blocks), "" when none is."""
    found = await redis.zrangebyscore(keys.CampaignKeys(cid).blocks, f"({now!r}", "+inf", withscores=True)
    if not found:
        return {}
    blocks = {str(g): moment(repr(float(until)), "domain block's end") for g, until in found}
    async with redis.pipeline(transaction=False) as pipe:
        for identity in identity_ids:
            pipe.hmget(keys.IdentityKeys(identity).groups, list(blocks))
        replies = await pipe.execute()
    latest: dict[str, tuple[float, str]] = {}
    for identity, raws in zip(identity_ids, replies, strict=True):
        for group, raw in zip(blocks, raws, strict=True):
            state = None if raw is None else decode(str(raw), f"group state {identity}/{group}")
            if state is None or state.blocked_at is None or state.reason == DEFERRAL_BURST_REASON:
                continue
            if state.blocked_at >= latest.get(group, (float("-inf"), ""))[0]:
                latest[group] = (state.blocked_at, state.reason)
    return {g: (until, latest.get(g, (0.0, ""))[1]) for g, until in blocks.items()}


async def _shaped(redis: Redis, spec: Campaign, identity: str, caps: Caps, now: float) -> dict[str, dict[str, Any]]:
    """The groups per-domain shaping holds or throttles below the identity's caps, by group."""
    out: dict[str, dict[str, Any]] = {}
    for group, state in sorted((await load(redis, identity)).items()):
        own = group_caps(spec.build_plan(), state, caps, now, spec.shaping.max_domain_share)
        factor = state.factor(now)
        if factor <= 0.0:
            reason = _held(state.reason)
        elif factor < 1.0:
            reason = f"backing off at {factor:.0%} after {state.reason or 'a block'}"
        elif own != caps:
            reason = f"{OWN_DAY} {state.day}"
        else:
            continue
        until = state.next_change(now) if factor < 1.0 else None
        out[group] = _shown(group, reason, until, own.hourly, own.daily)
    return out


async def throttled(
    redis: Redis,
    spec: Campaign,
    identity: str,
    identity_day: int,
    caps: Caps,
    day_cap: int,
    now: float,
    blocks: Blocks | None = None,
) -> list[dict[str, Any]]:
    """For `status`: the groups held or throttled below the identity's caps, why, and until when (Unix time):
    per-domain shaping's once it applies (on `day_cap`, the daily cap the identity's day counts against,
    as the pacer decides it: Tencent's quota under it does not stop shaping), and the campaign's `blocks`
    (`campaign_blocks`) whether or not it does."""
    shown = await _shaped(redis, spec, identity, caps, now) if active(spec, identity_day, day_cap) else {}
    for group, (until, why) in (blocks or {}).items():
        own = shown.get(group)
        if own is not None and own["hourly_cap"] <= 0 and (own["until"] or 0.0) >= until:
            continue  # its own backoff holds it at least as long
        shown[group] = _shown(group, _held(why), until, 0, caps.daily if own is None else own["daily_cap"])
    return [shown[g] for g in sorted(shown)]
