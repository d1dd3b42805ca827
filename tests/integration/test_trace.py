"""`trace` and `export` on a campaign run through the emulator: what became of each row, and why."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator import export
from orchestrator.campaign_file import load_campaign
from orchestrator.cli import main
from orchestrator.core import recipient_trace
from orchestrator.core.campaign import Recipients
from orchestrator.core.spreadsheet import neutralise, unneutralise
from orchestrator.recipients import LoadStats, iter_recipients, open_recipients
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Behaviour, FaultRule
from orchestrator.store import compaction, keys
from orchestrator.store import suppression as store
from orchestrator.store.suppression import Entry
from orchestrator.trace import add_live, trace
from tests.callback_app import callback_server
from tests.pipeline_harness import START, VICTIM, VICTIM_DOMAIN, Pipeline, settings_for
from tests.pipeline_helpers import write_campaign

BLOCKED = "blocked@gmail.com"
LEFT = "left@naver.com"
#: Data rows: 1 victim, 2 blocked, 3 left, 4 invalid, 5 a duplicate of row 1, 6 suppressed at submit, 7 a formula,
#: 8 invalid with a bare carriage return in its quoted cell.
CSV = (
    "email,first_name\n"
    f"{VICTIM},Victim\n"
    f"{BLOCKED},Blocked\n"
    f"{LEFT},Left\n"
    "not-an-address,Bad\n"
    f"{VICTIM},Again\n"
    "quiet@daum.net,Quiet\n"
    "=cmd@example.org,Formula\n"
    '"bad\rcell@example.org",Carriage\n'
)


async def _run(pipe: Pipeline, fault: FaultRule | None = None) -> None:
    """Submit CSV (quiet@ suppressed before), one blocklisted and one unsubscribed address, callbacks on."""
    await store.put(pipe.redis, [Entry("quiet@daum.net", "", "asked by phone", START - 86400, "operator")], START)
    pipe.emu.service.blocked[BLOCKED] = START - 3600
    pipe.emu.service.unsubscribed[LEFT, "d0.example.com"] = START - 3600
    if fault is not None:
        pipe.emu.world.faults.append(fault)
    await pipe.submit(CSV)
    async with callback_server(pipe.redis, pipe.clock) as server:
        pipe.emu.world.callback_url = server.url
        await pipe.run(3600)
        pipe.clock.advance(2 * 3600)
        await pipe.emu.flush_callbacks()
        for _ in range(200):
            if pipe.emu.poster.posted + pipe.emu.poster.failed >= len(pipe.emu.events):
                break
            await asyncio.sleep(0.05)


async def test_trace_accepted_address_shows_its_message_id_and_delivery(pipe: Pipeline) -> None:
    """An accepted address traces to the MessageId the emulator logged and its delivered event."""
    await _run(pipe)
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    [logged] = pipe.sent_to(VICTIM)
    loaded = [o for o in found.outcomes if o.place.kind == "loaded"]
    assert [(o.place.row, o.state, o.message_id) for o in loaded] == [(1, "accepted", logged.message_id)]
    assert "delivered" in [e.metric for e in loaded[0].events]
    assert [(o.place.row, o.place.kind, o.dropped.detail if o.dropped else "") for o in found.outcomes] == [
        (1, "loaded", ""),
        (5, "duplicate", "1"),
    ]
    assert found.verdict is not None
    assert "delivered at" in found.verdict.why


async def test_trace_blocklisted_address_names_the_release_command(pipe: Pipeline) -> None:
    """Tencent refused the address as blocklisted: the answer is the blocklist, fixed by `blocklist release`."""
    await _run(pipe)
    found = await trace(pipe.redis, BLOCKED, pipe.clock.now())
    assert [(o.place.row, o.state) for o in found.outcomes] == [(2, "suppressed")]
    assert [e.scope for e in found.listed] == ["blocklist"]
    assert found.verdict is not None
    assert found.verdict.why.startswith("on Tencent's blocklist since")
    assert found.verdict.fix == f"if the address is right: orchestrate blocklist release {BLOCKED}"


async def test_trace_unsubscribed_address_names_its_sender_domain(pipe: Pipeline) -> None:
    """Tencent said the recipient unsubscribed: the answer names the sender domain and asks nothing."""
    await _run(pipe)
    found = await trace(pipe.redis, LEFT, pipe.clock.now())
    assert [(e.scope, e.sender_domain, e.source) for e in found.listed] == [("domain", "d0.example.com", "unsubscribe")]
    assert found.verdict is not None
    assert "sender domain d0.example.com" in found.verdict.why
    assert found.verdict.fix == "nothing to do: the recipient unsubscribed from d0.example.com"


async def test_trace_in_doubt_address_shows_the_reconciliation(pipe: Pipeline) -> None:
    """A send whose answer was lost: its attempts show it in doubt, then reconciled as sent with the MessageId."""
    fault = FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN, hang_s=5.0)
    await _run(pipe, fault)
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    [logged] = pipe.sent_to(VICTIM)
    [o] = [o for o in found.outcomes if o.place.kind == "loaded"]
    assert [a.decision for a in o.attempts] == ["in_doubt", "reconciled_sent"]
    assert o.attempts[-1].code == logged.message_id
    assert o.attempts[-1].in_doubt_since == o.attempts[0].at
    assert o.message_id == logged.message_id
    # Accepted when Tencent received it (its RequestTime, whole seconds), not when the lookup settled it.
    assert o.accepted_at == int(logged.time)
    assert o.accepted_at < o.attempts[-1].at - 60
    [row] = [r async for r in export.rows(pipe.redis, pipe.cid) if r["email"] == VICTIM and r["state"] == "accepted"]
    assert row["accepted_at"] == export.when(int(logged.time))


async def test_trace_suppressed_invalid_and_unknown_rows(pipe: Pipeline) -> None:
    """Rows dropped at submit trace to why; an address no campaign had traces to nothing."""
    await _run(pipe)
    now = pipe.clock.now()
    quiet = await trace(pipe.redis, "quiet@daum.net", now)
    assert [(o.place.row, o.place.kind, o.dropped.detail if o.dropped else "") for o in quiet.outcomes] == [
        (6, "suppressed", "all:operator")
    ]
    assert quiet.verdict is not None
    assert quiet.verdict.fix == "if the address is right now: orchestrate suppress remove quiet@daum.net"
    bad = await trace(pipe.redis, " not-an-address ", now)
    assert [(o.place.row, o.place.kind) for o in bad.outcomes] == [(4, "invalid")]
    assert bad.verdict is not None
    assert bad.verdict.why.endswith("is not a usable recipient: bad syntax")
    shouted = await trace(pipe.redis, "NOT-an-Address", now)  # as a loaded address is found: case aside
    assert [(o.place.row, o.place.kind) for o in shouted.outcomes] == [(4, "invalid")]
    nobody = await trace(pipe.redis, "nobody@example.com", now)
    assert (nobody.outcomes, nobody.verdict) == ([], None)


async def test_export_has_every_row_in_file_order_and_the_sent_message_ids(pipe: Pipeline, tmp_path: Path) -> None:
    """One row per data row, dropped ones included; the accepted MessageIds are the emulator's send log."""
    await _run(pipe)
    rows = [r async for r in export.rows(pipe.redis, pipe.cid)]
    assert [(r["row"], r["state"]) for r in rows] == [
        (1, "accepted"),
        (2, "suppressed"),
        (3, "suppressed"),
        (4, "invalid"),
        (5, "duplicate"),
        (6, "suppressed"),
        (7, "accepted"),
        (8, "invalid"),
    ]
    assert [r["reason"] for r in rows[3:6]] == ["bad syntax", "duplicate of row 1", "all:operator"]
    accepted = {r["email"]: r["message_id"] for r in rows if r["state"] == "accepted"}
    assert accepted == {s.to_address: s.message_id for s in pipe.emu.send_log}
    assert all(r["identity"] and r["accepted_at"] and r["attempts"] == 1 for r in rows if r["state"] == "accepted")
    assert any(e.startswith("delivered ") for e in rows[0]["events"])


