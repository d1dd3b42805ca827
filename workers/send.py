"""The send job: claim one recipient, check, send through the provider, record the outcome."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core import send_status
from orchestrator.core.campaign import Campaign, ColumnSource, Identity
from orchestrator.core.campaign_state import ELSEWHERE, SENDING, Transition
from orchestrator.core.decisions import Action, Decision, SideEffect, decide, identity_resume_at
from orchestrator.core.domains import address_group
from orchestrator.core.guardrails import data_failure_pause, is_data_failure
from orchestrator.core.sending import SendOutcome, SendRequest, Wanted
from orchestrator.store import campaigns, events, group_state, identities, keys, suppression
from orchestrator.store.ledger import Claim
from orchestrator.store.stored_values import refused
from workers.deps import Deps

log = structlog.get_logger("workers.send")
#: Tencent's answer for an address on its blocklist: the address goes into the blocklist mirror.
BLOCKLISTED = send_status.REFUSAL_CODES[send_status.BLOCKLISTED]


def address_hash(address: str, key: bytes = b"") -> str:
    """A short, stable pseudonym for logs: never a full address at info level (keyed by LOG_PSEUDONYM_KEY)."""
    return hashlib.blake2b(address.encode(), digest_size=6, key=key).hexdigest()


def template_data(spec: Campaign, values: list[str]) -> dict[str, str]:
    it = iter(values)
    return {k: (next(it) if isinstance(src, ColumnSource) else src.value) for k, src in spec.template.data.items()}


async def _spec(deps: Deps, cid: str) -> Campaign | None:
    """The campaign's spec: fetched once per process (it never changes after submit).

    None when the campaign is gone, or when its stored spec cannot be read: then the recipient is
    left as granted (not failed, not lost) and the sweeper offers it again later.
    """
    spec = await campaigns.load_spec(deps.redis, cid)
    if isinstance(spec, campaigns.Unreadable):
        _warn_unreadable(cid, spec.reason)
        return None
    return spec


def _warn_unreadable(cid: str, reason: str) -> None:
    """Log once per process, not once per job, that `cid`'s jobs leave their recipients untouched."""
    if cid not in _UNREADABLE_LOGGED:
        _UNREADABLE_LOGGED.add(cid)
        log.warning("campaign_unreadable", campaign=cid, reason=reason)


_UNREADABLE_LOGGED: set[str] = set()


async def send_one(ctx: dict[str, Any], cid: str, idx: int, grant: str) -> str:
    """arq job: send recipient `idx` of campaign `cid` under grant `grant`; returns what happened."""
    deps: Deps = ctx["deps"]
    ck = keys.CampaignKeys(cid)
    spec = await _spec(deps, cid)
    identity_id, seq = grant.rsplit(":", 1)
    ident = next((i for i in spec.identities if i.id == identity_id), None) if spec else None
    if spec is None or ident is None:
        return "orphan"
    token, now = secrets.token_hex(8), deps.clock.now()
    try:
        claim = await deps.ledger.claim(ck, idx, grant, token, now, deps.lease_s, ident.domain, deps.target)
    except ResponseError as exc:  # the record became unreadable after its spec was cached: left as granted
        _warn_unreadable(cid, refused(exc) or "Redis refused a command")
        return "orphan"
    if claim is None:
        return "stale"  # another job or the sweeper already owns this grant: never send twice
    grant_date = datetime.fromtimestamp(claim.grant_time, tz=spec.zone).date().isoformat()
    bound = log.bind(
        campaign=cid,
        identity=identity_id,
        recipient_domain=claim.address.rsplit("@", 1)[-1],
        job_try=ctx.get("job_try", 1),
        attempt=claim.attempt,
    )

    async def record(d: Decision) -> bool:
        return await deps.ledger.finish(
            ck,
            identity_id,
            idx,
            token,
            deps.clock.now(),
            d.action.value,
            value=d.value,
            ready_at=d.ready_at,
            refund=d.refund,
            grant_member=f"{cid}:{idx}:{seq}",
            grant_local_date=grant_date,
            grant_time=claim.grant_time,
            detail=d.detail,
        )

    unsent = await _not_to_send(deps, cid, claim, record, bound)
    if unsent is not None:
        if claim.suppressed:
            await _trace_suppressed(deps, cid, identity_id, idx, claim)
        return unsent
    outcome = await deps.sender.send(_request(spec, ident, claim, functools.partial(_still_sending, deps.redis, cid)))
    now = deps.clock.now()
    decision = _decide(deps, spec, ident, outcome, claim.attempt, now)
    await _side_effects(deps, spec, ck, decision, claim, ident.domain, identity_id, now)
    if not await record(decision):
        bound.warning("send_outcome_stale", outcome=outcome.kind.value, code=outcome.code)
        return "stale_finish"
    if decision.refund:
        deps.refunds += 1
    await _report(deps, cid, identity_id, idx, claim, decision, outcome.kind.value, now, bound)
    return decision.action.value


