"""The real commands on hostile input files: devices, FIFOs, sockets, broken CSVs; and one count everywhere."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchestrator.ses.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Account, RunningEmulator, World
from orchestrator.ses.emulator import run_emulator as start_emulator
from tests.e2e.procs import BIN
from tests.integration.test_submit import MESSY_CSV
from tests.pipeline_helpers import write_campaign

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

#: A command facing a FIFO or /dev/zero must answer well within this (today's limit is "never").
TIMEOUT_S = 30


async def orchestrate(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """Run `orchestrate ARGS`; (exit code, stdout + stderr). Fails the test if it does not end in time."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "orchestrate"),
        *args,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"orchestrate {' '.join(args)} did not return within {TIMEOUT_S} s")
    return int(proc.returncode or 0), out.decode(errors="replace")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path (a Unix socket's path may not exceed about 100 bytes)."""
    with tempfile.TemporaryDirectory(prefix="hi", dir="/tmp") as d:
        yield Path(d)


def _hostile(kind: str, folder: Path) -> Path:
    """A path that is no regular file: /dev/zero, a FIFO, a directory or a listening socket."""
    if kind == "dev-zero":
        return Path("/dev/zero")
    path = folder / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(str(path))  # the socket file stays after the socket is closed
    return path


KINDS = {
    "dev-zero": "is a character device",
    "fifo": "is a FIFO (named pipe)",
    "directory": "is a directory",
    "socket": "is a socket",
}


@pytest.mark.parametrize("position", ["campaign", "recipients"])
@pytest.mark.parametrize("kind", list(KINDS))
async def test_validate_refuses_a_path_that_is_no_regular_file(short_dir: Path, kind: str, position: str) -> None:
    """A campaign or recipients file that is /dev/zero, a FIFO, a directory or a socket is refused at once, exit 2."""
    target = _hostile(kind, short_dir)
    if position == "campaign":
        path = target
    else:
        path = write_campaign(short_dir, 2, extra={"recipients": {"file": str(target)}})
    code, out = await orchestrate("validate", str(path))
    assert code == 2, out
    assert KINDS[kind] in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["submit"], id="submit"),
        pytest.param(["simulate", "--days", "1"], id="simulate"),
        pytest.param(["plan"], id="plan"),
        pytest.param(["check"], id="check"),
    ],
)
async def test_every_command_refuses_a_fifo_of_recipients(short_dir: Path, redis_url: str, command: list[str]) -> None:
    """submit, simulate, plan and check return at once with exit 2 when the recipients file is a FIFO."""
    path = write_campaign(short_dir, 2, extra={"recipients": {"file": str(_hostile("fifo", short_dir))}})
    code, out = await orchestrate(*command, str(path), env={"REDIS_URL": redis_url}, cwd=short_dir)
    assert code == 2, out
    assert "is a FIFO (named pipe), not a regular file" in out
    assert "Traceback" not in out


UNCLOSED = (
    "email,first_name\na@example.org,A\nb@example.org,B\nc@example.org,C\n"
    + 'd@example.org,"D\n'
    + ("".join(f"e{i}@example.org,E\n" for i in range(20)))
)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["validate"], id="validate"),
        pytest.param(["submit"], id="submit"),
        pytest.param(["simulate", "--days", "1"], id="simulate"),
        pytest.param(["plan"], id="plan"),
    ],
)
async def test_every_command_places_an_unclosed_quote(tmp_path: Path, redis_url: str, command: list[str]) -> None:
    """An unclosed quote is the same placed error, exit 2, in every command: no silent merge, no traceback."""
    path = write_campaign(tmp_path, 0, csv_text=UNCLOSED)
    code, out = await orchestrate(*command, str(path), env={"REDIS_URL": redis_url}, cwd=tmp_path)
    assert code == 2, out
    assert f"{tmp_path / 't.csv'}:5: cannot read this line: a quote opened in this row is never closed" in out
    assert "Traceback" not in out
    assert _simulation_folders(tmp_path) == []  # simulate wrote nothing


def _simulation_folders(folder: Path) -> list[Path]:
    return sorted(folder.glob("simulation-*"))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("nan", id="nan"),
        pytest.param("inf", id="inf"),
        pytest.param("0", id="zero"),
        pytest.param("1.5", id="above-one"),
        pytest.param("-0.1", id="negative"),
    ],
)
async def test_simulate_sample_refuses_values_outside_zero_one(tmp_path: Path, value: str) -> None:
    """`simulate --sample` takes a fraction in (0, 1] only: nan, inf, 0 and 1.5 are usage errors (exit 2)."""
    path = write_campaign(tmp_path, 3)
    code, out = await orchestrate("simulate", str(path), "--sample", value, "--out", str(tmp_path / "out"))
    assert code == 2, out
    assert "Invalid value for '--sample'" in out
    assert "Traceback" not in out
    assert not (tmp_path / "out").exists()


# --- one count everywhere -------------------------------------------------------------------


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    world = World(
        accounts=[Account(name="default", secret_id=DEFAULT_SECRET_ID, secret_key=DEFAULT_SECRET_KEY)],
        permissive=True,
    )
    async with start_emulator(world) as emu:
        yield emu


async def _counts(command: str, path: Path, env: dict[str, str], out: Path) -> tuple[int, int, int, int]:
    """(rows, valid, invalid, duplicates) as `command` reports them for the campaign at `path`."""
    if command == "validate":
        code, text = await orchestrate("validate", "--json", str(path), env=env)
        assert code == 0, text
        r = json.loads(text)["summary"]["recipients"]
        return r["total"], r["valid"], r["invalid"], r["duplicates"]
    if command == "submit":
        code, text = await orchestrate("submit", "--json", str(path), env=env)
        assert code == 0, text
        r = json.loads(text)
        return r["total"], r["valid"], r["invalid"], r["duplicates"]
    if command == "check":
        code, text = await orchestrate("check", "--json", str(path), env=env)
        assert code in (0, 1), text
        details = {i["name"]: i["detail"] for i in json.loads(text)["items"] if i["group"] == "recipients"}
        valid, invalid, dups = (
            int(details[k].split()[0]) for k in ("valid addresses", "invalid addresses", "duplicates")
        )
        return valid + invalid + dups, valid, invalid, dups  # check reports no row total
    code, text = await orchestrate("simulate", str(path), "--days", "1", "--out", str(out), env=env)
    assert code == 0, text
    r = json.loads((out / "summary.json").read_text(encoding="utf-8"))["recipients"]
    return r["total"], r["total"] - r["invalid"] - r["duplicates"], r["invalid"], r["duplicates"]


@pytest.mark.parametrize("command", ["validate", "check", "submit", "simulate"])
async def test_every_command_counts_a_messy_csv_alike(
    tmp_path: Path, redis_url: str, emulator: RunningEmulator, command: str
) -> None:
    """validate, check, submit and simulate count one messy export alike: 12 rows, 4 valid, 5 invalid, 3 duplicates."""
    path = write_campaign(tmp_path, 0, csv_text=MESSY_CSV)
    env = {
        "REDIS_URL": redis_url,
        "SES_ENDPOINT": emulator.url,
        "TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID,
        "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY,
        "LOG_FORMAT": "json",
    }
    if command == "submit":
        await asyncio.to_thread(_flush, redis_url)
    assert await _counts(command, path, env, tmp_path / "out") == (12, 4, 5, 3)  # KIM@ is kim@: a duplicate


def _flush(redis_url: str) -> None:
    import redis as redis_sync

    with redis_sync.Redis.from_url(redis_url) as r:
        r.flushdb()
