"""Submit refuses a campaign that would pace an identity differently from an unfinished campaign on it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis

from orchestrator.core.campaign_state import Transition
from orchestrator.store import campaigns, keys
from orchestrator.store.identities import IdentityConflictError
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def second_file(tmp_path: Path, first: Path, name: str, **changes: Any) -> Path:
    """Another campaign file on `first`'s identities (its own list), with `changes` to its top-level keys."""
    doc = yaml.safe_load(first.read_text())
    (tmp_path / f"{name}.csv").write_text("email,first_name\n" + "".join(f"{name}{i}@naver.com,N\n" for i in range(5)))
    doc |= {"name": name, "recipients": {**doc["recipients"], "file": f"{name}.csv"}} | changes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def submit_path(redis: Redis, path: Path) -> str:
    spec, fp = load(path)
    return (await submit(redis, spec, fp, START, str(path))).campaign_id


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        pytest.param({"pool": {"multiplier": 2}}, "pool", id="pool"),
        pytest.param({"plan": {"scale": 0.5}}, "plan", id="plan"),
        pytest.param({"mode": "transactional"}, "mode", id="mode"),
        pytest.param({"content": "signup"}, "content", id="content"),
        pytest.param({"guardrails": {"window_hours": 48}}, "guardrails", id="guardrails"),
        pytest.param({"shaping": {"max_domain_share": 0.5}}, "shaping", id="shaping"),
        pytest.param({"plan": {"scale": 0.5}, "pool": {"multiplier": 2}}, "plan, pool", id="two-keys"),
    ],
)
async def test_an_identity_shared_with_an_unfinished_campaign_is_paced_one_way(
    redis: Redis, tmp_path: Path, changes: dict[str, Any], named: str
) -> None:
    """A campaign that differs from a running one on the same identities in a key that paces them is
    refused before anything is written, with the keys that differ named; the first campaign is untouched."""
    first = write_campaign(tmp_path, 10, name="first", identities=2)
    cid = await submit_path(redis, first)
    before = sorted(await redis.keys("*"))
    other = second_file(tmp_path, first, "second", **changes)
    with pytest.raises(
        IdentityConflictError, match=f"campaign {cid} \\(running\\), and this campaign differs from it in {named}:"
    ):
        await submit_path(redis, other)
    assert sorted(await redis.keys("*")) == before


async def test_a_shared_identity_takes_a_campaign_paced_the_same_way_and_any_after_the_first_ends(
    redis: Redis, tmp_path: Path
) -> None:
    """Another template and list on the same identities, plan and pool is taken (a newer daily_quota too); a
    subset of the identities is not (its pool would share them out otherwise), also while the first is
    paused; once the first is cancelled, any plan is taken (and, that one cancelled too, the subset)."""
    first = write_campaign(tmp_path, 10, name="first", identities=2)
    cid = await submit_path(redis, first)
    same = second_file(tmp_path, first, "same", template={"id": 2, "subject": "Another mail"})
    assert await submit_path(redis, same)
    doc = yaml.safe_load(first.read_text())
    raised = [{**i, "daily_quota": 900} for i in doc["identities"]]  # Tencent raised the level since: the same pool
    assert await submit_path(redis, second_file(tmp_path, first, "raised", identities=raised))
    await campaigns.transition(redis, cid, Transition.PAUSE, START)
    subset = second_file(tmp_path, first, "subset", identities=doc["identities"][:1])
    with pytest.raises(IdentityConflictError, match=r"identity 'first-id0' is paced by campaign first-\w+ \(paused\)"):
        await submit_path(redis, subset)
    slower = second_file(tmp_path, first, "slower", plan={"scale": 0.5})
    with pytest.raises(IdentityConflictError, match="differs from it in plan"):
        await submit_path(redis, slower)
    for other in await campaigns.all_ids(redis):
        await campaigns.transition(redis, other, Transition.CANCEL, START)
    slow = await submit_path(redis, slower)
    await campaigns.transition(redis, slow, Transition.CANCEL, START)
    assert await submit_path(redis, subset)


async def test_a_campaign_without_daily_quota_keeps_the_quota_another_gave_the_identity(
    redis: Redis, tmp_path: Path
) -> None:
    """The first file says daily_quota 500; a second on the same identity says none: the stored quota stays
    500 (Tencent would refuse past it); a third that says 900 replaces it."""
    first = write_campaign(tmp_path, 10, name="first", identities=1)
    doc = yaml.safe_load(first.read_text())
    quota = [{**i, "daily_quota": 500} for i in doc["identities"]]
    await submit_path(redis, second_file(tmp_path, first, "quota", identities=quota))
    ident = doc["identities"][0]["id"]
    assert await redis.hget(keys.IdentityKeys(ident).meta, "daily_quota") == "500"
    await submit_path(redis, second_file(tmp_path, first, "silent", template={"id": 2, "subject": "Another"}))
    assert await redis.hget(keys.IdentityKeys(ident).meta, "daily_quota") == "500"
    raised = [{**i, "daily_quota": 900} for i in doc["identities"]]
    await submit_path(redis, second_file(tmp_path, first, "raised", identities=raised))
    assert await redis.hget(keys.IdentityKeys(ident).meta, "daily_quota") == "900"


async def test_two_submits_at_once_that_pace_one_identity_differently_cannot_both_commit(
    redis: Redis, tmp_path: Path
) -> None:
    """Submitted side by side (each checks the other campaigns, then commits): one of each pair is created,
    the other refused, never both; and two side by side that agree are both created."""
    for n in range(4):
        await redis.flushdb()  # each pair on the same sender domain, alone
        folder = tmp_path / f"pair{n}"
        folder.mkdir()
        first = write_campaign(folder, 5, name=f"a{n}", identities=1)
        slower = second_file(folder, first, f"b{n}", plan={"scale": 0.5})
        results = await asyncio.gather(submit_path(redis, first), submit_path(redis, slower), return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["IdentityConflictError", "str"], results
    await redis.flushdb()
    agreeing = write_campaign(tmp_path, 5, name="c", identities=1)
    same = second_file(tmp_path, agreeing, "d", template={"id": 2, "subject": "Another"})
    created = await asyncio.gather(submit_path(redis, agreeing), submit_path(redis, same))
    assert len(set(created)) == 2
    assert await redis.get(keys.SUBMIT_TURN) is None  # given back