async def test_export_csv_is_spreadsheet_safe_and_reads_back_as_a_recipient_file(
    pipe: Pipeline, tmp_path: Path
) -> None:
    """A formula cell starts with a quote in the file; the CSV reads back through submit's reader cell for
    cell as it was before that guard, so an export submitted again mails the addresses it lists."""
    await _run(pipe)
    out = tmp_path / "out.csv"
    n = await export.write_file(out, lambda fh: export.write(pipe.redis, pipe.cid, "csv", fh))
    expected = [export.csv_cells(r) async for r in export.rows(pipe.redis, pipe.cid)]
    assert expected[6][1] == neutralise("=cmd@example.org") == "'=cmd@example.org"
    assert "'=cmd@example.org" in out.read_text(encoding="utf-8")
    with open_recipients(Recipients(file=out)) as read:
        assert read.header == list(export.COLUMNS)
        back = [cells for _, cells in read.records()]
    assert n == len(back) == 8
    assert back == [[unneutralise(c) for c in cells] for cells in expected]
    assert back[6][1] == "=cmd@example.org"
    assert back[7][1] == "bad\rcell@example.org"
    template = {"template": {"id": 1, "subject": "Again", "data": {}}}
    again = write_campaign(tmp_path, 0, name="again", extra=template, csv_text=out.read_text(encoding="utf-8"))
    addresses = [r.address for r in iter_recipients(load_campaign(again), LoadStats())]
    assert "=cmd@example.org" in addresses
    assert not [a for a in addresses if a.startswith("'")]
    buf = io.StringIO()
    assert await export.write(pipe.redis, pipe.cid, "jsonl", buf) == 8
    assert [json.loads(line)["row"] for line in buf.getvalue().splitlines()] == list(range(1, 9))


