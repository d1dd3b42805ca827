"""No CSV cell can move into another field: from the file through Redis and the workers to the emulator."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.recipients import RecipientFileError
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Account, IdentityConfig, RunningEmulator, TemplateConfig, World, run_emulator
from orchestrator.settings import Settings
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import keys
from orchestrator.store.ledger import MARK, SEP, Ledger, decode_record
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
SECRET_ID, SECRET_KEY = "AKIDcsvfields", "csv-fields-secret-key"
#: Every control character a CSV cell can carry as data (NUL is refused: see the test below).
CONTROLS = [chr(c) for c in range(1, 0x20)] + ["\x7f"]
TEMPLATE = {
    "id": 1,
    "subject": "Hi {{first}}",
    "data": {"first": {"column": "first"}, "city": {"column": "city"}, "code": {"column": "code"}},
}
FAST = {
    "plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 3600}]},
    "shaping": {"max_domain_share": 1.0},
    "template": TEMPLATE,
}


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["email", "first", "city", "code"])
    writer.writerows(rows)
    return out.getvalue()


def _hostile_rows() -> dict[str, dict[str, str]]:
    """address -> the template values its row must arrive with, one row per control character and more."""
    expected = {}
    for ch in CONTROLS:
        address = f"u{ord(ch):02x}@example.org"
        expected[address] = {"first": f"Kim{ch}Jiwoo", "city": f"Se{ch}oul{ch}", "code": f"{ch}{ch}7"}
    expected["all@example.org"] = {"first": "".join(CONTROLS) + "x", "city": "y" + SEP + MARK, "code": "z"}
    expected["lines@example.org"] = {"first": "two\r\nlines", "city": "a\nb\rc", "code": 'q"u,o;t\te'}
    expected["json@example.org"] = {"first": '["x","y"]', "city": '"\\u001f"', "code": "]\x1e["}
    # A cell's blanks at either end are trimmed (Python counts \x1c-\x1f and \t\n\v\f\r as blanks),
    # so each value above has a visible character at both ends unless it is meant to lose them.
    return expected


def _trimmed(values: dict[str, str]) -> dict[str, str]:
    return {k: v.strip() for k, v in values.items()}


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[RunningEmulator, VirtualClock]]:
    clock = VirtualClock(START)
    world = World(
        accounts=[Account(name="default", secret_id=SECRET_ID, secret_key=SECRET_KEY)],
        identities=[IdentityConfig(domain="d0.example.com", reputation_level=20)],
        templates=[TemplateConfig(id=1, name="t", text="{{first}} from {{city}}: {{code}}")],
        account_rate_per_s=None,
    )
    async with run_emulator(world, clock=clock) as emu:
        yield emu, clock


async def test_csv_cells_with_control_characters_reach_their_own_template_variables(
    redis: Redis, redis_url: str, tmp_path: Path, emulator: tuple[RunningEmulator, VirtualClock]
) -> None:
    """Cells holding each control character, line breaks and quotes reach the emulator as exactly their own value."""
    emu, clock = emulator
    expected = _hostile_rows()
    rows = [[address, v["first"], v["city"], v["code"]] for address, v in expected.items()]
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST, csv_text=_csv(rows))
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, clock.now(), str(path))
    assert (result.stats.total, result.stats.valid, result.stats.invalid) == (len(expected), len(expected), 0)
    settings = Settings(
        _env_file=None,
        SES_ENDPOINT=emu.url,
        TENCENTCLOUD_SECRET_ID=SecretStr(SECRET_ID),
        TENCENTCLOUD_SECRET_KEY=SecretStr(SECRET_KEY),
    )
    async with TencentSender(settings) as sender, VirtualRun(redis_url, clock, sender, workers=2) as run:
        await run.run_until(clock.now() + 3600)
    got = {r.to_address: r.template_data for r in emu.send_log}
    assert got == {address: _trimmed(values) for address, values in expected.items()}


async def test_stored_records_keep_every_value_whole(redis: Redis, tmp_path: Path) -> None:
    """What submit stores decodes to the very address and values of each row, separator bytes included."""
    expected = _hostile_rows()
    rows = [[address, v["first"], v["city"], v["code"]] for address, v in expected.items()]
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST, csv_text=_csv(rows))
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    ledger, ck = Ledger(redis), keys.CampaignKeys(result.campaign_id)
    stored = {}
    for idx in range(result.stats.valid):
        address, values = await ledger.record_of(ck, idx)
        stored[address] = dict(zip(campaign.template.columns, values, strict=True))
    assert stored == {address: _trimmed(values) for address, values in expected.items()}


@pytest.mark.parametrize(
    ("record", "decoded"),
    [
        pytest.param("a@x.org\x1fKim\x1fSeoul", ("a@x.org", ["Kim", "Seoul"]), id="old-format"),
        pytest.param("a@x.org\x1fK\x1eim\x1fSeoul", ("a@x.org", ["K\x1eim", "Seoul"]), id="old-format-mark-in-value"),
        pytest.param("a@x.org", ("a@x.org", []), id="old-format-no-values"),
        pytest.param(
            'a@x.org\x1e["K\\u001fim","Se\\u001eoul"]', ("a@x.org", ["K\x1fim", "Se\x1eoul"]), id="new-format"
        ),
        pytest.param("a@x.org\x1e[]", ("a@x.org", []), id="new-format-no-values"),
    ],
)
def test_decode_record_reads_both_formats(record: str, decoded: tuple[str, list[str]]) -> None:
    """Records written before the JSON format (fields joined by \\x1f) still decode, next to the new ones."""
    assert decode_record(record) == decoded


async def test_csv_nul_in_a_cell_is_a_placed_error(redis: Redis, tmp_path: Path) -> None:
    """A NUL in a cell refuses the file at its line and column, and nothing is stored."""
    text = _csv([["a@example.org", "A", "B", "C"], ["b@example.org", "Kim", "Se\x00oul", "7"]])
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST, csv_text=text)
    campaign, fp = load(path)
    with pytest.raises(RecipientFileError) as info:
        await submit(redis, campaign, fp, START, str(path))
    assert str(info.value) == f"{tmp_path / 't.csv'}:3: column city: " + info.value.message
    assert "NUL" in info.value.message
    assert [k async for k in redis.scan_iter(count=1000)] == []
