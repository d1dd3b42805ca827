"""The real commands over a damaged store: one line says what cannot be read, the rest is shown, no traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync

from orchestrator.core.clock import SystemClock
from orchestrator.store import keys
from tests.e2e.procs import BIN, Procs, base_env, cli, cli_json, free_port, interrupt_once_shown, wait_for
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture
def env(redis_server: RedisServer) -> dict[str, str]:
    with redis_sync.Redis.from_url(redis_server.url) as r:
        r.flushdb()
    return base_env(redis_server.url, free_port(), COLUMNS="200")


def _submit(env: dict[str, str], tmp_path: Path, name: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    own = {"identities": [{"id": f"{name}-id0", "from": f"News <news@{name}.example.com>"}]}  # a domain each
    path = write_campaign(folder, 5, name=name, identities=1, extra=own)
    # The campaigns send the same generated list on purpose: `--new`.
    return str(cli_json(env, "submit", str(path), "--json", "--new")["campaign_id"])  # type: ignore[index]


def _redis(env: dict[str, str]) -> redis_sync.Redis:
    return redis_sync.Redis.from_url(env["REDIS_URL"], decode_responses=True)


def _no_traceback(*runs: subprocess.CompletedProcess[str]) -> None:
    for run in runs:
        assert "Traceback" not in run.stdout + run.stderr


#: (a redis-cli style command that damages the bad campaign's store, what status's reason says)
DAMAGES = [
    pytest.param(("hset", "wo:id:bad-id0", "warmup_day", "abc"), "identity bad-id0", id="identity-warmup-day"),
    pytest.param(("hset", "wo:id:bad-id0", "daily_quota", "1e999"), "identity bad-id0", id="identity-quota"),
    pytest.param(("set", "CAMPAIGN", "x"), "wrong type", id="campaign-wrong-type"),
    pytest.param(("hset", "CAMPAIGN", "created_at", "nan"), "created_at", id="created-at-nan"),
    pytest.param(("hset", "CAMPAIGN", "created_at", "1e999"), "created_at", id="created-at-inf"),
]


@pytest.mark.parametrize(("command", "reason"), DAMAGES)
def test_status_shows_the_damaged_campaign_and_the_others(
    env: dict[str, str], tmp_path: Path, command: tuple[str, ...], reason: str
) -> None:
    """`status` lists the sound campaign as running and the damaged one as unreadable with its reason."""
    good = _submit(env, tmp_path, "good")
    bad = _submit(env, tmp_path, "bad")
    assert keys.IdentityKeys("bad-id0").meta == "wo:id:bad-id0"  # the key the operator's command names
    with _redis(env) as r:
        op, key, *args = command
        if op == "set":
            r.delete(keys.campaign(bad))
        r.execute_command(op, keys.campaign(bad) if key == "CAMPAIGN" else key, *args)
    listed = cli(env, "status", "--json")
    text = cli(env, "status")
    one = cli(env, "status", bad)
    _no_traceback(listed, text, one)
    assert listed.returncode == 0, listed.stderr
    by_id = {c["id"]: c for c in json.loads(listed.stdout)}
    assert (by_id[good]["state"], by_id[bad]["state"]) == ("running", "unreadable")
    assert reason in by_id[bad]["reason"]
    assert text.returncode == 0, text.stderr
    assert f"[{good}] running" in text.stdout
    assert f"[{bad}] unreadable" in text.stdout
    assert (one.returncode, reason in one.stdout) == (1, True)


def test_pacer_keeps_granting_the_others_past_a_corrupt_identity(env: dict[str, str], tmp_path: Path) -> None:
    """`orchestrate pacer` stays up, warns once of the campaign whose identity is corrupt, grants the other."""
    good = _submit(env, tmp_path, "good")
    bad = _submit(env, tmp_path, "bad")
    with _redis(env) as r:
        r.hset("wo:id:bad-id0", "warmup_day", "abc")
        r.set("wo:campaign:c-stray", "x")  # a campaign key of the wrong type, listed among the others
        r.zadd(keys.CAMPAIGNS, {"c-stray": 0})
    procs = Procs(tmp_path)
    try:
        pacer = procs.pacer(env)
        with _redis(env) as r:
            wait_for(lambda: int(r.hget(keys.CampaignKeys(good).counts, "queued") or 0) < 5, 30, "a grant for good")
            wait_for(lambda: (tmp_path / "pacer.log").read_text().count("campaign_unreadable") >= 2, 30, "warnings")
            assert pacer.poll() is None  # still running
            assert int(r.hget(keys.CampaignKeys(bad).counts, "queued") or 0) == 5
    finally:
        procs.stop_all()
    log_text = (tmp_path / "pacer.log").read_text()
    warned = [json.loads(line) for line in log_text.splitlines() if '"campaign_unreadable"' in line]
    assert sorted(w["campaign"] for w in warned) == sorted([bad, "c-stray"])
    assert "Traceback" not in log_text


def test_logs_and_watch_mark_an_unreadable_event_and_go_on(env: dict[str, str], tmp_path: Path) -> None:
    """A stream entry with a corrupt time is one line saying so; the events around it are printed."""
    cid = _submit(env, tmp_path, "good")
    with _redis(env) as r:
        r.xadd(keys.EVENTS, {"t": "abc", "type": "odd", "campaign": cid, "identity": ""})
        r.xadd(keys.EVENTS, {"t": "nan", "type": "odd", "campaign": "c-other", "identity": ""})
        r.xadd(keys.EVENTS, {"t": "1", "type": "after_it", "campaign": cid, "identity": ""})
    lines = cli(env, "logs", cid, "--json")
    _no_traceback(lines)
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [row["type"] for row in rows] == ["campaign_submitted", "odd", "after_it"]
    assert rows[1]["unreadable"] == "stored t is not a number"
    # Ctrl-C twice in a row (as `timeout -s INT` delivers it, to the command and its group): the second,
    # landing as the command leaves, is ignored, not a traceback.
    watched = interrupt_once_shown([str(BIN / "orchestrate"), "watch", cid], env, ["after_it"], presses=2)
    _no_traceback(watched)
    assert "could not be read" in watched.stdout
    assert "after_it" in watched.stdout


def test_bytes_that_are_not_utf8_in_the_store_never_break_a_reader(env: dict[str, str], tmp_path: Path) -> None:
    """A stray non-UTF-8 byte in an event or a campaign's reason reads as U+FFFD: logs and status go on."""
    cid = _submit(env, tmp_path, "good")
    with _redis(env) as r, redis_sync.Redis.from_url(env["REDIS_URL"]) as raw:
        raw.xadd(keys.EVENTS, {b"t": b"2", b"type": b"odd\xff", b"campaign": cid.encode(), b"identity": b""})
        raw.hset(keys.campaign(cid), b"reason", b"bad \xfe byte")
        assert r.exists(keys.campaign(cid))
    logs = cli(env, "logs", cid, "--json")
    status = cli(env, "status", cid, "--json")
    _no_traceback(logs, status)
    assert (logs.returncode, status.returncode) == (0, 0)
    assert [json.loads(line)["type"] for line in logs.stdout.splitlines()] == ["campaign_submitted", "odd\ufffd"]


