"""A corrupt identity, a campaign key of the wrong type or a bad stored number stops only what uses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from orchestrator.core.clock import VirtualClock
from orchestrator.status import UNREADABLE, all_status
from orchestrator.store import campaigns, events, identities, keys
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from tests.e2e.procs import Procs, base_env, free_port, wait_for
from tests.pipeline_harness import FAST, arq_idle
from tests.pipeline_helpers import load, write_campaign
from workers.pacer import build_pacer

START = datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()

Damage = Callable[[Redis, str], Awaitable[object]]


async def _submit(redis: Redis, tmp_path: Path, name: str, n: int = 5) -> str:
    folder = tmp_path / name
    folder.mkdir()
    own = {"identities": [{"id": f"{name}-id0", "from": f"News <news@{name}.example.com>"}]}  # a domain each
    path = write_campaign(folder, n, name=name, identities=1, extra=FAST | own)
    campaign, fp = load(path)
    # Both campaigns send the same generated list on purpose: `force_new`, as `submit --new`.
    return (await submit(redis, campaign, fp, START, str(path), force_new=True)).campaign_id


def _identity_field(name: str, value: str) -> Damage:
    async def damage(redis: Redis, cid: str) -> None:
        await redis.hset(keys.IdentityKeys("bad-id0").meta, name, value)  # type: ignore[misc]

    return damage


def _campaign_field(name: str, value: str) -> Damage:
    async def damage(redis: Redis, cid: str) -> None:
        await redis.hset(keys.campaign(cid), name, value)  # type: ignore[misc]

    return damage


async def _wrong_type(redis: Redis, key: str) -> None:
    await redis.delete(key)
    await redis.set(key, "x")


#: (how the bad campaign's store is damaged, what its reason says)
DAMAGES = [
    pytest.param(_identity_field("warmup_day", "abc"), "identity bad-id0: stored warmup_day", id="warmup-day-abc"),
    pytest.param(_identity_field("warmup_day", "0"), "identity bad-id0: stored warmup_day", id="warmup-day-0"),
    pytest.param(_identity_field("daily_quota", "1e999"), "identity bad-id0: stored daily_quota", id="quota-1e999"),
    pytest.param(_identity_field("stopped_until", "nan"), "identity bad-id0: stored stopped_until", id="stopped-nan"),
    pytest.param(_identity_field("stopped_until", "1e999"), "identity bad-id0: stored stopped_until", id="stopped-inf"),
    pytest.param(_identity_field("open_date", "soon"), "identity bad-id0: stored open_date", id="open-date"),
    pytest.param(
        lambda r, cid: _wrong_type(r, keys.IdentityKeys("bad-id0").meta), "identity bad-id0: ", id="identity-string"
    ),
    pytest.param(lambda r, cid: _wrong_type(r, keys.campaign(cid)), "wrong type", id="campaign-string"),
    pytest.param(_campaign_field("created_at", "nan"), "created_at", id="created-nan"),
    pytest.param(_campaign_field("created_at", "1e999"), "created_at", id="created-inf"),
    pytest.param(_campaign_field("submit", '{"valid": "many"}'), "valid", id="submit-valid-text"),
]


@pytest.mark.parametrize(("damage", "reason"), DAMAGES)
async def test_pacer_and_status_skip_only_the_damaged_campaign(
    redis: Redis, tmp_path: Path, damage: Damage, reason: str
) -> None:
    """The pacer grants the sound campaign and warns once of the other; status shows it unreadable and why."""
    good = await _submit(redis, tmp_path, "good")
    bad = await _submit(redis, tmp_path, "bad")
    await damage(redis, bad)
    pacer = build_pacer(redis, VirtualClock(START))
    with capture_logs() as logged:
        reports = [await pacer.tick() for _ in range(3)]
    assert sum(r.by_identity.get("good-id0", 0) for r in reports) >= 1
    assert all("bad-id0" not in r.by_identity for r in reports)
    warnings = [e for e in logged if e["event"] == "campaign_unreadable"]
    assert [w["campaign"] for w in warnings] == [bad]
    assert reason in warnings[0]["reason"]
    by_id = {s.id: s for s in await all_status(redis, START)}
    assert by_id[good].state == "running"
    assert by_id[bad].state == UNREADABLE
    assert reason in by_id[bad].reason


async def test_fixed_identity_is_paced_again(redis: Redis, tmp_path: Path) -> None:
    """Once the identity's value is repaired, the campaign is granted again without a restart."""
    bad = await _submit(redis, tmp_path, "bad")
    await redis.hset(keys.IdentityKeys("bad-id0").meta, "warmup_day", "abc")  # type: ignore[misc]
    pacer = build_pacer(redis, VirtualClock(START))
    assert (await pacer.tick()).granted == 0
    await redis.hset(keys.IdentityKeys("bad-id0").meta, "warmup_day", "1")  # type: ignore[misc]
    assert (await pacer.tick()).granted >= 1
    counts = await Ledger(redis).counts(keys.CampaignKeys(bad))
    assert counts["failed"] == 0