async def test_export_to_a_file_leaves_no_half_file_on_error(pipe: Pipeline, tmp_path: Path) -> None:
    """An export that fails midway leaves neither the target nor a temporary file behind."""
    await _run(pipe)
    out = tmp_path / "out.csv"

    async def failing(fh: io.TextIOBase) -> int:
        fh.write("row,email\n1,a@b.c\n")
        raise RuntimeError("Redis went away")

    with pytest.raises(RuntimeError, match="Redis went away"):
        await export.write_file(out, failing)  # type: ignore[arg-type]
    assert sorted(p.name for p in os.scandir(tmp_path) if "out" in p.name) == []


async def test_trace_live_adds_tencents_status_record(pipe: Pipeline) -> None:
    """--live: Tencent's GetSendEmailStatus record of the accepted MessageId, asked through the SDK."""
    await _run(pipe)
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    [logged] = pipe.sent_to(VICTIM)
    async with TencentSender(settings_for(pipe.emu)) as sender:
        await add_live(pipe.redis, found, sender, pipe.clock.now())
    [record] = found.live[logged.message_id]
    assert isinstance(record, dict)
    assert (record["MessageId"], record["SendStatus"]) == (logged.message_id, 0)


async def test_trace_live_answers_from_tencents_record_when_no_event_came(pipe: Pipeline) -> None:
    """No callback reached this side: the answer says to ask Tencent; with --live it is Tencent's record."""
    await pipe.submit(CSV)
    await pipe.run(3600)  # no callback address: no event ever comes
    pipe.clock.advance(2 * 3600)
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    assert found.verdict is not None
    assert "no delivery event yet" in found.verdict.why
    assert found.verdict.fix.endswith("or ask Tencent: trace --live")
    [logged] = pipe.sent_to(VICTIM)
    async with TencentSender(settings_for(pipe.emu)) as sender:
        await add_live(pipe.redis, found, sender, pipe.clock.now())
    [record] = found.live[logged.message_id]
    assert isinstance(record, dict)
    assert record["DeliverStatus"] == 1
    assert found.verdict is not None
    assert "delivered at" in found.verdict.why
    assert "by Tencent's record (no delivered event came)" in found.verdict.why
    assert "trace --live" not in found.verdict.fix


