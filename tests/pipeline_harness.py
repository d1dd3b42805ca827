"""The pipeline harness: a submitted campaign, the emulator and one virtual clock.

The official SDK (TencentSender) talks over HTTP to the SES emulator, which shares the clock; the
real pacer, limiter, send job and ledger run on it (`orchestrator.simulation.virtual_run`). The
`pipe` fixture (tests/integration/conftest.py) builds one for the error-table tests; `tencent_run`
is the same path for tests that write their own campaign files, read back from the emulator's
send log with `send_times`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.pacing import PacerConfig
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import (
    Account,
    Behaviour,
    FaultRule,
    IdentityConfig,
    RunningEmulator,
    SendRecord,
    TemplateConfig,
    World,
    run_emulator,
)
from orchestrator.settings import Settings
from orchestrator.simulation.budget import VirtualCallBudget
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import campaigns, events, keys
from orchestrator.store.campaigns import State
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign


def arq_idle(redis_url: str) -> bool:
    """No send job queued or running on arq's queue."""
    import redis as redis_sync

    with redis_sync.Redis.from_url(redis_url) as r:
        return r.zcard("arq:queue") == 0 and not r.keys("arq:in-progress:*")


START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
SECRET_ID, SECRET_KEY = "AKIDpipelinetest", "pipeline-test-secret-key"
VICTIM = "victim@victim.example.net"
VICTIM_DOMAIN = "victim.example.net"
OTHERS = ["gmail.com", "naver.com", "daum.net", "outlook.com", "nate.com", "example.org"]
#: One send every 10 s per identity, no daily limit in the way, no domain share: errors are the only brake.
SPACING_S = 10.0
FAST: dict[str, Any] = {
    "plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 360}]},
    "shaping": {"max_domain_share": 1.0},
}


def recipients_csv(n_others: int = 11, victim: bool = True) -> str:
    """`n_others` recipients spread over common domains, and the one recipient the faults aim at."""
    rows = ["email,first_name"]
    if victim:
        rows.append(f"{VICTIM},Victim")
    rows += [f"user{i}@{OTHERS[i % len(OTHERS)]},Name{i}" for i in range(n_others)]
    return "\n".join(rows) + "\n"


def make_world(sender_domains: list[str]) -> World:
    """One account; the campaign's sender domains verified at the top level; template 1 approved."""
    return World(
        accounts=[Account(name="default", secret_id=SECRET_ID, secret_key=SECRET_KEY)],
        identities=[IdentityConfig(domain=d, reputation_level=20) for d in sender_domains],
        templates=[TemplateConfig(id=1, name="news", html="<p>Hello {{name}}</p>")],
        account_rate_per_s=None,
    )


#: The sender domains of tests/pipeline_helpers.write_campaign's identities (news@d0.example.com, ...).
CAMPAIGN_DOMAINS = [f"d{k}.example.com" for k in range(3)]
#: A healthy list: every mail delivered, 70 % of it opened. The delivery follow-up's lookups report both,
#: and marketing mail opening below 50 % holds the warm-up step (spec/warmup.md section 7): with this
#: list the guardrails stay quiet and the plan alone paces.
HEALTHY = Behaviour(open_rate=0.7)


def settings_for(emu: RunningEmulator, key: str = SECRET_KEY, timeout_s: float = 2.0) -> Settings:
    return Settings(
        _env_file=None,
        SES_ENDPOINT=emu.url,
        SES_TIMEOUT_S=timeout_s,
        TENCENTCLOUD_SECRET_ID=SecretStr(SECRET_ID),
        TENCENTCLOUD_SECRET_KEY=SecretStr(key),
    )


@asynccontextmanager
async def tencent_run(
    redis_url: str,
    clock: VirtualClock,
    workers: int = 1,
    faults: Sequence[FaultRule] = (),
    *,
    config: PacerConfig | None = None,
    timeout_s: float = 2.0,
    domains: Sequence[str] = CAMPAIGN_DOMAINS,
    account_rate_per_s: float | None = None,
    paced: bool = False,
) -> AsyncIterator[tuple[VirtualRun, RunningEmulator]]:
    """The real pipeline on `clock`, sending with TencentSender over HTTP to the emulator on the same clock.

    The world verifies the campaign files' sender domains (CAMPAIGN_DOMAINS, or `domains`), has a
    HEALTHY list and injects `faults`; `config` is the pacer's, `timeout_s` the SDK's
    (SES_TIMEOUT_S), `account_rate_per_s` the calls a second the emulator lets the account make
    (None: unlimited), and `paced` gives the sender the account's API budget as `simulate` does.
    """
    async with (
        tencent_sender(
            clock, faults, timeout_s=timeout_s, domains=domains, account_rate_per_s=account_rate_per_s, paced=paced
        ) as (sender, emu),
        VirtualRun(redis_url, clock, sender, config, workers=workers) as run,
    ):
        yield run, emu