async def _sent_elsewhere(
    deps: Deps, cid: str, went_to: str, record: Callable[[Decision], Awaitable[bool]], bound: Any
) -> str:
    """The campaign's mail went to another place than this worker sends to (a trial against the emulator, then
    Tencent's credentials set): not sent, back to the queue, and the campaign paused until the operator resumes
    it, which binds it to where the next send goes."""
    await record(Decision(Action.REQUEUE, value="not_running", refund=True))
    if await deps.redis.hget(keys.campaign(cid), "target") != went_to:
        return "released"  # a resume unbound it meanwhile (another worker's pause, lifted): not paused again
    reason = (
        f"it sends to {went_to} (where its first claim bound it), and a worker sending to {deps.target} "
        "took it: resume it to send there from now on"
    )
    await campaigns.transition(deps.redis, cid, Transition.PAUSE, deps.clock.now(), reason=reason, by=ELSEWHERE)
    bound.warning("send_target_changed", bound_to=went_to, worker_sends_to=deps.target)
    return "released"


async def _not_to_send(
    deps: Deps, cid: str, claim: Claim, record: Callable[[Decision], Awaitable[bool]], bound: Any
) -> str | None:
    """Record and name the outcome when the claimed recipient must not be sent now; None to send."""
    if claim.elsewhere:
        return await _sent_elsewhere(deps, cid, claim.elsewhere, record, bound)
    if claim.campaign_state != SENDING:
        # Paused or cancelled after the grant: not sent, goes back to the front of the queue.
        await record(Decision(Action.REQUEUE, value="not_running", refund=True))
        bound.info("send_released", state=claim.campaign_state)
        return "released"
    if claim.suppressed:
        await record(Decision(Action.SUPPRESSED, value=claim.suppressed, refund=True))
        bound.info("send_suppressed", reason=claim.suppressed)
        return "suppressed"
    return None


def _request(spec: Campaign, ident: Identity, claim: Claim, still_wanted: Wanted | None = None) -> SendRequest:
    """The provider request for the claimed recipient, sent from `ident`."""
    return SendRequest(
        account=ident.account,
        from_address=ident.from_,
        to_address=claim.address,
        template_id=spec.template.id,
        template_data=template_data(spec, claim.values),
        subject=spec.template.subject,
        unsubscribe=spec.template.unsubscribe,
        trigger_type=spec.trigger_type,
        reply_to=ident.reply_to,
        still_wanted=still_wanted,
    )


async def _still_sending(redis: Any, cid: str) -> bool:
    """Asked when a send waited long for its API slot: its campaign was not paused or cancelled meanwhile."""
    return bool(await campaigns.running_among(redis, [cid]))


def _decide(deps: Deps, spec: Campaign, ident: Identity, outcome: SendOutcome, attempt: int, now: float) -> Decision:
    """What to do with the outcome, under the campaign's retry settings. A pause's reason names the identity
    and its account: a campaign may send through several accounts, and only one may have a wrong key."""
    d = decide(
        outcome,
        attempt,
        now,
        spec.retry.max_attempts,
        spec.retry.base_delay_s,
        spec.retry.max_delay_s,
        deps.rnd,
        deps.reconcile_after_s,
    )
    if d.action is Action.PAUSE:
        return dataclasses.replace(d, detail=f"{d.detail} (identity {ident.id}, account {ident.account})")
    return d