async def test_trace_after_compaction_still_shows_the_lists_and_their_answer(pipe: Pipeline, redis_url: str) -> None:
    """The lists outlive compaction: a hard bounce, a blocklist entry, a sender domain's unsubscribe (the compacted
    campaign's spec names the domain) and a complaint stored afterwards are shown with their answer; exit 0."""
    pipe.emu.world.domains[VICTIM_DOMAIN] = Behaviour(hard_bounce_rate=1.0)
    await _run(pipe)
    now = pipe.clock.now() + 60
    assert (await pipe.record()).state.value == "completed"
    assert (await compaction.compact(pipe.redis, pipe.cid, now))[0]
    await store.put(pipe.redis, [Entry("=cmd@example.org", "", "spam report", now, "complaint")], now)
    expected = {
        VICTIM: (("all", "", "hard_bounce"), f"if the address is right now: orchestrate suppress remove {VICTIM}"),
        BLOCKED: (("blocklist", "", "default"), f"if the address is right: orchestrate blocklist release {BLOCKED}"),
        LEFT: (
            ("domain", "d0.example.com", "unsubscribe"),
            "nothing to do: the recipient unsubscribed from d0.example.com",
        ),
        "=cmd@example.org": (("all", "", "complaint"), "nothing to do: the recipient reported the mail as spam"),
    }
    for address, (entry, fix) in expected.items():
        found = await trace(pipe.redis, address, now)
        assert (found.outcomes, [c.cid for c in found.compacted]) == ([], [pipe.cid])
        assert [(e.scope, e.sender_domain, e.source) for e in found.listed] == [entry], address
        assert found.verdict is not None
        assert (found.verdict.campaign, found.verdict.fix) == ("", fix)
    out = await asyncio.to_thread(CliRunner().invoke, main, ["trace", VICTIM], env={"REDIS_URL": redis_url})
    assert out.exit_code == 0, out.output
    assert f"{VICTIM}: not in any campaign that still keeps its rows" in out.output
    assert "  list: suppressed for every sender domain since" in out.output
    assert f"fix: if the address is right now: orchestrate suppress remove {VICTIM}" in out.output
    assert f"not searched: campaign {pipe.cid}" in out.output
    out = await asyncio.to_thread(CliRunner().invoke, main, ["trace", LEFT, "--json"], env={"REDIS_URL": redis_url})
    assert out.exit_code == 0, out.output
    assert [(e["scope"], e["sender_domain"]) for e in json.loads(out.output)["lists"]] == [("domain", "d0.example.com")]
    nobody = await asyncio.to_thread(
        CliRunner().invoke, main, ["trace", "user9@gmail.com"], env={"REDIS_URL": redis_url}
    )
    assert nobody.exit_code == 1, nobody.output  # nothing found at all: no row, no list entry


async def test_trace_an_address_tencent_refused_as_wrong_says_to_correct_it(pipe: Pipeline) -> None:
    """FailedOperation.IncorrectEmail at send time: suppressed with the code, no list entry; the answer is
    Tencent's refusal and the fix is the address, not a resubmit Tencent would refuse again."""
    await _run(pipe, FaultRule(code="FailedOperation.IncorrectEmail", count=1, recipient_domain=VICTIM_DOMAIN))
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    [o] = [o for o in found.outcomes if o.place.kind == "loaded"]
    assert (o.state, o.field("reason"), found.listed) == ("suppressed", "FailedOperation.IncorrectEmail", [])
    assert found.verdict is not None
    assert found.verdict.why == "not sent: Tencent refused the address (FailedOperation.IncorrectEmail)"
    assert found.verdict.fix == recipient_trace.CORRECT_ADDRESS


async def test_trace_a_row_suppressed_at_submit_whose_entry_is_gone_mails_that_row_alone(pipe: Pipeline) -> None:
    """The operator's entry that dropped the row at submit was removed since: the fix mails only this row,
    never `submit FILE --new` (a new campaign of the whole list, every recipient mailed again)."""
    await _run(pipe)
    assert await store.remove(pipe.redis, "quiet@daum.net", "", pipe.clock.now())
    found = await trace(pipe.redis, "quiet@daum.net", pipe.clock.now())
    assert (found.listed, [o.place.kind for o in found.outcomes]) == ([], ["suppressed"])
    assert found.verdict is not None
    assert found.verdict.why == "suppressed at submit (all:operator); the entry is gone now"
    assert found.verdict.fix == (
        "to mail it, submit a campaign file whose recipient file holds only this row (`orchestrate submit ... --new`)"
    )


