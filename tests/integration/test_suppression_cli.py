"""`orchestrate suppress ...` and `orchestrate blocklist ...` end to end through click, as a user runs them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from click.testing import CliRunner, Result

from orchestrator.cli import main
from orchestrator.ses.emulator import RunningEmulator, run_emulator
from tests.pipeline_harness import SECRET_ID, SECRET_KEY, make_world

pytestmark = [
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]


@pytest.fixture
def env(redis_url: str) -> dict[str, str]:
    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
    return {"REDIS_URL": redis_url}


def orchestrate(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_suppress_add_list_remove(env: dict[str, str]) -> None:
    """add puts an address on a list, list shows it with its reason, remove takes it off (twice: an error)."""
    assert orchestrate(env, "suppress", "add", "Kim@Example.COM", "--sender-domain", "D0.example.com").exit_code == 0
    assert orchestrate(env, "suppress", "add", "lee@example.com", "--reason", "spam report").exit_code == 0
    listed = json.loads(orchestrate(env, "suppress", "list", "--json").stdout)
    assert [(e["address"], e["sender_domain"], e["source"], e["reason"]) for e in listed] == [
        ("lee@example.com", "", "operator", "spam report"),
        ("kim@example.com", "d0.example.com", "operator", "added by the operator"),  # kept folded
    ]
    one = json.loads(orchestrate(env, "suppress", "list", "--sender-domain", "d1.example.com", "--json").stdout)
    assert [e["address"] for e in one] == ["lee@example.com"]  # the all-domains list applies to d1 too
    gone = orchestrate(env, "suppress", "remove", "Kim@example.com", "--sender-domain", "d0.example.com")
    assert gone.exit_code == 0, gone.output
    again = orchestrate(env, "suppress", "remove", "Kim@example.com", "--sender-domain", "d0.example.com")
    assert (again.exit_code, "is not on the list" in again.stderr) == (1, True)


def test_suppress_add_of_an_address_already_listed_leaves_its_entry(env: dict[str, str]) -> None:
    """A second add keeps the first entry (its reason, source and date) and says so (it replaced them, so a
    complaint became "added by the operator" without a word)."""
    assert orchestrate(env, "suppress", "add", "kim@example.com", "--reason", "asked by phone").exit_code == 0
    again = orchestrate(env, "suppress", "add", "Kim@example.com")
    assert again.exit_code == 0, again.output
    assert "kim@example.com was already suppressed for every sender domain since " in again.stdout
    assert "operator: asked by phone (left as it is; to change its reason, remove it, then add it)" in again.stdout
    listed = json.loads(orchestrate(env, "suppress", "list", "--json").stdout)
    assert [(e["address"], e["reason"]) for e in listed] == [("kim@example.com", "asked by phone")]
    other = orchestrate(env, "suppress", "add", "kim@example.com", "--sender-domain", "d0.example.com")
    assert "kim@example.com suppressed for sender domain d0.example.com" in other.stdout  # another list: added
    # An entry an earlier release kept as written (not folded): found, and left a complaint.
    with redis_sync.Redis.from_url(env["REDIS_URL"]) as r:
        r.hset("wo:supp:all", "Lee@example.com", '{"reason": "spam", "at": 1, "source": "complaint"}')
    old = orchestrate(env, "suppress", "add", "Lee@example.com")
    assert "was already suppressed for every sender domain since" in old.stdout
    assert "complaint: spam" in old.stdout
    with redis_sync.Redis.from_url(env["REDIS_URL"]) as r:
        assert sorted(r.hkeys("wo:supp:all")) == [b"Lee@example.com", b"kim@example.com"]  # no second entry


def test_suppress_add_warns_of_a_sender_domain_no_identity_sends_from(env: dict[str, str], tmp_path: Path) -> None:
    """A typo in --sender-domain would suppress nothing: the entry is kept (for an identity registered later)
    with a warning; a domain an identity sends from, or every domain, adds without one."""
    from tests.pipeline_helpers import write_campaign

    assert orchestrate(env, "submit", str(write_campaign(tmp_path, 3, identities=2))).exit_code == 0  # d0, d1
    typo = orchestrate(env, "suppress", "add", "kim@example.com", "--sender-domain", "d9.example.com")
    assert typo.exit_code == 0, typo.output
    assert "warning: no identity here sends from d9.example.com: the entries apply once one does" in typo.stderr
    for known in (["--sender-domain", "D1.example.com"], []):
        added = orchestrate(env, "suppress", "add", "lee@example.com", *known)
        assert added.exit_code == 0, added.output
        assert "warning" not in added.stderr
    listed = json.loads(orchestrate(env, "suppress", "list", "--json").stdout)
    assert sorted((e["address"], e["sender_domain"]) for e in listed) == [
        ("kim@example.com", "d9.example.com"),
        ("lee@example.com", ""),
        ("lee@example.com", "d1.example.com"),
    ]
    rows = tmp_path / "list.csv"
    rows.write_text("email,sender_domain\na@x.example,d0.example.com\nb@x.example,d7.example.com\nc@x.example,\n")
    imported = orchestrate(env, "suppress", "import", str(rows))
    assert imported.exit_code == 0, imported.output
    assert "warning: no identity here sends from d7.example.com: the entries apply once one does" in imported.stderr


def test_suppress_add_refuses_a_bad_address(env: dict[str, str]) -> None:
    """A bad address is a usage error naming the argument, and nothing is written."""
    result = orchestrate(env, "suppress", "add", "not-an-address")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: ADDRESS: not an e-mail address: 'not-an-address'"
    assert json.loads(orchestrate(env, "suppress", "list", "--json").stdout) == []


def test_suppress_add_refuses_an_empty_sender_domain(env: dict[str, str]) -> None:
    """`--sender-domain ''` is a mistake, not "every sender domain" (that is leaving the option out)."""
    result = orchestrate(env, "suppress", "add", "kim@example.com", "--sender-domain", "")
    assert result.exit_code == 2
    assert "--sender-domain: empty" in result.stderr
    assert json.loads(orchestrate(env, "suppress", "list", "--json").stdout) == []


def test_import_counts_an_address_given_twice_once(env: dict[str, str], tmp_path: Path) -> None:
    """Two rows of one address for one list: one entry (the last row's), counted once, the repeat said."""
    path = tmp_path / "twice.csv"
    path.write_text("email,reason,sender_domain\na1@x.com,first,\na1@x.com,second,\nb@x.com,,d0.example.com\n")
    first = orchestrate(env, "suppress", "import", str(path))
    assert first.exit_code == 0, first.output
    assert (
        first.stdout.strip() == "imported 2 address(es): 2 new, 0 updated (1 repeated row(s): the last of each counts)"
    )
    listed = json.loads(orchestrate(env, "suppress", "list", "--json").stdout)
    assert sorted((e["address"], e["sender_domain"], e["reason"]) for e in listed) == [
        ("a1@x.com", "", "second"),
        ("b@x.com", "d0.example.com", "imported"),
    ]
    again = orchestrate(env, "suppress", "import", str(path))
    assert (
        again.stdout.strip() == "imported 2 address(es): 0 new, 2 updated (1 repeated row(s): the last of each counts)"
    )


def test_import_is_all_or_nothing_with_line_numbers(env: dict[str, str], tmp_path: Path) -> None:
    """One bad row among good ones: every bad row named by line, nothing imported; fixed, all of it goes in."""
    path = tmp_path / "s.csv"
    path.write_text("email,reason\nok@example.com,r1\n\nbad-one,r2\nalso@example.com,r3\n@x.org,r4\n", "utf-8")
    result = orchestrate(env, "suppress", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: 2 bad row(s), nothing imported:",
        f"{path}:4: email: not an e-mail address: 'bad-one'",
        f"{path}:6: email: not an e-mail address: '@x.org'",
    ]
    assert json.loads(orchestrate(env, "suppress", "list", "--json").stdout) == []
    path.write_text("email,reason\nok@example.com,r1\nalso@example.com,r3\n", "utf-8")
    good = orchestrate(env, "suppress", "import", str(path), "--sender-domain", "d0.example.com")
    assert (good.exit_code, good.stdout.strip()) == (0, "imported 2 address(es): 2 new, 0 updated")


def test_import_of_a_file_that_is_not_utf8_says_to_save_it_as_utf8(env: dict[str, str], tmp_path: Path) -> None:
    """A cp949 list: the import reads UTF-8 only, and it has no `recipients.encoding` to point at."""
    path = tmp_path / "s.csv"
    path.write_bytes("email,reason\n김@example.com,r1\n".encode("cp949"))
    result = orchestrate(env, "suppress", "import", str(path))
    assert result.exit_code == 2
    assert f"{path}:2: cannot read this line: not utf-8-sig text (byte 0xb1)" in result.stderr
    assert "save the file as UTF-8 and import it" in result.stderr
    assert "recipients.encoding" not in result.stderr
    assert json.loads(orchestrate(env, "suppress", "list", "--json").stdout) == []


def test_import_refuses_a_header_with_a_column_twice(env: dict[str, str], tmp_path: Path) -> None:
    """`email,email`: which address counts would be a guess; refused as `validate` refuses it, nothing written."""
    path = tmp_path / "twice.csv"
    path.write_text("email,email\nfirst@example.com,second@example.com\n", "utf-8")
    result = orchestrate(env, "suppress", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {path}:1: column 'email' appears twice in the header"]
    assert json.loads(orchestrate(env, "suppress", "list", "--json").stdout) == []
    path.write_text("email,note,note\nfirst@example.com,a,b\n", "utf-8")  # a column the import never reads
    assert orchestrate(env, "suppress", "import", str(path)).exit_code == 0


def test_export_neutralises_formulas_and_round_trips(env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    """Export prefixes formula cells with a quote; importing the export into an empty store gives the same lists."""
    added = orchestrate(env, "suppress", "add", "--reason", '=HYPERLINK("http://x","y")', "--", "-dash@example.com")
    assert added.exit_code == 0, added.output
    orchestrate(env, "suppress", "add", "plain@example.com", "--sender-domain", "d0.example.com", "--reason", "@home")
    exported = orchestrate(env, "suppress", "export").stdout
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0] == ["email", "sender_domain", "source", "reason", "at"]
    assert [r[:4] for r in rows[1:]] == [
        ["'-dash@example.com", "", "operator", '\'=HYPERLINK("http://x","y")'],
        ["plain@example.com", "d0.example.com", "operator", "'@home"],
    ]
    before = json.loads(orchestrate(env, "suppress", "export", "--json").stdout)
    (tmp_path / "export.csv").write_text(exported, "utf-8")
    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
    assert orchestrate(env, "suppress", "import", str(tmp_path / "export.csv")).exit_code == 0
    after = json.loads(orchestrate(env, "suppress", "export", "--json").stdout)
    assert before == after  # the source too: the operator's entries stay the operator's


def test_import_keeps_a_source_its_list_can_hold_and_names_a_bad_sender_domain_cell(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A `source` the target list holds is kept (a restored export), any other becomes `import`; a bad
    `sender_domain` cell is named by its column, not by an option that was not given."""
    good = tmp_path / "good.csv"
    good.write_text(
        "email,sender_domain,source,reason\n"
        "a@x.example,,complaint,spam\n"
        "b@x.example,d0.example.com,complaint,no\n"
        "c@x.example,d0.example.com,unsubscribe,left\n"
        "d@x.example,,made-up,?\n",
        "utf-8",
    )
    assert orchestrate(env, "suppress", "import", str(good)).exit_code == 0
    listed = json.loads(orchestrate(env, "suppress", "export", "--json").stdout)
    assert sorted((e["address"], e["source"]) for e in listed) == [
        ("a@x.example", "complaint"),
        ("b@x.example", "import"),
        ("c@x.example", "unsubscribe"),
        ("d@x.example", "import"),
    ]
    campaign_export = tmp_path / "campaign-export.csv"  # `export CAMPAIGN`'s header: its guard comes off once
    campaign_export.write_text(
        "row,email,state,reason,attempts,identity,message_id,accepted_at,events\n"
        "1,'-f@x.example,failed,''-5 note,1,,,,\n",
        "utf-8",
    )
    assert orchestrate(env, "suppress", "import", str(campaign_export)).exit_code == 0
    listed = json.loads(orchestrate(env, "suppress", "export", "--json").stdout)
    assert [(e["address"], e["reason"]) for e in listed if e["address"].endswith("f@x.example")] == [
        ("-f@x.example", "'-5 note")
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("email,sender_domain\ne@x.example,bad domain!\n", "utf-8")
    refused = orchestrate(env, "suppress", "import", str(bad))
    assert refused.exit_code != 0
    assert "bad.csv:2: sender_domain: not a domain name: 'bad domain!'" in refused.output
    assert "--sender-domain" not in refused.output


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The SES emulator on its own thread and event loop, so click's commands can call it over HTTP."""
    ready, holder = threading.Event(), {}

    async def serve() -> None:
        holder["stop"] = stop = asyncio.Event()
        world = make_world(["d0.example.com"])
        world.blocklist.append("blocked@example.org")
        async with run_emulator(world) as emu:
            holder["emu"] = emu
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(15)
    yield holder["emu"]
    loop.call_soon_threadsafe(holder["stop"].set)
    thread.join(15)
    loop.close()


def test_blocklist_sync_list_release(env: dict[str, str], emulator: RunningEmulator) -> None:
    """sync mirrors Tencent's list, list shows it, release calls DeleteBlackList and clears it; twice: an error."""
    env |= {"SES_ENDPOINT": emulator.url, "TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    synced = orchestrate(env, "blocklist", "sync")
    assert (synced.exit_code, synced.stdout.strip()) == (0, "account default: 1 listed, 1 added, 0 removed")
    listed = json.loads(orchestrate(env, "blocklist", "list", "--json").stdout)
    assert [(e["address"], e["account"]) for e in listed["entries"]] == [("blocked@example.org", "default")]
    assert set(listed["synced"]) == {"default"}
    released = orchestrate(env, "blocklist", "release", "blocked@example.org")
    assert released.exit_code == 0, released.output
    assert [c.action for c in emulator.call_log].count("DeleteBlackList") == 1
    assert "blocked@example.org" not in emulator.service.blocked
    assert json.loads(orchestrate(env, "blocklist", "list", "--json").stdout)["entries"] == []
    again = orchestrate(env, "blocklist", "release", "blocked@example.org")
    assert (again.exit_code, "not in the blocklist mirror" in again.stderr) == (1, True)
