"""/metrics: a Prometheus collector over the Redis counters, read at scrape time (every process counted once)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from redis.asyncio import Redis

from orchestrator.core.campaign_state import CampaignState
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.status import PROGRESS_KEYS, UNREADABLE
from orchestrator.store import campaigns, keys
from orchestrator.store.api_stats import CALLS, THROTTLES
from orchestrator.store.stored_values import BadStoredValueError, whole
from orchestrator.web.context import WebContext
from orchestrator.web.live import pacer_tick_age, status_json
from workers.jobs import QUEUE

#: The progress counts a campaign's recipients are shown under (PROGRESS_KEYS without the total).
OUTCOMES = tuple(k for k in PROGRESS_KEYS if k != "total")
#: The identity figures of `status --json`, each a gauge `wo_identity_<name>` labelled campaign and identity.
IDENTITY_FIGURES = ("sent_today", "daily_cap", "sent_last_hour", "hourly_cap", "warmup_day")


@dataclass
class Snapshot:
    """Everything one scrape shows, read from Redis before the collector runs (collectors are synchronous)."""

    statuses: list[dict[str, Any]]
    feedback: dict[tuple[str, str, str], int] = field(default_factory=dict)
    arq_queue: int = 0
    queues: dict[str, tuple[int, int]] = field(default_factory=dict)  # campaign -> (queue length, deferred)
    #: campaign -> sends in doubt, from its counts hash: an unreadable campaign's too (its status shows none)
    in_doubt: dict[str, int] = field(default_factory=dict)
    pacer_tick_age_s: float | None = None
    api: dict[str, tuple[int, int]] = field(default_factory=dict)  # account -> (calls, throttles)


async def read_snapshot(ctx: WebContext) -> Snapshot:
    """Read every figure /metrics shows from Redis (the same status as `status --json`)."""
    redis = ctx.redis
    snap = Snapshot(statuses=await status_json(ctx))
    snap.pacer_tick_age_s = await pacer_tick_age(ctx)
    # Not the older finished campaigns the status list leaves out: their series would only ever grow in number.
    left_out = set(await campaigns.all_ids(redis)) - {st["id"] for st in snap.statuses}
    snap.feedback = {k: n for k, n in _feedback(await redis.hgetall(keys.FB_TOTALS)).items() if k[2] not in left_out}
    snap.arq_queue = int(await redis.zcard(QUEUE))
    accounts = {DEFAULT_ACCOUNT, *ctx.settings.accounts}
    for st in snap.statuses:
        ck = keys.CampaignKeys(st["id"])
        async with redis.pipeline(transaction=False) as pipe:
            pipe.llen(ck.queue)
            pipe.zcard(ck.later)
            pipe.hget(ck.counts, "in_doubt")
            queued, later, doubt = await pipe.execute(raise_on_error=False)
        snap.queues[st["id"]] = (_count(queued), _count(later))
        snap.in_doubt[st["id"]] = _whole_or_zero(doubt)
        spec = campaigns.cached_spec(st["id"])
        if spec is not None:
            accounts.update(i.account for i in spec.identities)
    snap.api = await _api_stats(redis, sorted(accounts))
    return snap


#: The states in which a campaign grants nothing more.
FINISHED = frozenset({CampaignState.COMPLETED.value, CampaignState.CANCELLED.value})


def _count(reply: object) -> int:
    return reply if isinstance(reply, int) else 0  # a key of another type (an error reply) counts nothing


def _whole_or_zero(reply: object) -> int:
    """A stored count, 0 when absent or not a count (a damaged one, or a key of another type)."""
    try:
        return whole(reply if isinstance(reply, str) else None, "in-doubt count", low=0)
    except BadStoredValueError:
        return 0


def _feedback(raw: dict[str, str]) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for name, value in raw.items():
        parts = name.split("|")
        if len(parts) != 3:
            continue  # not a field of this format: skipped rather than mislabelled
        try:
            out[(parts[0], parts[1], parts[2])] = whole(value, "callback count")
        except BadStoredValueError:
            continue
    return out


async def _api_stats(redis: Redis, accounts: list[str]) -> dict[str, tuple[int, int]]:
    async with redis.pipeline(transaction=False) as pipe:
        for account in accounts:
            pipe.hmget(keys.account_stats(account), [CALLS, THROTTLES])
        replies = await pipe.execute(raise_on_error=False)
    out: dict[str, tuple[int, int]] = {}
    for account, reply in zip(accounts, replies, strict=True):
        if isinstance(reply, list) and any(v is not None for v in reply):
            try:
                out[account] = (whole(reply[0], "API calls"), whole(reply[1], "API throttles"))
            except BadStoredValueError:
                continue
    return out


class StoreCollector(Collector):
    """Yields one scrape's snapshot as Prometheus metric families."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        yield from self._campaigns()
        yield from self._identities()
        callbacks = CounterMetricFamily(
            "wo_callback_events",
            "Tencent callback events by type (accepted sends too)",
            labels=["event", "identity", "campaign"],
        )
        for (event, identity, cid), n in sorted(self.snap.feedback.items()):
            callbacks.add_metric([event, identity, cid], n)
        yield callbacks
        yield GaugeMetricFamily("wo_arq_queue_depth", "Send jobs waiting on arq's queue", value=self.snap.arq_queue)
        calls = CounterMetricFamily("wo_api_calls", "Tencent API calls made, per account", labels=["account"])
        throttles = CounterMetricFamily(
            "wo_api_throttles", "Tencent API calls refused with RequestLimitExceeded*, per account", labels=["account"]
        )
        for account, (n_calls, n_throttles) in sorted(self.snap.api.items()):
            calls.add_metric([account], n_calls)
            throttles.add_metric([account], n_throttles)
        yield calls
        yield throttles
        if self.snap.pacer_tick_age_s is not None:
            yield GaugeMetricFamily(
                "wo_pacer_tick_age_seconds", "Seconds since the pacer's last tick", value=self.snap.pacer_tick_age_s
            )

    def _campaigns(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "wo_campaign_state", "1 for the campaign's current state", labels=["campaign", "state"]
        )
        size = GaugeMetricFamily("wo_campaign_recipients_valid", "The campaign's valid recipients", labels=["campaign"])
        outcome = GaugeMetricFamily(
            "wo_campaign_recipients", "The campaign's recipients by ledger outcome", labels=["campaign", "outcome"]
        )
        queue = GaugeMetricFamily("wo_campaign_queue_length", "Recipients ready to be granted", labels=["campaign"])
        later = GaugeMetricFamily("wo_campaign_deferred", "Recipients waiting for a retry time", labels=["campaign"])
        doubt = GaugeMetricFamily("wo_in_doubt", "Sends in doubt, every campaign together")
        doubt.add_metric([], sum(self.snap.in_doubt.values()))
        for st in self.snap.statuses:
            cid = st["id"]
            state.add_metric([cid, st["state"]], 1)
            if st["state"] != UNREADABLE:  # its counts are unknown: left out, not shown as zeros
                size.add_metric([cid], st["progress"]["total"])
                for name in OUTCOMES:
                    outcome.add_metric([cid, name], st["progress"][name])
            # A finished campaign grants nothing more: what its queue still lists is not waiting to go.
            finished = st["state"] in FINISHED
            queued, deferred = (0, 0) if finished else self.snap.queues.get(cid, (0, 0))
            queue.add_metric([cid], queued)
            later.add_metric([cid], deferred)
        yield from (state, size, outcome, queue, later, doubt)

    def _identities(self) -> Iterator[Metric]:
        families = {
            name: GaugeMetricFamily(
                f"wo_identity_{name}", f"status's {name} of the identity", labels=["campaign", "identity"]
            )
            for name in IDENTITY_FIGURES
        }
        for st in self.snap.statuses:
            for ident in st["identities"]:
                for name, family in families.items():
                    family.add_metric([st["id"], ident["id"]], ident[name])
        yield from families.values()


def exposition(snap: Snapshot) -> bytes:
    """The snapshot in Prometheus's text format, through a registry of its own (never the global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(snap))
    return generate_latest(registry)


#: The Content-Type of exposition(): Prometheus's text format.
CONTENT_TYPE = CONTENT_TYPE_LATEST
