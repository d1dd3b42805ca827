"""The real commands on hostile arguments and files: one line, a non-zero exit, no traceback, no secret."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import BIN, free_port
from tests.pipeline_helpers import write_campaign

pytestmark = pytest.mark.slow

#: A command facing a FIFO or /dev/zero must answer well within this.
TIMEOUT_S = 30
SECRET_ID = "AKIDhostileSecretId"
SECRET_KEY = "hostile-Secret-KEY-value"
REDIS_PASSWORD = "hostile-redis-PW"
HUGE = "9" * 5000


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    dropped = ("TENCENTCLOUD_", "SES_", "REDIS_URL", "ORCHESTRATE_", "LOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        {
            "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0",  # nothing listens there
            "TENCENTCLOUD_SECRET_ID": SECRET_ID,
            "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
            "ORCHESTRATE_STATE_DIR": str(tmp_path / "state"),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str | bytes, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `orchestrate ARGS` in `tmp_path`; (exit code, stdout + stderr)."""
    done = subprocess.run(
        [str(BIN / "orchestrate"), *args],
        env=env or _env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def _assert_clean(out: str) -> None:
    assert "Traceback" not in out
    for secret in (SECRET_ID, SECRET_KEY, REDIS_PASSWORD):
        assert secret not in out


def _assert_one_error_line(code: int, out: str, expected: str) -> None:
    _assert_clean(out)
    assert code != 0
    assert len(out.strip().splitlines()) == 1, out
    assert out.startswith("error: "), out
    assert expected in out


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- the emulator -----------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_emulator_refuses_a_port_out_of_range(tmp_path: Path, port: str) -> None:
    """`emulator --port` outside 0-65535 is a usage error (exit 2) naming the option."""
    code, out = _run(tmp_path, "emulator", "--port", port)
    assert code == 2
    _assert_clean(out)
    assert "Invalid value for '--port'" in out


def test_emulator_on_a_taken_port_is_one_line(tmp_path: Path, taken_port: int) -> None:
    """`emulator` on a port in use says so in one line and exits 1."""
    code, out = _run(tmp_path, "emulator", "--port", str(taken_port))
    assert code == 1
    _assert_one_error_line(code, out, f"cannot serve the emulator on 127.0.0.1:{taken_port}")


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"])
def test_emulator_on_a_bad_host_is_one_line(tmp_path: Path, host: str) -> None:
    """`emulator --host` naming no address of this machine is one line and exit 1."""
    code, out = _run(tmp_path, "emulator", "--port", str(free_port()), "--host", host)
    assert code == 1
    _assert_one_error_line(code, out, f"cannot serve the emulator on {host}")


NOT_REGULAR = {"dev-zero": "a character device", "fifo": "a FIFO (named pipe)", "directory": "a directory"}


@pytest.mark.parametrize("kind", list(NOT_REGULAR))
def test_emulator_refuses_a_world_that_is_no_regular_file(tmp_path: Path, kind: str) -> None:
    """`emulator --world` on /dev/zero, a FIFO or a folder answers at once, in one line, exit 2."""
    if kind == "dev-zero":
        world = Path("/dev/zero")
    else:
        world = tmp_path / kind
        if kind == "fifo":
            os.mkfifo(world)
        else:
            world.mkdir()
    code, out = _run(tmp_path, "emulator", "--port", str(free_port()), "--world", str(world))
    assert code == 2
    _assert_clean(out)
    assert out.strip() == f"{world}: is {NOT_REGULAR[kind]}, not a world file"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("world.yaml", f"accounts: {HUGE}\n", id="yaml-decimal"),
        pytest.param("world.yaml", f"accounts: 0x{HUGE}\n", id="yaml-hex"),
        pytest.param("world.json", f'{{"accounts": {HUGE}}}', id="json"),
    ],
)
def test_emulator_refuses_a_huge_integer_in_the_world(tmp_path: Path, name: str, text: str) -> None:
    """A 5,000-digit integer in the world file is one placed line, never the number itself."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    code, out = _run(tmp_path, "emulator", "--port", str(free_port()), "--world", name)
    assert code == 2
    _assert_clean(out)
    assert "an integer longer than 100 characters" in out
    assert "9" * 200 not in out
    assert len(out.splitlines()) == 1


def test_up_with_the_emulator_port_taken_is_one_line(tmp_path: Path, redis_url: str, taken_port: int) -> None:
    """`up` whose emulator port is taken (a running `orchestrate emulator`) says so in one line and exits 1."""
    env = _env(tmp_path, REDIS_URL=redis_url, LOG_LEVEL="WARNING")
    code, out = _run(tmp_path, "up", "--emulator", "--emulator-port", str(taken_port), env=env)
    assert code == 1
    _assert_one_error_line(code, out, f"cannot start the local SES emulator on port {taken_port}")


@pytest.mark.parametrize("option", ["--call-log", "--send-log"])
def test_emulator_refuses_a_log_it_cannot_write_at_start(tmp_path: Path, option: str) -> None:
    """A log in a folder that does not exist is refused before the emulator listens (every call failed with 500)."""
    log = tmp_path / "nonexist" / "dir" / "calls.log"
    code, out = _run(tmp_path, "emulator", "--port", str(free_port()), option, str(log))
    assert code == 2
    _assert_one_error_line(code, out, f"{option} {log}: cannot append to it (No such file or directory)")
    assert "listening" not in out


def test_emulator_world_errors_escape_terminal_codes_and_say_unknown_key(tmp_path: Path) -> None:
    """A world file's key holding terminal escapes is shown escaped, and an unknown key is called one."""
    (tmp_path / "w.yaml").write_bytes(b'accounts: []\n"\\e]0;PWNED\\a\\e[2J": 1\n')
    code, out = _run(tmp_path, "emulator", "--port", str(free_port()), "--world", "w.yaml")
    assert code == 2
    _assert_clean(out)
    assert "\x1b" not in out
    assert "\x07" not in out
    assert len(out.splitlines()) == 1, out
    assert out.startswith("w.yaml:2: \\x1b]0;PWNED\\x07\\x1b[2J: unknown key '\\x1b]0;PWNED\\x07\\x1b[2J'")
    assert "(allowed here: accounts, identities, templates," in out
    assert "Unexpected keyword argument" not in out


