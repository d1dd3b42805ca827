"""Every key a Lua script touches is one it was given in KEYS, watched with MONITOR on a real Redis."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field

from redis.asyncio import Redis

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import VirtualClock
from orchestrator.ses.emulator import FaultRule
from orchestrator.store import keys
from orchestrator.store.account_budget import RedisAccountBudget
from orchestrator.store.ledger import Ledger
from orchestrator.store.scripts import Scripts
from orchestrator.store.scripts import source as script_source
from orchestrator.submit_overlap import Overlap
from tests.pipeline_harness import Pipeline
from workers.jobs import enqueue_sends

_ENTRY = re.compile(r"^[\d.]+ \[(\d+) ([^\]]+)\] (.*)$", re.S)
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}


def _unescape(text: str) -> str:
    """One argument as MONITOR quotes it (sdscatrepr): \\n, \\", \\\\, \\xNN."""

    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        return chr(int(s[1:], 16)) if s[0] == "x" else _SIMPLE.get(s, s)

    return _ESCAPE.sub(one, text)


@dataclass
class ScriptCall:
    sha: str
    keys: list[str]
    commands: list[list[str]] = field(default_factory=list)


#: The last command of a watched run: once the feed shows it, it has shown every command before it.
END_OF_FEED = "end-of-the-watched-run"


async def _watch(redis: Redis, calls: list[ScriptCall], ready: asyncio.Event, ended: asyncio.Event) -> None:
    """Read MONITOR's feed: each EVALSHA/EVAL with its KEYS, then the commands its script ran ([0 lua]);
    `ended` is set at the ECHO END_OF_FEED."""
    async with redis.monitor() as m:
        ready.set()
        while True:
            raw = await m.connection.read_response()
            entry = _ENTRY.match(raw if isinstance(raw, str) else raw.decode())
            assert entry is not None, raw
            args = [_unescape(a) for a in _ARG.findall(entry.group(3))]
            name = args[0].upper()
            if name == "ECHO" and args[1:] == [END_OF_FEED]:
                ended.set()
            elif entry.group(2) == "lua":
                calls[-1].commands.append(args)
            elif name in ("EVALSHA", "EVAL"):
                n = int(args[2])
                calls.append(ScriptCall(args[1], args[3 : 3 + n]))


async def _undeclared(redis: Redis, calls: list[ScriptCall]) -> list[tuple[str, str, list[str]]]:
    """(script sha, key, command) for every key a script's command named that its call did not declare."""
    out = []
    for call in calls:
        declared = set(call.keys)
        for command in call.commands:
            # Redis itself says where the keys are in each command (COMMAND GETKEYS).
            named = await redis.command_getkeys(*command) if _has_keys(command) else []
            out += [(call.sha, str(k), command) for k in named if str(k) not in declared]
    return out


def _has_keys(command: list[str]) -> bool:
    return command[0].upper() not in ("TIME", "PING", "ECHO", "INFO")


def _mixed_csv(n: int) -> str:
    """Mostly gmail (the domain share holds it back), some naver, a few other domains: many buckets."""
    rows = ["email,first_name"]
    for i in range(n):
        domain = "naver.com" if i % 5 == 0 else "example.org" if i % 7 == 0 else "gmail.com"
        rows.append(f"u{i}@{domain},N{i}")
    return "\n".join(rows) + "\n"


async def test_every_key_a_script_touches_is_declared(pipe: Pipeline, redis: Redis) -> None:
    """Grants (held recipients, blocked groups, due retries, several buckets, job writes), claims,
    finishes, expiries and re-enqueues name in their commands only keys their KEYS declared."""
    calls: list[ScriptCall] = []
    ready, ended = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(_watch(Redis(connection_pool=redis.connection_pool), calls, ready, ended))
    await ready.wait()
    try:
        await pipe.submit(_mixed_csv(450), identities=2, extra={"shaping": {"max_domain_share": 0.3}})
        pipe.emu.world.faults += [
            FaultRule(code="FailedOperation.TemporaryBlocked", count=1, recipient_domain="gmail.com"),
            FaultRule(code="InternalError", count=3, recipient_domain="naver.com"),
        ]
        await pipe.run(1800)
        await _expire_and_reenqueue(pipe, redis)
        overlap = await Overlap.of_unfinished(redis)  # as a second submit looks its addresses up
        await overlap.add(redis, [line.split(",")[0] for line in _mixed_csv(300).splitlines()[1:]] + ["no@x.org"])
        assert sum(overlap.shared.values()) == 300
        await redis.echo(END_OF_FEED)
        await asyncio.wait_for(ended.wait(), 30)  # the feed trails the replies
    finally:
        watcher.cancel()
    by_sha = {getattr(Scripts(redis), n).sha: n for n in ("grant", "claim", "finish", "expire", "enqueue", "account")}
    by_sha[redis.register_script(script_source("overlap")).sha] = "overlap"
    seen = Counter(by_sha.get(c.sha, "other") for c in calls)
    assert all(seen[n] > 0 for n in by_sha.values()), seen
    grant_commands = Counter(c[0].upper() for call in calls if by_sha.get(call.sha) == "grant" for c in call.commands)
    # The paths that used to build keys ran: holding, blocks, shares, several buckets, jobs.
    assert {"RPUSH", "ZSCORE", "PSETEX", "LPOP", "HGET", "HSET"} <= set(grant_commands), grant_commands
    buckets = {c[1] for call in calls if by_sha.get(call.sha) == "grant" for c in call.commands if ":s:" in c[1]}
    assert len(buckets) >= 3, buckets
    assert await _undeclared(redis, calls) == []


async def _expire_and_reenqueue(pipe: Pipeline, redis: Redis) -> None:
    """The sweeper's scripts and the account budget's, called as they are in production."""
    ledger = Ledger(redis)
    ck = keys.CampaignKeys(pipe.cid)
    for idx in range(3):
        await ledger.expire(ck, idx, pipe.clock.now() + 10**6, 120.0, pipe.clock.now())
    await enqueue_sends(ledger.scripts, VirtualClock(pipe.clock.now()), pipe.cid, [(0, "x:1")])
    budget = RedisAccountBudget(redis, VirtualClock(pipe.clock.now()), AccountRate())
    await budget.reserve("default", CallKind.SEND)