@pytest.mark.parametrize(
    ("value", "why"),
    [
        pytest.param("abc", "warmup_day is not a whole number", id="text"),
        pytest.param("1e999", "warmup_day is not a whole number", id="float-overflow"),
        pytest.param("-3", "warmup_day is out of range", id="negative"),
    ],
)
def test_identity_parse_names_the_field_never_the_value(value: str, why: str) -> None:
    """A corrupt identity value is an UnreadableIdentityError naming the field; the value itself is not quoted."""
    with pytest.raises(identities.UnreadableIdentityError) as caught:
        identities.parse("news-a", {"warmup_day": value})
    assert caught.value.reason == f"stored {why}"
    assert value not in str(caught.value)


async def test_load_spec_of_a_campaign_key_of_the_wrong_type_is_unreadable(redis: Redis) -> None:
    """A send job asking for the spec of a campaign stored as a string gets Unreadable, not a Redis error."""
    await redis.set(keys.campaign("c-wrong"), "x")
    spec = await campaigns.load_spec(redis, "c-wrong")
    assert isinstance(spec, campaigns.Unreadable)
    assert spec.reason == "a stored key has the wrong type"


async def test_resolve_by_name_passes_over_a_campaign_of_the_wrong_type(redis: Redis, tmp_path: Path) -> None:
    """A campaign reference by name still resolves when another stored campaign is not a hash."""
    good = await _submit(redis, tmp_path, "good")
    bad = await _submit(redis, tmp_path, "bad")
    await _wrong_type(redis, keys.campaign(bad))
    assert await campaigns.resolve(redis, "good") == good


@pytest.mark.parametrize("t", ["abc", "nan", "1e999", "-5"])
async def test_events_read_marks_an_entry_whose_time_cannot_be_read(redis: Redis, t: str) -> None:
    """A stream entry with a corrupt time is returned marked unreadable, between the sound ones."""
    await events.emit(redis, START, "first", "c1")
    await redis.xadd(keys.EVENTS, {"t": t, "type": "odd", "campaign": "c1", "identity": ""})
    await events.emit(redis, START + 1, "last", "c1")
    read = await events.read(redis, "c1")
    assert [(e.type, bool(e.unreadable)) for e in read] == [("first", False), ("odd", True), ("last", False)]
    assert read[1].as_json()["t"] is None
    assert read[1].unreadable == "stored t is not " + ("a number" if t == "abc" else "a time")


async def test_worker_leaves_the_recipient_of_a_campaign_key_of_the_wrong_type(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Send jobs of a campaign whose record became a string after its grants log once and send nothing."""
    bad = await _submit(redis, tmp_path, "bad", 3)
    report = await build_pacer(redis, VirtualClock(START)).tick()
    assert report.granted >= 1
    await _wrong_type(redis, keys.campaign(bad))
    procs = Procs(tmp_path)
    try:
        procs.worker(base_env(redis_url, free_port()))
        wait_for(lambda: "campaign_unreadable" in (tmp_path / "worker.log").read_text(), 30, "the worker's warning")
        wait_for(lambda: arq_idle(redis_url), 30, "the worker to run every job")
    finally:
        procs.stop_all()
    counts = await Ledger(redis).counts(keys.CampaignKeys(bad))
    assert (counts["granted"], counts["failed"], counts["accepted"]) == (report.granted, 0, 0)
    log_text = (tmp_path / "worker.log").read_text()
    assert log_text.count('"campaign_unreadable"') == 1
    assert "wrong type" in log_text
    assert "Traceback" not in log_text