# --- up's state folder ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        pytest.param("/proc/nope", "No such file or directory", id="no-such-parent"),
        pytest.param("a-file", "it is a file, not a folder", id="a-regular-file"),
    ],
)
def test_up_with_a_state_dir_it_cannot_make_is_one_line(tmp_path: Path, where: str, reason: str) -> None:
    """ORCHESTRATE_STATE_DIR naming no folder `up` can make: one line naming the setting, exit 2, nothing started."""
    (tmp_path / "a-file").write_text("keep me\n", encoding="utf-8")
    state = where if where.startswith("/") else str(tmp_path / where)
    env = _env(tmp_path, ORCHESTRATE_STATE_DIR=state, LOG_LEVEL="WARNING")
    code, out = _run(tmp_path, "up", "--no-emulator", "--web-port", "0", env=env)
    assert code == 2
    _assert_one_error_line(code, out, f"ORCHESTRATE_STATE_DIR: cannot use {state} as up's state folder ({reason})")
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "keep me\n"


def _broken_state(tmp_path: Path, name: str, content: bytes | None) -> Path:
    """`name` in the state folder as a broken `up` record: a folder in its place (None), or these bytes."""
    path = tmp_path / "state" / name
    if content is None:
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    return path


def _without_redis_url(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment with REDIS_URL unset, so the URL `up` recorded is the one used."""
    env = _env(tmp_path, **extra)
    del env["REDIS_URL"]
    return env


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(None, "is a directory, not a file `orchestrate up` writes", id="a-folder"),
        pytest.param(b"redis://127.0.0.1:6392/0\xff\n", "not UTF-8 text (byte 25)", id="not-utf8"),
        pytest.param(b"redis://127.0.0.1:6392/0?foo=bar\n", "the option foo after ? is not one", id="unknown-option"),
        pytest.param(
            f"redis://:{REDIS_PASSWORD}@127.0.0.1:6392/x\n".encode(), "the database must be a whole", id="bad-db"
        ),
    ],
)
def test_a_broken_recorded_redis_url_stops_a_command_that_needs_redis(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    """The redis.url `up` records, unreadable or no usable URL: one line naming the file, exit 2, no URL quoted."""
    path = _broken_state(tmp_path, "redis.url", content)
    code, out = _run(tmp_path, "status", env=_without_redis_url(tmp_path))
    assert code == 2
    _assert_one_error_line(code, out, f"error: {path}: ")
    assert problem in out
    assert "6392" not in out
    code, out = _run(tmp_path, "status", "--help", env=_without_redis_url(tmp_path))
    assert code == 0, out  # help reaches nothing: the broken record does not hide it
    assert "Usage:" in out


def test_a_broken_recorded_emulator_url_stops_a_command_that_needs_it(tmp_path: Path) -> None:
    """The emulator.url `up` records, a folder in its place: one line naming it, exit 2."""
    path = _broken_state(tmp_path, "emulator.url", None)
    env = {k: v for k, v in _env(tmp_path).items() if not k.startswith("TENCENTCLOUD_")}
    code, out = _run(tmp_path, "status", env=env)
    assert code == 2
    _assert_one_error_line(code, out, f"error: {path}: is a directory")


@pytest.mark.parametrize(
    "content", [None, b"\xff\n", b"redis://127.0.0.1:6392/0?foo=bar\n"], ids=["a-folder", "not-utf8", "unknown-option"]
)
def test_a_broken_recorded_redis_url_is_a_warning_for_validate(tmp_path: Path, content: bytes | None) -> None:
    """`validate` never reaches a Redis: a broken record of `up` is named in a warning, and the file is checked."""
    path = _broken_state(tmp_path, "redis.url", content)
    campaign = write_campaign(tmp_path, 3, identities=1)
    code, out = _run(tmp_path, "validate", campaign.name, env=_without_redis_url(tmp_path))
    assert code == 0, out
    _assert_clean(out)
    warnings = [line for line in out.splitlines() if line.startswith(f"warning: {path}: ")]
    assert len(warnings) == 1, out
    assert warnings[0].endswith("(ignored: `validate` does not use what `up` started)")


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([b"pause", b"x", b"--reason", b"\xff"], id="pause-reason"),
        pytest.param([b"status", b"x\xff"], id="status"),
        pytest.param([b"submit", b"ex\xff.yaml"], id="submit"),
        pytest.param([b"validate", b"ex\xff.yaml"], id="validate"),
    ],
)
def test_an_argument_that_is_not_utf8_is_one_line(tmp_path: Path, argv: list[bytes]) -> None:
    """A byte that is not UTF-8 in an argument stops any command with exit 2 and one line."""
    code, out = _run(tmp_path, *argv)
    assert code == 2
    _assert_one_error_line(code, out, "is not valid UTF-8 text")


def test_simulate_refuses_an_out_that_is_a_file(tmp_path: Path) -> None:
    """`simulate --out` naming an existing regular file is a usage error; the file is left alone."""
    path = write_campaign(tmp_path, 3, identities=1)
    (tmp_path / "taken").write_text("keep me\n", encoding="utf-8")
    code, out = _run(tmp_path, "simulate", str(path), "--days", "1", "--out", "taken")
    assert code == 2
    _assert_clean(out)
    assert "is a file" in out
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "keep me\n"


def test_simulate_refuses_an_out_below_a_file(tmp_path: Path) -> None:
    """`simulate --out` whose parent is a regular file is one line and exit 2."""
    path = write_campaign(tmp_path, 3, identities=1)
    (tmp_path / "taken").write_text("keep me\n", encoding="utf-8")
    code, out = _run(tmp_path, "simulate", str(path), "--days", "1", "--out", "taken/out")
    assert code == 2
    _assert_one_error_line(code, out, "cannot make the output folder taken/out")


# --- campaign files -------------------------------------------------------------------------------

COMMANDS = [["validate"], ["plan"], ["check"], ["submit"], ["simulate", "--days", "1"]]


@pytest.mark.parametrize("number", [HUGE, f"0x{HUGE}", f"-{HUGE}"], ids=["decimal", "hex", "negative"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_huge_integer_in_a_campaign_is_one_placed_line(tmp_path: Path, command: list[str], number: str) -> None:
    """A 5,000-digit integer in a campaign file is refused with its line, never rendered, by every command."""
    path = write_campaign(tmp_path, 3, identities=1)
    text = path.read_text(encoding="utf-8").replace("max_attempts: 8", f"max_attempts: {number}")
    path.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "max_attempts" in row)
    code, out = _run(tmp_path, command[0], path.name, *command[1:])
    assert code == 2
    _assert_clean(out)
    assert f"{path.name}:{line}: refused: an integer longer than 100 characters" in out
    assert "9" * 200 not in out


def _env_file(tmp_path: Path) -> Path:
    env_file = tmp_path / ".env"
    env_file.write_text(f"TENCENTCLOUD_SECRET_ID={SECRET_ID}\nTENCENTCLOUD_SECRET_KEY={SECRET_KEY}\n", encoding="utf-8")
    return env_file


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_env_file_given_as_the_campaign_is_not_echoed(tmp_path: Path, command: list[str]) -> None:
    """`COMMAND .env` says the file is no campaign without printing the keys it holds."""
    _env_file(tmp_path)
    code, out = _run(tmp_path, command[0], ".env", *command[1:])
    assert code == 2
    _assert_clean(out)
    assert "TENCENTCLOUD_SECRET_ID=***" in out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_env_file_given_as_the_recipients_is_not_echoed(tmp_path: Path, command: list[str]) -> None:
    """A campaign whose recipients file is .env: the missing columns are named, the header's secrets are not."""
    path = write_campaign(tmp_path, 3, identities=1)
    path.write_text(path.read_text(encoding="utf-8").replace("file: t.csv", "file: .env"), encoding="utf-8")
    _env_file(tmp_path)
    code, out = _run(tmp_path, command[0], path.name, *command[1:])
    assert code == 2
    _assert_clean(out)
    assert "no column 'email' in the header of .env" in out


@pytest.mark.parametrize("secret", [SECRET_KEY, REDIS_PASSWORD])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_configured_secret_in_a_campaign_is_never_printed(tmp_path: Path, command: list[str], secret: str) -> None:
    """An error quoting a campaign value that happens to be a configured secret shows *** instead."""
    path = write_campaign(tmp_path, 3, identities=1)
    path.write_text(path.read_text(encoding="utf-8").replace("file: t.csv", f"file: {secret}.csv"), encoding="utf-8")
    code, out = _run(tmp_path, command[0], path.name, *command[1:])
    assert code == 2
    _assert_clean(out)
    assert "***.csv" in out


@pytest.mark.parametrize("before", ["", "x" * 40 + " "], ids=["cut-in-the-second-copy", "cut-in-the-first"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_secret_cut_short_by_a_message_shows_no_part_of_itself(
    tmp_path: Path, command: list[str], before: str
) -> None:
    """An error message cut at 60 characters inside a configured secret: its start is not printed either."""
    path = write_campaign(tmp_path, 3, identities=1)
    text = re.sub(r"(?m)^timezone: .*$", "", path.read_text(encoding="utf-8"))
    path.write_text(f'{text}timezone: "{before}{SECRET_KEY * 3}"\n', encoding="utf-8")
    code, out = _run(tmp_path, command[0], path.name, *command[1:])
    assert code == 2
    _assert_clean(out)
    assert "unknown time zone" in out
    assert SECRET_KEY[:4] not in out  # not even the first characters of the key before the cut
    assert "***..." in out
