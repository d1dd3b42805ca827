"""Generated recipient CSVs: the exact valid/invalid split, a placed problem, and no half-written campaign.

Each file is built row by row as a known kind (tests/property/csv_cases.py) and the split it must
give is worked out from that, never by the reader under test. The reader is called in-process (the
commands that use it are run as subprocesses in tests/e2e/test_hostile_inputs.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from orchestrator import submit as submit_module
from orchestrator.core.campaign import Campaign
from orchestrator.recipients import EXTRA_CELLS, SWALLOWED, RecipientFileError, scan_recipients
from orchestrator.store import keys
from orchestrator.store.connection import redis_from_url
from orchestrator.store.ledger import decode_record
from tests.e2e.procs import BIN
from tests.property.conftest import EXAMPLES, HOSTILE, SEEDED
from tests.property.csv_cases import CsvCase, Expected, csv_case
from tests.redis_server import RedisServer

#: Submits cost a few Redis round trips each: a quarter of the cases (the split above runs them all).
SUBMIT = settings(HOSTILE, max_examples=max(50, EXAMPLES // 4))


def campaign_for(case: CsvCase, path: Path) -> Campaign:
    """A campaign reading the generated CSV at `path` with the case's options."""
    return Campaign.model_validate(
        {
            "name": "hostile",
            "timezone": "UTC",
            "identities": [{"id": "hostile-a", "from": "News <news@a.example.com>"}],
            "template": {"id": 1, "subject": "Hi {{name}}", "data": case.data_spec()},
            "recipients": case.recipients(str(path)),
        }
    )


def expected_reasons(e: Expected) -> dict[str, int]:
    named = {"swallowed": SWALLOWED, "extra": EXTRA_CELLS}
    return {named.get(r, r): n for r, n in e.reasons.items()}


def assert_refused(exc: RecipientFileError, e: Expected, path: Path) -> None:
    """The problem names the file, the fatal row's line and what is wrong there."""
    assert exc.file == str(path)
    assert exc.line == e.fatal_line, str(exc)
    assert e.fatal is not None
    assert e.fatal in exc.message, str(exc)
    assert "\n" not in str(exc)


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return tmp_path / "recipients.csv"


@HOSTILE
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_generated_csv_gives_the_exact_split(csv_path: Path, seed: int) -> None:
    """Every generated file gives the counts, reasons and rows its construction implies, or its placed problem."""
    case = csv_case(seed)
    csv_path.write_bytes(case.data)
    campaign = campaign_for(case, csv_path)
    e = case.expected
    rows: list[tuple[str, list[str]]] = []
    if e.fatal is not None:
        with pytest.raises(RecipientFileError) as info:
            scan_recipients(campaign, lambda r: rows.append((r.address, r.values)))
        assert_refused(info.value, e, csv_path)
        return
    stats = scan_recipients(campaign, lambda r: rows.append((r.address, r.values)))
    assert (stats.total, stats.valid, stats.invalid, stats.duplicates) == (e.total, e.valid, e.invalid, e.duplicates)
    assert dict(stats.invalid_reasons) == expected_reasons(e)
    assert rows == e.rows


# --- submit: one Redis for every case, cleaned between ---------------------------------------


@pytest.fixture(scope="module")
def store(redis_server: RedisServer, loop: asyncio.Runner) -> Iterator[Redis]:
    client = redis_from_url(redis_server.url)
    yield client
    loop.run(client.aclose())


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Submit writes every 3 rows: a refused file has written batches to take back."""
    monkeypatch.setattr(submit_module, "BATCH", 3)


async def _submit_case(redis: Redis, campaign: Campaign, case: CsvCase, path: Path) -> None:
    await redis.flushdb()
    e = case.expected
    if e.fatal is not None or e.valid == 0:
        with pytest.raises(RecipientFileError) as info:
            await submit_module.submit(redis, campaign, "fp", 1.0e9, "test")
        if e.fatal is not None:
            assert_refused(info.value, e, path)
        assert await redis.keys("*") == [], "a refused submit left keys behind"
        return
    result = await submit_module.submit(redis, campaign, "fp", 1.0e9, "test")
    s = result.stats
    assert (s.total, s.valid, s.invalid, s.duplicates) == (e.total, e.valid, e.invalid, e.duplicates)
    ck = keys.CampaignKeys(result.campaign_id)
    stored = [decode_record(await redis.hget(ck.rec(i), str(i)) or "") for i in range(s.valid)]
    assert [(a, v) for a, v in stored] == e.rows


@SUBMIT
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_generated_csv_submit_is_whole_or_nothing(
    csv_path: Path, seed: int, store: Redis, loop: asyncio.Runner, small_batches: Any
) -> None:
    """A refused file leaves no key in Redis; an accepted one stores exactly the valid rows, in file order."""
    case = csv_case(seed)
    csv_path.write_bytes(case.data)
    loop.run(_submit_case(store, campaign_for(case, csv_path), case, csv_path))


# --- the command itself, for a few generated files ------------------------------------------------


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(0, id="cp949-row-too-long"),
        pytest.param(5, id="utf16-duplicates"),
        pytest.param(7, id="utf8-mixed-rows"),
        pytest.param(15, id="unclosed-quote"),
        pytest.param(27, id="cp949-duplicates"),
    ],
)
def test_validate_command_gives_the_oracles_split(tmp_path: Path, seed: int) -> None:
    """`orchestrate validate --json` as a subprocess: the counts or the placed problem the oracle expects."""
    case = csv_case(seed)
    (tmp_path / "r.csv").write_bytes(case.data)
    doc = campaign_for(case, Path("r.csv")).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    (tmp_path / "c.yaml").write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    proc = subprocess.run(
        [str(BIN / "orchestrate"), "validate", "--json", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = json.loads(proc.stdout)
    e = case.expected
    if e.fatal is not None:
        assert proc.returncode == 2
        [error] = out["errors"]
        assert (error["file"], error["line"]) == (str(tmp_path / "r.csv"), e.fatal_line)
        assert e.fatal in error["message"]
    else:
        assert proc.returncode == 0, out
        counts = out["summary"]["recipients"]
        assert [counts[k] for k in ("total", "valid", "invalid", "duplicates")] == [
            e.total,
            e.valid,
            e.invalid,
            e.duplicates,
        ]
