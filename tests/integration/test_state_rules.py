"""The campaign and ledger state rules have one owner in the core, and the Lua scripts follow it."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from redis.asyncio import Redis

from orchestrator.core import ledger_state
from orchestrator.core.campaign_state import TABLE, CampaignState, Outcome, Transition, apply
from orchestrator.core.decisions import UNCOUNTED, Action
from orchestrator.core.ledger_state import FIELDS, LedgerState
from orchestrator.store import campaigns, keys
from orchestrator.store.scripts import render

#: Sample fields for every state: times with all their digits, a code with `|` in its last field.
SAMPLES: dict[LedgerState, dict[str, object]] = {
    LedgerState.QUEUED: {"attempts": 3},
    LedgerState.GRANTED: {"grant": "news-a:17", "attempts": 0, "grant_time": 1796000000.1234567},
    LedgerState.INFLIGHT: {
        "token": "ab12",
        "deadline": 1796000090.0000019,
        "attempt": 2,
        "grant": "news-b:8",
        "grant_time": 1796000000.9999999,
    },
    LedgerState.ACCEPTED: {"message_id": "0100019a-8c0b|odd"},
    LedgerState.FAILED: {"code": "InvalidParameterValue.TemplateDataError|x"},
    LedgerState.SUPPRESSED: {"reason": "suppressed_before_send"},
    LedgerState.IN_DOUBT: {
        "token": "cd34",
        "since": 1796000001.5,
        "attempt": 1,
        "grant": "news-a:9",
        "grant_time": 1796000000.25,
    },
}

#: Reads a stored state with the Lua helpers and returns its state and fields in FIELDS order.
LUA_PARSE = """
local e = ledger_parse(ARGV[1])
if not e then return {'nil'} end
local out = {e.state}
for _, name in ipairs(LEDGER_FIELDS[e.state]) do out[#out + 1] = e[name] end
return out
"""
#: Writes a state with the Lua helpers from (state, name, value, name, value, ...).
LUA_FORMAT = """
local fields = {}
for i = 2, #ARGV, 2 do fields[ARGV[i]] = ARGV[i + 1] end
return ledger_format(ARGV[1], fields)
"""


def _text(v: object) -> str:
    return repr(v) if isinstance(v, float) else str(v)


@pytest.mark.parametrize("state", list(LedgerState), ids=lambda s: s.value)
async def test_ledger_state_lua_reads_what_python_writes(redis: Redis, state: LedgerState) -> None:
    """A state Python encodes reads back in Lua with every field, times to the last digit."""
    stored = ledger_state.format_entry(state, **SAMPLES[state])
    reply = await redis.eval(render(LUA_PARSE), 0, stored)
    assert [str(x) for x in reply] == [state.value] + [_text(SAMPLES[state][n]) for n in FIELDS[state]]


@pytest.mark.parametrize("state", list(LedgerState), ids=lambda s: s.value)
async def test_ledger_state_python_reads_what_lua_writes(redis: Redis, state: LedgerState) -> None:
    """A state the Lua helpers encode parses in Python into the same fields."""
    args = [state.value]
    for name in FIELDS[state]:
        args += [name, _text(SAMPLES[state][name])]
    stored = str(await redis.eval(render(LUA_FORMAT), 0, *args))
    entry = ledger_state.parse(stored)
    assert entry.state is state
    assert entry.fields == {n: _text(SAMPLES[state][n]) for n in FIELDS[state]}
    assert stored == ledger_state.format_entry(state, **SAMPLES[state])


@pytest.mark.parametrize(
    "raw", ["", "x|1", "g|only-two|fields", "q0", "c|a|b|c|d"], ids=["empty", "tag", "short", "bar", "inflight-short"]
)
async def test_ledger_state_both_sides_refuse_a_malformed_state(redis: Redis, raw: str) -> None:
    """What is not in the ledger's format is refused by Python and by Lua alike."""
    with pytest.raises(ledger_state.LedgerFormatError):
        ledger_state.parse(raw)
    assert [str(x) for x in await redis.eval(render(LUA_PARSE), 0, raw)] == ["nil"]


def test_ledger_state_untouched_is_queued_with_no_try() -> None:
    """A recipient with no stored state is queued and has made no attempt."""
    entry = ledger_state.parse(None)
    assert (entry.state, entry.fields) == (LedgerState.QUEUED, {"attempts": "0"})


S = CampaignState
T = Transition
#: Every transition from every state: what the one table says happens.
EXPECTED: dict[tuple[Transition, CampaignState], Outcome] = {
    (T.PAUSE, S.RUNNING): Outcome.OK,
    (T.PAUSE, S.PAUSED): Outcome.SAME,
    (T.PAUSE, S.COMPLETED): Outcome.REFUSED,
    (T.PAUSE, S.CANCELLED): Outcome.REFUSED,
    (T.RESUME, S.RUNNING): Outcome.SAME,
    (T.RESUME, S.PAUSED): Outcome.OK,
    (T.RESUME, S.COMPLETED): Outcome.REFUSED,
    (T.RESUME, S.CANCELLED): Outcome.REFUSED,
    (T.CANCEL, S.RUNNING): Outcome.OK,
    (T.CANCEL, S.PAUSED): Outcome.OK,
    (T.CANCEL, S.COMPLETED): Outcome.REFUSED,
    (T.CANCEL, S.CANCELLED): Outcome.SAME,
    (T.AUTO_PAUSE, S.RUNNING): Outcome.OK,
    (T.AUTO_PAUSE, S.PAUSED): Outcome.OK,  # over another's pause (the operator's): its resume then needs the ack
    (T.AUTO_PAUSE, S.COMPLETED): Outcome.REFUSED,
    (T.AUTO_PAUSE, S.CANCELLED): Outcome.REFUSED,
    (T.COMPLETE, S.RUNNING): Outcome.OK,
    (T.COMPLETE, S.PAUSED): Outcome.REFUSED,
    (T.COMPLETE, S.COMPLETED): Outcome.SAME,
    (T.COMPLETE, S.CANCELLED): Outcome.REFUSED,
}


def test_campaign_state_table_as_a_table() -> None:
    """The transition table, every transition from every state, asserted whole."""
    assert {(t, s): apply(t, s) for t in Transition for s in CampaignState} == EXPECTED


@pytest.mark.parametrize(("change", "current"), list(EXPECTED), ids=lambda v: str(v.value))
async def test_campaign_state_stored_transition_follows_the_table(
    redis: Redis, change: Transition, current: CampaignState
) -> None:
    """The stored transition script does what the table says, and records who and why only when it moves."""
    cid = "c-1"
    await redis.hset(keys.campaign(cid), mapping={"state": current.value, "reason": "before"})
    outcome, was = await campaigns.transition(redis, cid, change, 1796000000.5, reason="why", by="kim")
    assert (outcome, was) == (EXPECTED[(change, current)], current.value)
    stored = await redis.hgetall(keys.campaign(cid))
    if outcome is Outcome.OK:
        rule = TABLE[change]
        assert (stored["state"], stored["reason"], stored["paused_by"]) == (rule.to.value, "why", rule.by or "kim")
    else:
        assert (stored["state"], stored["reason"]) == (current.value, "before")


async def test_campaign_state_an_automatic_pause_keeps_the_first_automatic_reason(redis: Redis) -> None:
    """Over an automatic pause, another is the same pause: the first reason (what to acknowledge) stays."""
    assert apply(T.AUTO_PAUSE, S.PAUSED, paused_by="automatic") is Outcome.SAME
    cid = "c-1"
    await redis.hset(keys.campaign(cid), mapping={"state": "paused", "reason": "first", "paused_by": "automatic"})
    assert await campaigns.transition(redis, cid, T.AUTO_PAUSE, 2.0, reason="second") == (Outcome.SAME, "paused")
    assert await redis.hget(keys.campaign(cid), "reason") == "first"


async def test_campaign_state_missing_campaign_is_reported(redis: Redis) -> None:
    """A transition of a campaign that does not exist changes nothing and says so."""
    assert await campaigns.transition(redis, "nope", Transition.PAUSE, 1.0) == (Outcome.MISSING, "")
    assert await redis.exists(keys.campaign("nope")) == 0


def _lua_sources() -> dict[str, str]:
    folder = resources.files("orchestrator.store").joinpath("lua")
    return {p.name: p.read_text("utf-8") for p in folder.iterdir() if p.name.endswith(".lua")}


def test_lua_scripts_spell_no_state_of_their_own() -> None:
    """No script writes a campaign state name or a ledger tag itself: they come from the core's tables."""
    campaign_names = "|".join(s.value for s in CampaignState)
    ledger_tags = "".join(ledger_state.TAGS.values())
    for name, text in _lua_sources().items():
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        assert not re.search(rf"'({campaign_names})'", code), name
        if name != "_ledger.lua":
            assert not re.search(rf"'[{ledger_tags}]\|", code), name


@pytest.mark.parametrize(("paused_by", "expected"), [("automatic", Outcome.NEEDS_ACK), ("kim", Outcome.OK)])
async def test_campaign_state_resume_without_ack_leaves_an_automatic_pause(
    redis: Redis, paused_by: str, expected: Outcome
) -> None:
    """Who paused is read in the same step as the state: an unacknowledged resume never lifts an
    automatic pause, whenever it was made; an operator's pause it lifts."""
    cid = "c-1"
    await redis.hset(keys.campaign(cid), mapping={"state": "paused", "reason": "bounces", "paused_by": paused_by})
    outcome, was = await campaigns.transition(redis, cid, Transition.RESUME, 1.0, by="lee", acknowledged=False)
    assert (outcome, was) == (expected, "paused")
    state = await redis.hget(keys.campaign(cid), "state")
    assert state == ("paused" if expected is Outcome.NEEDS_ACK else "running")
    assert (await campaigns.transition(redis, cid, Transition.RESUME, 2.0, by="lee"))[0] in (Outcome.OK, Outcome.SAME)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
async def test_uncounted_tries_lua_follows_the_core(redis: Redis, action: Action) -> None:
    """finish.lua's set of actions whose try is not counted is the core's UNCOUNTED, action by action,
    and the script takes one off the attempt in one place only, from that set."""
    reply = await redis.eval(render("return __UNCOUNTED__[ARGV[1]] and 1 or 0"), 0, action.value)
    assert reply == (1 if action in UNCOUNTED else 0)
    code = "\n".join(line.split("--", 1)[0] for line in _lua_sources()["finish.lua"].splitlines())
    assert re.findall(r".*attempt - 1.*", code) == ["local tries = __UNCOUNTED__[action] and attempt - 1 or attempt"]