def test_logs_of_an_unreadable_campaign_print_its_history(env: dict[str, str], tmp_path: Path) -> None:
    """`logs` of a campaign that cannot be read says so in one header line and prints its events."""
    cid = _submit(env, tmp_path, "bad")
    with _redis(env) as r:
        r.hset(keys.campaign(cid), "state", "exploded")
    out = cli(env, "logs", cid, "--json")
    _no_traceback(out)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("\n") == 1
    assert f"campaign {cid} cannot be read (unknown state" in out.stderr
    assert [json.loads(line)["type"] for line in out.stdout.splitlines()] == ["campaign_submitted"]


def test_resume_of_a_campaign_with_a_corrupt_identity_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    """`resume` cannot show today's caps of an identity it cannot read: it says so in one line, no traceback."""
    bad = _submit(env, tmp_path, "bad")
    assert cli(env, "pause", bad, "--wait", "0").returncode == 0
    with _redis(env) as r:
        r.hset("wo:id:bad-id0", "warmup_day", "abc")
    out = cli(env, "resume", bad)
    _no_traceback(out)
    assert out.returncode == 1
    assert "identity bad-id0 cannot be read" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_stored_time_no_date_can_hold_is_shown_as_a_question_mark(env: dict[str, str]) -> None:
    """Suppression and blocklist entries whose times are beyond any date (1e300): trace, `suppress list`
    and `blocklist list` print "?" for them and the rest of the entry, exit 0, no traceback."""
    with _redis(env) as r:
        r.hset(keys.SUPPRESS_ALL, "far@example.com", json.dumps({"reason": "asked", "at": 1e300, "source": "operator"}))
        entry = {"reason": "bounced", "bounced_at": 1e300, "expires_at": 1e308, "account": "default"}
        r.hset(keys.BLOCKLIST, "gone@example.com", json.dumps(entry))
        r.hset(keys.BLOCKLIST_SYNCED, "default", "1e300")
    runs = {
        "trace far": cli(env, "trace", "far@example.com"),
        "trace gone": cli(env, "trace", "gone@example.com"),
        "suppress": cli(env, "suppress", "list"),
        "blocklist": cli(env, "blocklist", "list"),
    }
    _no_traceback(*runs.values())
    assert [run.returncode for run in runs.values()] == [0, 0, 0, 0], {k: v.stderr for k, v in runs.items()}
    assert "why: suppressed for every sender domain since ? (operator: asked)" in runs["trace far"].stdout
    assert "why: on Tencent's blocklist since ? until ? (bounced)" in runs["trace gone"].stdout
    assert "far@example.com  (all)  operator  ?  asked" in runs["suppress"].stdout
    assert "last synced: default at ?" in runs["blocklist"].stdout


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} in the JSON: not JSON")


