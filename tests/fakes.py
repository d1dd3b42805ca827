"""Submit helpers shared by the pipeline tests (Tencent's side is the emulator: tests/pipeline_harness.py)."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from orchestrator.store import keys
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign


async def submit_file(redis: Redis, path: Path, now: float) -> str:
    """Submit the campaign file at `path` at time `now`; its campaign id."""
    campaign, fp = load(path)
    return (await submit(redis, campaign, fp, now, str(path))).campaign_id


async def one_identity_campaign(
    redis: Redis, tmp_path: Path, now: float, n: int = 5, new: bool = False
) -> tuple[Ledger, keys.CampaignKeys, str]:
    """A campaign of `n` recipients and one identity, submitted at `now`: its ledger, keys and identity id
    (`new`: as `submit --new`, beside a running campaign of the same addresses)."""
    path = write_campaign(tmp_path, n, identities=1)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, now, str(path), force_new=new)).campaign_id
    return Ledger(redis), keys.CampaignKeys(cid), campaign.identities[0].id
