"""submit on a real redis-server: suppression lists, record buckets, the shuffled queue, messy files, failures."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_sync
import yaml
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator import submit as submit_module
from orchestrator.cli import main
from orchestrator.recipients import RecipientFileError
from orchestrator.store import campaigns, keys
from orchestrator.store.identities import IdentityConflictError
from orchestrator.store.ledger import decode_record
from orchestrator.submit import ListInUseError, ListOverlapError, SubmitCommittedError, SubmitLostClaimError, submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "lists",
    [
        pytest.param({}, id="all-empty"),
        pytest.param({keys.BLOCKLIST: ["user1@naver.com"]}, id="blocklist"),
        pytest.param({keys.suppression("d1.example.com"): ["user2@daum.net", "user9@nowhere.org"]}, id="one-domain"),
        pytest.param(
            {keys.BLOCKLIST: ["user3@outlook.com"], keys.suppression("d0.example.com"): ["user4@nate.com"]},
            id="both",
        ),
    ],
)
async def test_submit_skips_suppressed_addresses(redis: Redis, tmp_path: Path, lists: dict[str, list[str]]) -> None:
    """Addresses on the blocklist or on any sender domain's suppression list are not loaded; others are."""
    for key, members in lists.items():
        await redis.sadd(key, *members)
    path = write_campaign(tmp_path, 250)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    listed = {m for members in lists.values() for m in members if not m.endswith("nowhere.org")}
    ck = keys.CampaignKeys(result.campaign_id)
    loaded = set()
    for b in range(3):
        for rec in (await redis.hgetall(f"{ck.rec_prefix}{b}")).values():
            loaded.add(decode_record(rec)[0])
    assert result.stats.suppressed == len(listed)
    assert result.stats.valid == 250 - len(listed)
    assert loaded.isdisjoint(listed)
    assert len(loaded) == result.stats.valid