def _first_address(r: redis_sync.Redis, cid: str) -> str:
    from orchestrator.store.ledger import decode_record

    return decode_record(str(r.hget(keys.CampaignKeys(cid).rec(0), "0")))[0]


#: (what damages campaign CID's store, the commands run after it, a phrase their output must hold)
STORED_DAMAGES = [
    pytest.param(
        lambda r, cid: r.hset(keys.GUARD_ACK, cid, "abc"),
        [["status"], ["status", "CID", "--json"]],
        "stored guard acknowledgement is not a number",
        id="guard-ack-not-a-number",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.GUARD_ACK, cid, "inf"),
        [["status"]],
        "stored guard acknowledgement is not a time",
        id="guard-ack-infinite",
    ),
    pytest.param(
        lambda r, cid: (
            r.hset(keys.FB_COHORTS, f"{int(SystemClock().now() // 3600)}|accepted|i|good-id0", "1.5"),
            r.hset(keys.campaign(cid), mapping={"state": "paused", "paused_by": "automatic", "reason": "x"}),
        ),
        [["status"], ["status", "CID"], ["resume", "CID"]],
        "stored quality count is not a whole number",
        id="cohort-count-not-whole",
    ),
    pytest.param(
        lambda r, cid: (r.delete(keys.CampaignKeys(cid).queue), r.zadd(keys.CampaignKeys(cid).later, {"3": 3e11})),
        [["status"], ["status", "CID", "--json"]],
        "stored retry time is not a time",
        id="retry-after-year-9999",
    ),
    pytest.param(
        lambda r, cid: r.zadd(keys.CampaignKeys(cid).blocks, {"gmail": 3e11}),
        [["status"]],
        "stored domain block's end is not a time",
        id="block-after-year-9999",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.CampaignKeys(cid).state(0), "0", "d|tok|abc|1|good-id0:1|1"),
        [["trace", "ADDRESS"], ["trace", "ADDRESS", "--json"], ["export", "CID", "--out", "x.csv"]],
        "in doubt since ?",
        id="in-doubt-since-not-a-number",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.CampaignKeys(cid).state(0), "0", "d|tok|1e300|1|good-id0:1|1"),
        [["export", "CID", "--out", "x.csv"]],
        "in doubt since ?",
        id="in-doubt-since-year-far",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.CampaignKeys(cid).state(0), "0", "q|abc"),
        [["export", "CID", "--out", "x.csv"]],
        "unreadable",
        id="attempts-not-a-number",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.campaign(cid), "submit", "[1, 2]"),
        [["export", "CID", "--out", "x.csv"]],
        "its stored submit counts cannot be read",
        id="submit-counts-a-list",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.dropped_bucket(cid, 0), "abc", '["invalid", "bad", "c"]'),
        [["export", "CID", "--out", "x.csv"]],
        "",
        id="dropped-row-not-a-number",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.campaign(cid), mapping={"state": "cancelled", "compact_cursor": "abc"}),
        [["compact", "CID"], ["status", "CID"]],
        "compacted (",
        id="compaction-cursor-not-a-number",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.campaign(cid), mapping={"state": "cancelled", "compacted_at": "inf"}),
        [["trace", "ADDRESS", "--json"]],
        '"at": null',
        id="compaction-time-infinite",
    ),
    pytest.param(
        lambda r, cid: r.hset(keys.BLOCKLIST_SYNCED, "default", "abc"),
        [["blocklist", "list"], ["blocklist", "list", "--json"]],
        'last synced: default at ?\n\n{"entries": [], "synced": {"default": null}}',
        id="blocklist-synced-not-a-number",
    ),
]