@asynccontextmanager
async def tencent_sender(
    clock: VirtualClock,
    faults: Sequence[FaultRule] = (),
    *,
    timeout_s: float = 2.0,
    domains: Sequence[str] = CAMPAIGN_DOMAINS,
    account_rate_per_s: float | None = None,
    paced: bool = False,
) -> AsyncIterator[tuple[TencentSender, RunningEmulator]]:
    """TencentSender talking over HTTP to the emulator on `clock`: the world of `tencent_run`.

    Unpaced, every call leaves when its job runs: the grants alone pace the sends, and may grant a
    second's worth at one instant. `paced`, each call takes a slot of the account's API budget on the
    virtual clock first (orchestrator/simulation/budget.py, as `simulate` does; a send with no slot
    left is put off), as live calls wait for their slot in Redis.
    """
    world = make_world(list(domains))
    world.behaviour = HEALTHY
    world.faults = list(faults)
    world.account_rate_per_s = account_rate_per_s
    budget = VirtualCallBudget(clock) if paced else None
    async with (
        run_emulator(world, clock=clock) as emu,
        TencentSender(settings_for(emu, timeout_s=timeout_s), budget=budget) as sender,
    ):
        yield sender, emu


def sender_domain(record: SendRecord) -> str:
    """The domain of a logged send's sender ("News <news@d0.example.com>" -> "d0.example.com")."""
    return record.from_address.rstrip(">").rpartition("@")[2]


def send_times(
    log: Iterable[SendRecord], *, to_domain: str | None = None, sender: str | None = None, since: float | None = None
) -> list[float]:
    """The emulator's clock at each accepted send: to one recipient domain, from one sender domain, from `since` on."""
    return [
        r.time
        for r in log
        if (to_domain is None or r.to_address.endswith("@" + to_domain))
        and (sender is None or sender_domain(r) == sender)
        and (since is None or r.time >= since)
    ]


@dataclass
class Pipeline:
    """A submitted campaign, the emulator and the shared virtual clock."""

    redis: Redis
    redis_url: str
    clock: VirtualClock
    emu: RunningEmulator
    tmp_path: Path
    cid: str = ""
    n: int = 0

    async def submit(
        self, csv_text: str, identities: int = 1, extra: dict[str, Any] | None = None, new: bool = False
    ) -> str:
        """Submit `csv_text`; `new`: as `submit --new` (another campaign of a list one still sends)."""
        path = write_campaign(
            self.tmp_path, 0, identities=identities, extra={**FAST, **(extra or {})}, csv_text=csv_text
        )
        campaign, fp = load(path)
        result = await submit(self.redis, campaign, fp, self.clock.now(), str(path), force_new=new)
        self.cid, self.n = result.campaign_id, result.stats.valid
        return self.cid

    async def run(self, seconds: float, key: str = SECRET_KEY, timeout_s: float = 2.0, workers: int = 2) -> None:
        """Drive the pipeline for `seconds` of virtual time (or until nothing is left to do)."""
        async with (
            TencentSender(settings_for(self.emu, key=key, timeout_s=timeout_s)) as sender,
            VirtualRun(self.redis_url, self.clock, sender, workers=workers) as run,
        ):
            await run.run_until(self.clock.now() + seconds)

    async def states(self) -> dict[str, str]:
        """Every recipient's ledger state, by address."""
        ledger = Ledger(self.redis)
        ck = keys.CampaignKeys(self.cid)
        out = {}
        for idx in range(self.n):
            address, _ = await ledger.record_of(ck, idx)
            out[address] = await ledger.state_of(ck, idx)
        return out

    async def index_of(self, address: str) -> int:
        ledger = Ledger(self.redis)
        ck = keys.CampaignKeys(self.cid)
        for idx in range(self.n):
            if (await ledger.record_of(ck, idx))[0] == address:
                return idx
        raise LookupError(address)

    async def events(self, etype: str) -> list[events.Event]:
        return [e for e in await events.read(self.redis, self.cid, count=100_000) if e.type == etype]

    async def record(self) -> campaigns.CampaignRecord:
        rec = await campaigns.get(self.redis, self.cid)
        assert rec is not None
        return rec

    def sent_to(self, address: str) -> list[Any]:
        return [r for r in self.emu.send_log if r.to_address == address]

    def assert_each_sent_once(self) -> None:
        """The emulator accepted every recipient exactly once, and the ledger holds those MessageIds."""
        counts = Counter(r.to_address for r in self.emu.send_log)
        assert len(counts) == self.n
        assert set(counts.values()) == {1}


async def assert_accepted_with_logged_ids(pipe: Pipeline) -> None:
    """Every ledger entry is accepted with the MessageId the emulator gave that recipient."""
    logged = {r.to_address: r.message_id for r in pipe.emu.send_log}
    assert await pipe.states() == {a: f"a|{m}" for a, m in logged.items()}
    rec = await pipe.record()
    assert rec.state is State.COMPLETED
    assert rec.counts["accepted"] == pipe.n