async def test_submit_buckets_and_queue_cover_every_index(redis: Redis, tmp_path: Path) -> None:
    """Every valid recipient has its record under index // BUCKET and appears once in the queue."""
    n = 12_345  # several submit batches, a last bucket that is not full
    path = write_campaign(tmp_path, n)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    ck = keys.CampaignKeys(result.campaign_id)
    queue = [int(i) for i in await redis.lrange(ck.queue, 0, -1)]
    assert sorted(queue) == list(range(n))
    assert queue != list(range(n))  # shuffled
    for idx in (0, 99, 100, 5000, n - 1):
        address, values = decode_record(await redis.hget(ck.rec(idx), str(idx)))
        assert (address, values) == (f"user{idx}@{address.split('@')[1]}", [f"Name{idx}"])
    sizes = [await redis.hlen(f"{ck.rec_prefix}{b}") for b in range((n + keys.BUCKET - 1) // keys.BUCKET)]
    assert sizes == [keys.BUCKET] * (n // keys.BUCKET) + [n % keys.BUCKET]
    assert await redis.ttl(ck.rec(0)) == -1  # committed: the staging TTL is gone


async def test_a_negative_shuffle_seed_is_a_seed_of_its_own(redis: Redis, tmp_path: Path) -> None:
    """`random` drops an int seed's sign: -42 shuffled exactly as 42. Each seed the file may hold is its
    own order; a seed of 0 or more keeps the order it always had."""
    orders = {}
    for seed in (42, -42, 43):
        path = write_campaign(tmp_path, 200, name="s")
        doc = yaml.safe_load(path.read_text())
        doc["recipients"]["shuffle_seed"] = seed
        path.write_text(yaml.safe_dump(doc))
        campaign, fp = load(path)
        result = await submit(redis, campaign, fp, START, str(path), force_new=True)
        orders[seed] = [int(i) for i in await redis.lrange(keys.CampaignKeys(result.campaign_id).queue, 0, -1)]
    assert len({tuple(o) for o in orders.values()}) == 3
    expected = list(range(200))
    random.Random(42).shuffle(expected)
    assert orders[42] == expected  # unchanged for the seeds it always took


# --- messy files, re-submits, failures, the CLI -------------------------------------------------

#: A CSV as spreadsheets export it: a BOM, CRLF line ends, blank lines, quoted commas and quotes,
#: domains in capitals, the same address twice with different domain case, and bad rows.
MESSY_CSV = (
    "\ufeffemail,first_name\r\n"
    'kim@Example.COM,"Kim, Jiwoo"\r\n'
    "\r\n"
    "lee@example.com,Lee\r\n"
    "KIM@example.com,Kim2\r\n"  # the same mailbox in capitals: a duplicate (providers ignore the case)
    'kim@EXAMPLE.com,"Kim, again"\r\n'  # duplicate of the first row
    "not-an-address,Nobody\r\n"
    ",Empty\r\n"
    "park@naver.com\r\n"  # no first_name cell
    "choi@naver.com,\r\n"  # an empty first_name
    '"  jung@Daum.net  ",Jung\r\n'
    "   ,  \r\n"  # blank: only whitespace
    '"han@gmail.com","Han ""the"" Great"\r\n'
    "lee@EXAMPLE.com,Lee again\r\n"  # duplicate
    "user@exa_mple.com,X"  # no line end at the end of the file
)


async def _stored(redis: Redis, cid: str, n: int) -> dict[str, list[str]]:
    ck = keys.CampaignKeys(cid)
    out = {}
    for idx in range(n):
        address, values = decode_record(await redis.hget(ck.rec(idx), str(idx)))
        out[address] = values
    return out


async def test_submit_counts_a_messy_spreadsheet_export_exactly(redis: Redis, tmp_path: Path) -> None:
    """BOM, CRLF, blank lines, quoted commas, capital domains, duplicates and bad rows: every count is exact."""
    path = write_campaign(tmp_path, 0, csv_text=MESSY_CSV)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    s = result.stats
    assert (s.total, s.valid, s.invalid, s.duplicates, s.suppressed) == (12, 4, 5, 3, 0)
    assert dict(s.invalid_reasons) == {"bad syntax": 2, "empty": 1, "missing cells": 1, "empty first_name": 1}
    assert await _stored(redis, result.campaign_id, 4) == {
        "kim@example.com": ["Kim, Jiwoo"],
        "lee@example.com": ["Lee"],
        "jung@daum.net": ["Jung"],
        "han@gmail.com": ['Han "the" Great'],
    }
    rec = await campaigns.get(redis, result.campaign_id)
    assert rec is not None
    assert (rec.state.value, rec.counts["queued"], rec.submit["total"]) == ("running", 4, 12)


async def test_an_interruption_once_the_campaign_exists_says_so(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing after the commit went through (while its reply or the event after it was on the way):
    the campaign is kept and running, and submit says it was created, not that nothing was."""
    path = write_campaign(tmp_path, 30)
    campaign, fp = load(path)

    async def cut_short(*args: object) -> None:
        raise asyncio.CancelledError

    monkeypatch.setattr(submit_module, "_emit_submitted", cut_short)
    with pytest.raises(SubmitCommittedError, match=r"was created and is running") as caught:
        await submit(redis, campaign, fp, START, str(path))
    assert caught.value.interrupted
    rec = await campaigns.get(redis, caught.value.campaign_id)
    assert rec is not None
    assert rec.state.value == "running"
    monkeypatch.undo()
    again = await submit(redis, campaign, fp, START + 60, str(path))
    assert (again.created, again.campaign_id) == (False, caught.value.campaign_id)


async def test_a_submit_that_never_commits_registers_no_identity(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is lost just before the commit (the submit stalled past its TTL and another took the
    files): nothing is created, and the file's identities are neither registered nor, for a known one,
    rewritten (its address, account, time zone and quota are written with the campaign, in one step)."""
    path = write_campaign(tmp_path, 30)
    campaign, fp = load(path)
    known, new = campaign.identities
    before = {"from": "Old <news@d0.example.com>", "domain": "d0.example.com", "timezone": "UTC", "warmup_day": "4"}
    await redis.hset(keys.IdentityKeys(known.id).meta, mapping=before)
    await redis.sadd(keys.IDENTITIES, known.id)
    write_queue = submit_module._write_queue

    async def then_lose_the_claim(redis_: Redis, *args: object) -> None:
        await write_queue(redis_, *args)  # type: ignore[arg-type]
        await redis_.set(keys.fingerprint(fp), submit_module.CLAIM_PREFIX + "another")

    monkeypatch.setattr(submit_module, "_write_queue", then_lose_the_claim)
    with pytest.raises(SubmitLostClaimError):
        await submit(redis, campaign, fp, START, str(path))
    assert await campaigns.all_ids(redis) == []
    assert await redis.exists(keys.IdentityKeys(new.id).meta) == 0
    assert await redis.smembers(keys.IDENTITIES) == {known.id}
    assert await redis.hgetall(keys.IdentityKeys(known.id).meta) == before
    monkeypatch.undo()
    await redis.delete(keys.fingerprint(fp))
    done = await submit(redis, campaign, fp, START, str(path))
    assert done.created
    assert (await redis.hgetall(keys.IdentityKeys(known.id).meta))["from"] == known.from_
    assert (await redis.hgetall(keys.IdentityKeys(new.id).meta))["warmup_day"] == str(new.warmup_day)
    assert (await redis.hgetall(keys.IdentityKeys(known.id).meta))["warmup_day"] == "4"  # the identity's own


async def test_resubmit_returns_the_existing_campaign_unless_forced(redis: Redis, tmp_path: Path) -> None:
    """The same files again give the same campaign (created False); force_new makes a second one."""
    path = write_campaign(tmp_path, 30)
    campaign, fp = load(path)
    first = await submit(redis, campaign, fp, START, str(path))
    again = await submit(redis, campaign, fp, START + 60, str(path))
    forced = await submit(redis, campaign, fp, START + 120, str(path), force_new=True)
    assert (first.created, again.created, forced.created) == (True, False, True)
    assert again.campaign_id == first.campaign_id
    assert forced.campaign_id != first.campaign_id
    assert again.as_json() == first.as_json() | {"created": False}
    assert await campaigns.all_ids(redis) == [first.campaign_id, forced.campaign_id]
    # A changed recipient file is another submission: its 30 addresses the running ones hold are refused
    # (submit_overlap.py) unless --new.
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(csv_path.read_text() + "late@example.org,Late\n")
    campaign, fp2 = load(path)
    with pytest.raises(ListOverlapError, match="30 of its addresses"):
        await submit(redis, campaign, fp2, START + 180, str(path))
    changed = await submit(redis, campaign, fp2, START + 180, str(path), force_new=True)
    assert changed.created
    assert changed.stats.valid == 31


def _rows(n: int) -> list[bytes]:
    return [f"user{i}@example.org,Name{i}\n".encode() for i in range(n)]


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        pytest.param(3000, b"\xff\xfe\xfa@example.org,Bad\n", id="undecodable-before-first-batch"),
        pytest.param(7000, b"\xff\xfe\xfa@example.org,Bad\n", id="undecodable-after-a-batch-was-written"),
        pytest.param(7000, b'"never closed@example.org,' + b"x" * 140_000 + b"\n", id="csv-field-too-large"),
    ],
)
async def test_submit_failing_midway_leaves_nothing_behind(redis: Redis, tmp_path: Path, line: int, bad: bytes) -> None:
    """A recipient file that breaks at line 3000 or 7000: RecipientFileError, and not one key left in Redis."""
    path = write_campaign(tmp_path, 0, csv_text="email,first_name\n")
    rows = _rows(9000)
    rows[line - 2] = bad  # line 1 is the header
    (tmp_path / "t.csv").write_bytes(b"email,first_name\n" + b"".join(rows))
    campaign, fp = load(path)
    with pytest.raises(RecipientFileError, match="cannot read this line"):
        await submit(redis, campaign, fp, START, str(path))
    assert [k async for k in redis.scan_iter(count=1000)] == []
    # The same files, once fixed, submit as a new campaign (no fingerprint was recorded).
    rows[line - 2] = b"fixed@example.org,Fixed\n"
    (tmp_path / "t.csv").write_bytes(b"email,first_name\n" + b"".join(rows))
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    assert (result.created, result.stats.valid) == (True, 9000)


async def test_submit_counts_suppressed_addresses(redis: Redis, tmp_path: Path) -> None:
    """Blocklisted and unsubscribed addresses count as suppressed once; their duplicates count as duplicates.

    KIM@example.com is the same mailbox as kim@example.com: a duplicate, counted before suppression.
    """
    await redis.sadd(keys.BLOCKLIST, "kim@example.com")
    await redis.sadd(keys.suppression("d0.example.com"), "han@gmail.com")
    await redis.sadd(keys.suppression("unrelated.example.net"), "lee@example.com")  # another sender domain
    path = write_campaign(tmp_path, 0, identities=1, csv_text=MESSY_CSV)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    s = result.stats
    assert (s.total, s.valid, s.invalid, s.duplicates, s.suppressed) == (12, 2, 5, 3, 2)
    assert set(await _stored(redis, result.campaign_id, 2)) == {"lee@example.com", "jung@daum.net"}


def test_cli_submit_json_has_exactly_the_counts(redis_url: str, tmp_path: Path) -> None:
    """`orchestrate submit --json` prints one JSON object: campaign_id, whether it was created now, its state
    and the five counts, nothing else; the same files again: the same campaign, created false, its state now."""
    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
    path = write_campaign(tmp_path, 0, csv_text=MESSY_CSV)
    runner = CliRunner()
    result = runner.invoke(main, ["submit", str(path), "--json"], env={"REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"campaign_id", "created", "state", "total", "valid", "invalid", "duplicates", "suppressed"}
    assert {k: v for k, v in out.items() if k != "campaign_id"} == {
        "created": True,
        "state": "running",
        "total": 12,
        "valid": 4,
        "invalid": 5,
        "duplicates": 3,
        "suppressed": 0,
    }
    again = runner.invoke(main, ["submit", str(path), "--json"], env={"REDIS_URL": redis_url})
    assert json.loads(again.stdout) == out | {"created": False}  # the same campaign, not a second one
    cancelled = runner.invoke(main, ["cancel", out["campaign_id"]], env={"REDIS_URL": redis_url})
    assert cancelled.exit_code == 0, cancelled.output
    after = runner.invoke(main, ["submit", str(path)], env={"REDIS_URL": redis_url})
    assert f"already submitted as campaign {out['campaign_id']}, cancelled now (--new submits it again" in after.stdout


def test_cli_submit_refuses_a_name_that_is_another_campaigns_id(redis_url: str, tmp_path: Path) -> None:
    """A campaign named like an existing campaign's id could never be named by it (the id wins): refused, exit 2,
    naming the file and field, nothing created."""
    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = CliRunner().invoke(
        main, ["submit", str(write_campaign(tmp_path / "a", 3)), "--json"], env={"REDIS_URL": redis_url}
    )
    cid = json.loads(first.stdout)["campaign_id"]
    path = write_campaign(tmp_path / "b", 3, name=cid)
    refused = CliRunner().invoke(main, ["submit", str(path)], env={"REDIS_URL": redis_url})
    assert refused.exit_code == 2, refused.output
    assert f"error: {path}: name: {cid!r} is the id of an existing campaign" in refused.output
    with redis_sync.Redis.from_url(redis_url) as r:
        assert r.zcard("wo:campaigns") == 1


def test_cli_submit_warns_as_validate_does_and_keeps_json_clean(redis_url: str, tmp_path: Path) -> None:
    """A campaign whose sending window cannot carry its warm-up past day 1: submit creates it (a warning,
    not an error) and says so on stderr, stdout still one JSON object."""
    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
    path = write_campaign(tmp_path, 0, csv_text=MESSY_CSV, extra={"sending_window": "08:00-10:00"})
    result = CliRunner().invoke(main, ["submit", str(path), "--json"], env={"REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] == 4
    assert "warning: warm-up day 1: at most 400 a day fit in the sending window 08:00-10:00" in result.stderr


def test_cli_submit_warns_of_an_account_without_credentials(redis_url: str, tmp_path: Path) -> None:
    """An identity's account with no key pair here: submit still creates the campaign (the workers may have
    one) and says on stderr which account a worker would pause on; none configured is never silent, one
    configured is no warning, and the key itself is never printed."""
    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
    path = write_campaign(tmp_path, 3, identities=1)
    doc = yaml.safe_load(path.read_text())
    doc["identities"].append({"id": "t-id9", "from": "News <news@d9.example.com>", "account": "marketing"})
    path.write_text(yaml.safe_dump(doc))
    bare = {"REDIS_URL": redis_url, "TENCENTCLOUD_SECRET_ID": None, "TENCENTCLOUD_SECRET_KEY": None}
    (tmp_path / "empty.env").write_text("")  # no credentials file of this machine's either
    bare |= {"ORCHESTRATE_ACCOUNTS": None, "ORCHESTRATE_ENV_FILE": str(tmp_path / "empty.env")}
    result = CliRunner().invoke(main, ["submit", str(path), "--json"], env=bare)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] == 3
    warned = [line for line in result.stderr.splitlines() if "has no credentials here" in line]
    assert warned == [
        "warning: account 'default' has no credentials here (TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY "
        "do not both hold a value): a worker without them pauses the campaign at its first send "
        "(Orchestrator.NoCredentials); `orchestrate check` tests them against Tencent",
        "warning: account 'marketing' has no credentials here (ORCHESTRATE_ACCOUNTS has no such name): a worker "
        "without them pauses the campaign at its first send (Orchestrator.NoCredentials); `orchestrate check` "
        "tests them against Tencent",
    ]
    blank = bare | {"TENCENTCLOUD_SECRET_ID": "", "TENCENTCLOUD_SECRET_KEY": "  "}  # set to nothing: no key either
    emptied = CliRunner().invoke(main, ["submit", str(path), "--new", "--json"], env=blank)
    assert emptied.exit_code == 0, emptied.output
    assert "warning: account 'default' has no credentials here" in emptied.stderr
    keyed = bare | {"TENCENTCLOUD_SECRET_ID": "AKIDsecretid0001", "TENCENTCLOUD_SECRET_KEY": "secretkey-0001-xyz"}
    keyed["ORCHESTRATE_ACCOUNTS"] = '{"marketing": {"secret_id": "AKIDmkt0001", "secret_key": "mktkey-0001-xyz"}}'
    again = CliRunner().invoke(main, ["submit", str(path), "--new", "--json"], env=keyed)
    assert again.exit_code == 0, again.output
    assert "credentials" not in again.stderr
    assert not any(s in again.output for s in ("secretkey-0001-xyz", "mktkey-0001-xyz", "AKIDsecretid0001"))


@pytest.mark.parametrize(
    ("csv_text", "blocked", "why"),
    [
        pytest.param("email,first_name\nnot-an-address,A\n@example.org,B\n", [], "2 invalid", id="all-invalid"),
        pytest.param(
            "email,first_name\nkim@example.com,A\nkim@example.com,B\n",
            ["kim@example.com"],
            "1 duplicate, 1 suppressed",
            id="all-suppressed",
        ),
    ],
)
async def test_submit_refuses_a_file_with_no_recipient_left(
    redis: Redis, tmp_path: Path, csv_text: str, blocked: list[str], why: str
) -> None:
    """Every row dropped (invalid, duplicate, suppressed): a clear error with the counts, no empty campaign, no key."""
    for address in blocked:
        await redis.sadd(keys.BLOCKLIST, address)
    path = write_campaign(tmp_path, 0, identities=1, csv_text=csv_text)
    campaign, fp = load(path)
    with pytest.raises(RecipientFileError, match=f"no recipient left to send to: all 2 rows were dropped .*{why}"):
        await submit(redis, campaign, fp, START, str(path))
    assert [k async for k in redis.scan_iter(count=1000)] == [keys.BLOCKLIST] * len(blocked)


async def test_a_second_identity_id_on_a_warmed_sender_domain_is_refused(redis: Redis, tmp_path: Path) -> None:
    """Another campaign naming a different id for a sender domain an identity already warms up (same account)
    is refused before anything is written; the same id, or the same domain in another account, is taken."""
    first = write_campaign(tmp_path, 10, name="first", identities=1)
    spec, fp = load(first)
    await submit(redis, spec, fp, START, str(first))
    other_id = write_campaign(tmp_path, 10, name="second", identities=1)  # id second-id0 on d0.example.com
    spec2, fp2 = load(other_id)
    keys_before = sorted(await redis.keys("*"))
    with pytest.raises(
        IdentityConflictError, match=r"d0\.example\.com \(account default\) is warmed up as identity 'first-id0'"
    ):
        await submit(redis, spec2, fp2, START + 60, str(other_id))
    assert sorted(await redis.keys("*")) == keys_before
    same_id = write_campaign(
        tmp_path, 10, name="third", extra={"identities": [{"id": "first-id0", "from": "N <n@D0.example.com>"}]}
    )
    spec3, fp3 = load(same_id)
    # The same generated list as the first campaign, on purpose: force_new (`submit --new`).
    assert (await submit(redis, spec3, fp3, START + 120, str(same_id), force_new=True)).created
    other_account = write_campaign(
        tmp_path,
        10,
        name="fourth",
        extra={"identities": [{"id": "fourth-id0", "from": "N <n@d0.example.com>", "account": "marketing"}]},
    )
    spec4, fp4 = load(other_account)
    assert (await submit(redis, spec4, fp4, START + 180, str(other_account), force_new=True)).created


async def test_the_domain_rule_passes_over_a_damaged_identity_and_keeps_ids_that_already_share(
    redis: Redis, tmp_path: Path
) -> None:
    """A damaged identity record (of another campaign) does not stop every submit; two ids that shared a
    domain before the rule both keep working, a third is refused naming both."""
    await redis.sadd(keys.IDENTITIES, "broken")
    await redis.set(keys.IdentityKeys("broken").meta, "not a hash")
    for ident in ("a-id", "b-id"):  # as an older release let them be registered
        await redis.sadd(keys.IDENTITIES, ident)
        await redis.hset(keys.IdentityKeys(ident).meta, mapping={"domain": "shared.example.com", "account": "default"})
    for n, ident in enumerate(("b-id", "c-id")):
        path = write_campaign(
            tmp_path, 5, name=f"s{n}", extra={"identities": [{"id": ident, "from": "N <n@shared.example.com>"}]}
        )
        spec, fp = load(path)
        if ident == "b-id":
            assert (await submit(redis, spec, fp, START, str(path))).created
        else:
            with pytest.raises(IdentityConflictError, match="as identity 'a-id' or 'b-id'"):
                await submit(redis, spec, fp, START, str(path))


async def test_a_list_a_running_campaign_sends_is_refused_unless_new(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Another campaign file (a corrected subject) naming the same recipient list while the first campaign
    still runs or is paused would mail every recipient twice: refused, naming the campaign, nothing
    written; `--new` (force_new) sends it all the same; once the first is cancelled, it is accepted."""
    path = write_campaign(tmp_path, 30)
    campaign, fp = load(path)
    first = await submit(redis, campaign, fp, START, str(path))
    edited = tmp_path / "edited.yaml"
    edited.write_text(path.read_text().replace("Hi {{name}}", "Hello {{name}}"))
    # The same list written another way: another file name, CRLF line ends, the columns and rows reordered.
    header, *rows = (tmp_path / "t.csv").read_text().splitlines()
    swapped = ["first_name,email,note"] + [f"{r.split(',')[1]},{r.split(',')[0]},x" for r in reversed(rows)]
    (tmp_path / "copy.csv").write_bytes("\r\n".join(swapped).encode() + b"\r\n")
    edited.write_text(edited.read_text().replace("file: t.csv", "file: copy.csv"))
    campaign2, fp2 = load(edited)
    assert fp2 != fp
    for state in ("running", "paused"):
        await redis.hset(keys.CampaignKeys(first.campaign_id).meta, "state", state)
        before = sorted(await redis.keys("*"))
        with pytest.raises(ListInUseError, match=f"recipient list of campaign {first.campaign_id} \\({state}\\)"):
            await submit(redis, campaign2, fp2, START + 60, str(edited))
        assert sorted(await redis.keys("*")) == before  # nothing half-written, no claim left
    forced = await submit(redis, campaign2, fp2, START + 60, str(edited), force_new=True)
    assert forced.created
    await redis.hset(keys.CampaignKeys(first.campaign_id).meta, "state", "cancelled")
    await redis.hset(keys.CampaignKeys(forced.campaign_id).meta, "state", "completed")
    path.write_text(path.read_text().replace("Hi {{name}}", "Hey {{name}}"))  # a third file, the same list
    campaign3, fp3 = load(path)
    later = await submit(redis, campaign3, fp3, START + 120, str(path))
    assert later.created  # the list's campaigns finished: a new send of the same list is a new campaign
    path.write_text(path.read_text().replace("Hey {{name}}", "Yo {{name}}"))  # a fourth, while `later` runs
    done = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(path)], env={"REDIS_URL": redis_url})
    assert done.exit_code == 2
    assert f"holds the recipient list of campaign {later.campaign_id} (running)" in done.output
    assert "--new" in done.output
    # One address fewer, or one more: another list, but its addresses are `later`'s (submit_overlap.py).
    (tmp_path / "fewer.csv").write_text("\n".join([header, *rows[1:]]) + "\n")
    (tmp_path / "more.csv").write_text("\n".join([header, *rows, "new.person@naver.com,New"]) + "\n")
    for name, shared in (("fewer", 29), ("more", 30)):
        other = tmp_path / f"{name}.yaml"
        other.write_text(path.read_text().replace("file: t.csv", f"file: {name}.csv"))
        before = sorted(await redis.keys("*"))
        with pytest.raises(ListOverlapError, match=f"{shared} of its addresses .* campaign {later.campaign_id} "):
            await submit(redis, *load(other), START + 180, str(other))
        assert sorted(await redis.keys("*")) == before  # nothing half-written, no claim left
    cli = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(other)], env={"REDIS_URL": redis_url})
    assert cli.exit_code == 2
    assert "more.csv: 30 of its addresses (such as user" in cli.output
    assert f"are recipients of campaign {later.campaign_id} (running)" in cli.output
    assert (await submit(redis, *load(other), START + 180, str(other), force_new=True)).created


async def test_a_list_is_the_same_mailboxes_however_cased_and_one_recorded_by_bytes_is_still_compared(
    redis: Redis, tmp_path: Path
) -> None:
    """The list's local parts upper-cased is the same list (submit folds case for duplicates and suppression
    too); a campaign whose list an earlier release recorded as the file's sha256 still refuses that file."""
    import hashlib

    path = write_campaign(tmp_path, 6)
    first = await submit(redis, *load(path), START, str(path))
    header, *rows = (tmp_path / "t.csv").read_text().splitlines()
    (tmp_path / "upper.csv").write_text("\n".join([header] + [r[0].upper() + r[1:] for r in rows]) + "\n")
    upper = tmp_path / "upper.yaml"
    upper.write_text(path.read_text().replace("file: t.csv", "file: upper.csv").replace("Hi {{name}}", "Hey"))
    with pytest.raises(ListInUseError, match=f"recipient list of campaign {first.campaign_id} \\(running\\)"):
        await submit(redis, *load(upper), START + 60, str(upper))
    stored = hashlib.sha256((tmp_path / "t.csv").read_bytes()).hexdigest()  # as an earlier release kept it
    await redis.hset(keys.CampaignKeys(first.campaign_id).meta, "list", stored)
    (tmp_path / "copy.csv").write_bytes((tmp_path / "t.csv").read_bytes())
    copy = tmp_path / "copy.yaml"
    copy.write_text(path.read_text().replace("file: t.csv", "file: copy.csv").replace("Hi {{name}}", "Yo"))
    with pytest.raises(ListInUseError, match=f"recipient list of campaign {first.campaign_id} \\(running\\)"):
        await submit(redis, *load(copy), START + 120, str(copy))
    # Not byte-identical: not the same list by the old digest, but the same addresses (submit_overlap.py).
    with pytest.raises(ListOverlapError, match=f"6 of its addresses .* campaign {first.campaign_id} \\(running\\)"):
        await submit(redis, *load(upper), START + 180, str(upper))


async def test_two_overlapping_lists_submitted_at_once_one_is_refused(redis: Redis, tmp_path: Path) -> None:
    """Two lists sharing addresses, each loaded before the other was created (the commit turn held until
    both wait for it): the first to commit creates its campaign, the second is refused in its turn,
    compared with the campaign created while it loaded, and leaves nothing behind."""
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()

    def own(name: str) -> dict[str, object]:  # a sender domain each: the identity checks pass both
        return {"identities": [{"id": f"{name}-id0", "from": f"News <news@{name}.example.com>"}]}

    first_path = write_campaign(first_dir, 3000, name="a", extra=own("a"))
    header, *rows = (first_dir / "a.csv").read_text().splitlines()
    extra = [f"only.b{i}@example.org,B{i}" for i in range(1500)]
    csv_text = "\n".join([header, *rows[1500:], *extra]) + "\n"
    second_path = write_campaign(second_dir, 0, name="b", extra=own("b"), csv_text=csv_text)
    await redis.set(keys.SUBMIT_TURN, "held-by-the-test", px=60_000)
    tasks = [asyncio.create_task(submit(redis, *load(p), START, str(p))) for p in (first_path, second_path)]
    for _ in range(600):  # both staged their queue: each loaded its list with no campaign to compare it with
        if len([k async for k in redis.scan_iter(match="wo:c:*:q")]) == 2:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the submits never staged their queues")
    assert await redis.zcard(keys.CAMPAIGNS) == 0
    await redis.delete(keys.SUBMIT_TURN)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, ListOverlapError)]
    assert (len(created), len(refused)) == (1, 1), results
    assert "1,500 of its addresses (such as user" in str(refused[0])
    assert f"are recipients of campaign {created[0].campaign_id} (running)" in str(refused[0])
    assert [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)] == [created[0].campaign_id]
    others = [k async for k in redis.scan_iter(match="wo:c:*") if not k.startswith(f"wo:c:{created[0].campaign_id}:")]
    assert [k for k in others if k != keys.campaign(created[0].campaign_id)] == []  # nothing half-written


async def test_the_commit_turn_is_renewed_while_held_and_released_after(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder that works longer than the turn's lifetime (a large list compared with campaigns created
    while it loaded) keeps the turn: a second submit waits for it instead of committing alongside."""
    from orchestrator import submit_claim

    monkeypatch.setattr(submit_claim, "TURN_TTL_S", 0.4)
    order: list[str] = []

    async def second() -> None:
        async with submit_claim.commit_turn(redis):
            order.append("second in")

    async with submit_claim.commit_turn(redis):
        token = await redis.get(keys.SUBMIT_TURN)
        waiting = asyncio.create_task(second())
        await asyncio.sleep(1.5)  # almost four lifetimes
        assert await redis.get(keys.SUBMIT_TURN) == token
        assert 0 < await redis.pttl(keys.SUBMIT_TURN) <= 400
        order.append("first out")
    await waiting
    assert order == ["first out", "second in"]
    assert await redis.exists(keys.SUBMIT_TURN) == 0