@pytest.mark.parametrize(("damage", "commands", "phrase"), STORED_DAMAGES)
def test_a_damaged_stored_value_is_named_or_shown_as_unknown(
    env: dict[str, str], tmp_path: Path, damage: Any, commands: list[list[str]], phrase: str
) -> None:
    """Each damage a hand edit or another version could leave: no command ends in a traceback; `status`
    names the damaged field in the campaign's line (the other campaigns shown as usual), `trace` and
    `export` print "?" or an unreadable row where a value cannot be read, a campaign whose rows cannot be
    counted is refused in one line."""
    cid = _submit(env, tmp_path, "good")
    with _redis(env) as r:
        address = _first_address(r, cid)
        damage(r, cid)
    outputs = []
    for command in commands:
        args = [address if a == "ADDRESS" else cid if a == "CID" else a for a in command]
        run = cli(env, *args, cwd=tmp_path)
        _no_traceback(run)
        assert run.returncode in (0, 1), (args, run.stderr)
        if args[0] == "export" and run.returncode == 0:
            outputs.append((tmp_path / "x.csv").read_text(encoding="utf-8"))
        outputs.append(run.stdout + run.stderr)
        if "--json" in args and run.returncode == 0:  # strict JSON: no NaN or Infinity a parser refuses
            json.loads(run.stdout, parse_constant=_not_json)
    assert phrase in "\n".join(outputs)


def test_a_campaign_whose_state_cannot_be_read_is_named_so_by_every_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    """pause, cancel, resume, compact and status say the campaign cannot be read, in one line, never echoing the
    stored value (pause and cancel said "is exploded: only a running campaign can be paused")."""
    cid = _submit(env, tmp_path, "bad")
    with _redis(env) as r:
        r.hset(keys.campaign(cid), "state", "exploded\x1b[2J")
    for args in (["pause", cid, "--wait", "0"], ["cancel", cid, "--wait", "0"], ["resume", cid], ["compact", cid]):
        out = cli(env, *args)
        _no_traceback(out)
        assert out.returncode == 1, (args, out.stderr)
        assert f"campaign {cid} cannot be read" in out.stderr, args
        assert "exploded" not in out.stderr, args
        assert len(out.stderr.strip().splitlines()) == 1, args
    status = cli(env, "status", cid)
    assert status.returncode == 1
    assert "unknown state" in status.stdout + status.stderr
    assert "exploded" not in status.stdout + status.stderr