async def test_trace_of_a_doubt_the_sweeper_gave_up_on_says_the_operator_decides(pipe: Pipeline) -> None:
    """The answer lost and every lookup failing: after the window the sweeper stops asking (in_doubt_unresolved);
    trace said "the sweeper asks Tencent and settles it" with the fix "wait". It says the operator decides."""
    await pipe.submit(CSV)
    pipe.emu.world.faults.append(FaultRule(code="timeout_after_accept", count=1, recipient_domain=VICTIM_DOMAIN))
    pipe.emu.world.faults.append(FaultRule(code="InternalError", rate=1.0, action="GetSendEmailStatus"))
    await pipe.run(3600)
    asked = await trace(pipe.redis, VICTIM, pipe.clock.now())
    assert asked.verdict is not None
    assert asked.verdict.fix.startswith("wait")  # still being looked up
    pipe.clock.advance(7 * 3600)  # past the 6 h window of lookups
    await pipe.run(120)
    assert await pipe.events("in_doubt_unresolved")
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    assert found.verdict is not None
    assert "could not settle it" in found.verdict.why
    assert found.verdict.fix == recipient_trace.DOUBT_FOR_THE_OPERATOR


async def test_a_deferred_recipient_still_waiting_counts_no_try_in_export_or_trace(
    pipe: Pipeline, redis_url: str
) -> None:
    """Tencent's FrequencyLimit counts no try (max_attempts): export and trace say 0, as the ledger does."""
    pipe.emu.world.faults.append(
        FaultRule(code="FailedOperation.FrequencyLimit", count=1, recipient_domain=VICTIM_DOMAIN)
    )
    await pipe.submit(CSV)
    await pipe.run(300)
    assert pipe.sent_to(VICTIM) == []
    found = await trace(pipe.redis, VICTIM, pipe.clock.now())
    [o] = [o for o in found.outcomes if o.place.kind == "loaded"]
    assert o.state == "queued"
    assert [(a.decision, a.attempt, a.tries) for a in o.attempts] == [("postpone", "1", 0)]
    assert dict(o.fields)["attempts"] == "0"
    [row] = [r async for r in export.rows(pipe.redis, pipe.cid) if r["row"] == 1]
    assert (row["state"], row["attempts"]) == ("queued", 0)
    out = await asyncio.to_thread(CliRunner().invoke, main, ["trace", VICTIM], env={"REDIS_URL": redis_url})
    assert "attempt 1: postpone FailedOperation.FrequencyLimit (not counted)" in out.stdout, out.output


async def test_trace_shows_a_sender_domain_entry_no_campaign_of_the_address_used(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Entries for a sender domain no campaign of the address used: a running campaign's (d0), one no campaign
    used yet (fast), and one an earlier release wrote without the domain set (old, found once `suppress list`
    has seen it): trace shows them and exits 0 (it read only the lists of the address's own campaigns, said
    "no campaign had this address" and exited 1)."""
    env = {"REDIS_URL": redis_url}
    campaign = str(write_campaign(tmp_path, 3, identities=1))
    submitted = await asyncio.to_thread(CliRunner().invoke, main, ["submit", campaign], env=env)
    assert submitted.exit_code == 0, submitted.output
    for domain in ("d0.example.com", "fast.example.com"):
        await store.put(redis, [Entry("kk@example.com", domain, "asked by phone", START, "operator")], START)
    await redis.hset(keys.suppression("old.example.com"), "kk@example.com", store.encode("old", START, "operator"))
    await asyncio.to_thread(CliRunner().invoke, main, ["suppress", "list"], env=env)
    found = await trace(redis, "KK@example.com", START + 60)
    assert [(e.scope, e.sender_domain) for e in found.listed] == [
        ("domain", "d0.example.com"),
        ("domain", "fast.example.com"),
        ("domain", "old.example.com"),
    ]
    out = await asyncio.to_thread(CliRunner().invoke, main, ["trace", "kk@example.com"], env=env)
    assert out.exit_code == 0, out.output
    assert "sender domain fast.example.com since" in out.output