async def _side_effects(
    deps: Deps,
    spec: Campaign,
    ck: keys.CampaignKeys,
    d: Decision,
    claim: Claim,
    sender_domain: str,
    identity_id: str,
    now: float,
) -> None:
    if d.effect is SideEffect.BLOCK_DOMAIN:
        # The grant script reads the block and drops it once it has passed; the group's backoff with
        # this identity (shared by every campaign, acted on once per-domain shaping applies) restarts.
        group = address_group(claim.address)
        await deps.redis.zadd(ck.blocks, {group: d.until})
        await _back_off(deps, spec, ck.cid, identity_id, group, d, now)
    elif d.effect is SideEffect.STOP_IDENTITY:
        await identities.stop_until(deps.redis, identity_id, identity_resume_at(now, spec.zone))
        await events.emit(deps.redis, now, "identity_stopped_today", ck.cid, identity_id, code=d.value)
    elif d.effect is SideEffect.BLOCKLIST or d.effect is SideEffect.UNSUBSCRIBED:
        await suppress_refused(deps.redis, d, claim.address, sender_domain, spec_account(spec, identity_id), now)


async def _back_off(
    deps: Deps, spec: Campaign, cid: str, identity_id: str, group: str, d: Decision, now: float
) -> None:
    """Restart the group's backoff with this identity, and say so in the event stream (start and end)."""
    st = await identities.load(deps.redis, identity_id)
    day = st.progress.warmup_day if st else 1
    shaped = st is not None and group_state.active(spec, day, st.open_cap)
    await group_state.back_off(
        deps.redis, cid, identity_id, group, now, d.value, day, shaped=shaped, hold_until=d.until
    )


async def _trace_suppressed(deps: Deps, cid: str, identity_id: str, idx: int, claim: Claim) -> None:
    """The reason in the event stream, for a per-recipient trace."""
    await events.emit(
        deps.redis,
        deps.clock.now(),
        "send_suppressed",
        cid,
        identity_id,
        index=idx,
        code=claim.suppressed,
        recipient=address_hash(claim.address, deps.pseudonym_key),
        detail=claim.suppressed_detail or None,
    )


def spec_account(spec: Campaign, identity_id: str) -> str:
    return next((i.account for i in spec.identities if i.id == identity_id), "")


async def suppress_refused(
    redis: Redis, d: Decision, address: str, sender_domain: str, account: str, now: float
) -> None:
    """Keep what Tencent's refusal says: the address is on its blocklist, or unsubscribed from the sender
    (the send's own answer, or the status row an in-doubt lookup found: workers/sweep.py)."""
    text = d.detail or d.value
    if d.effect is SideEffect.UNSUBSCRIBED:
        entry = suppression.Entry(address, sender_domain, text, now, "unsubscribe")
        await suppression.put(redis, [entry], now)
    elif d.value == BLOCKLISTED:
        mirrored = suppression.BlockEntry(address, now, 0.0, text, account)  # the store folds it
        await suppression.block(redis, mirrored, now)
    else:  # rejected by the recipient's server: a hard bounce, kept for every sender domain
        await suppression.put(redis, [suppression.Entry(address, "", text, now, "hard_bounce")], now)


async def _report(
    deps: Deps,
    cid: str,
    identity_id: str,
    idx: int,
    claim: Claim,
    d: Decision,
    kind: str,
    now: float,
    bound: Any,
) -> None:
    who = address_hash(claim.address, deps.pseudonym_key)
    if d.action is Action.ACCEPTED:
        bound.info("send_accepted", message_id=d.value, recipient=who)
        return
    # What an operator must see even with LOG_LEVEL=WARNING: a pause, a recipient failed, a send in doubt.
    level = bound.warning if d.action in (Action.PAUSE, Action.FAILED, Action.IN_DOUBT) else bound.info
    level(f"send_{d.action.value}", code=d.value, outcome=kind, recipient=who, ready_at=d.ready_at or None)
    await events.emit(
        deps.redis,
        now,
        f"send_{d.action.value}",
        cid,
        identity_id,
        index=idx,
        code=d.value,
        attempt=claim.attempt,
        recipient=who,
        ready_at=d.ready_at or None,
        detail=d.detail or None,
    )
    if d.action is Action.FAILED and is_data_failure(d.value):
        counts = await deps.ledger.counts(keys.CampaignKeys(cid))
        reason = data_failure_pause(d.value, counts["failed"], counts["accepted"])
        if reason is not None:
            await campaigns.transition(deps.redis, cid, Transition.AUTO_PAUSE, now, reason=reason)
