"""Escape sequences in a CSV header, a pause reason or an event are shown escaped, never sent to the terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_sync
from rich.console import Console

from orchestrator.commands.check import print_checklist
from orchestrator.core.checklist import Item
from tests.e2e.procs import BIN, cli, cli_json, interrupt_once_shown, read_terminal
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

#: Sets the terminal's title and clears the screen when printed raw.
EVIL = "\x1b]0;pwned\x07\x1b[2J"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J"
#: Reverses the text after it on the screen.
BIDI = "\u202e"


def _assert_escaped(out: str) -> None:
    assert "\x1b" not in out
    assert "\x07" not in out
    assert BIDI not in out
    assert SHOWN in out


@pytest.fixture
def env(redis_server: RedisServer) -> dict[str, str]:
    r = redis_sync.Redis.from_url(redis_server.url)
    r.flushdb()
    r.close()
    return {**os.environ, "REDIS_URL": redis_server.url, "COLUMNS": "200", "LOG_FORMAT": "json"}


def _evil_campaign(tmp_path: Path) -> Path:
    csv_text = f"email,first_name,note{EVIL}{BIDI}\nuser1@a.example.com,N,x\nuser2@b.example.com,M,y\n"
    return write_campaign(tmp_path, 2, name="evil", identities=1, csv_text=csv_text)


def _paused_campaign(env: dict[str, str], tmp_path: Path) -> str:
    cid = str(cli_json(env, "submit", str(_evil_campaign(tmp_path)), "--json")["campaign_id"])  # type: ignore[index]
    paused = cli(env, "pause", cid, "--reason", f"{EVIL}{BIDI}")
    assert paused.returncode == 0, paused.stderr
    return cid


def _on_a_terminal(argv: list[str], env: dict[str, str], seconds: float | None = None) -> str:
    """What `argv` writes to a pseudo-terminal (commands print for people only when stdout is one)."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=sub, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(sub)
    if seconds is not None:
        time.sleep(seconds)
        proc.send_signal(signal.SIGINT)
    try:
        shown = read_terminal(main)
    finally:
        os.close(main)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    return shown.decode()


def test_validate_shows_an_escape_in_the_csv_header_escaped(tmp_path: Path) -> None:
    """`validate` lists a CSV column whose name holds escape sequences with the escapes made visible."""
    done = cli(dict(os.environ), "validate", str(_evil_campaign(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_escaped(done.stdout)
    assert "\\u202e" in done.stdout


def test_validate_json_keeps_the_header_exact(tmp_path: Path) -> None:
    """`validate --json` still gives the column's exact name (JSON escapes the controls itself)."""
    done = cli(dict(os.environ), "validate", str(_evil_campaign(tmp_path)), "--json")
    assert "\x1b" not in done.stdout
    assert json.loads(done.stdout)["summary"]["recipients"]["columns"][-1] == f"note{EVIL}{BIDI}"


def test_status_shows_a_pause_reason_escaped(env: dict[str, str], tmp_path: Path) -> None:
    """`status` prints a pause reason holding escape sequences with the escapes made visible."""
    cid = _paused_campaign(env, tmp_path)
    for argv in (["status"], ["status", cid]):
        done = cli(env, *argv)
        assert done.returncode == 0, done.stderr
        _assert_escaped(done.stdout)


def test_logs_on_a_terminal_show_an_event_escaped(env: dict[str, str], tmp_path: Path) -> None:
    """`logs` on a terminal prints the pause event's reason escaped: nothing from the data reaches the screen raw."""
    cid = _paused_campaign(env, tmp_path)
    out = _on_a_terminal([str(BIN / "orchestrate"), "logs", cid], env)
    assert "campaign_paused" in out
    _assert_escaped(out)


def test_watch_shows_an_event_escaped(env: dict[str, str], tmp_path: Path) -> None:
    """`watch` shows the pause reason in its head and its recent events escaped."""
    cid = _paused_campaign(env, tmp_path)
    done = interrupt_once_shown([str(BIN / "orchestrate"), "watch", cid], env, ["campaign_paused"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "campaign_paused" in done.stdout
    _assert_escaped(done.stdout)


def test_resume_shows_the_previous_reason_escaped(env: dict[str, str], tmp_path: Path) -> None:
    """`resume` repeats the pause reason it ends with the escapes made visible."""
    cid = _paused_campaign(env, tmp_path)
    done = cli(env, "resume", cid)
    assert done.returncode == 0, done.stderr
    _assert_escaped(done.stdout)


def test_check_list_escapes_controls_and_markup() -> None:
    """The preflight list shows a provider's text with escapes visible and `[bold]` as written, not as markup."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system=None, width=200, highlight=False)
    items = [Item(f"identity {EVIL}", "domain [bold]x[/bold]", "fail", f"detail {EVIL}{BIDI}", f"fix {EVIL}")]
    print_checklist(console, items)
    out = buf.getvalue()
    assert out.count(SHOWN) == 3
    assert "[bold]x[/bold]" in out
    assert "\x07" not in out
    assert BIDI not in out
    assert "\x1b]" not in out


def test_export_on_a_terminal_escapes_a_row_and_piped_keeps_it_exact(env: dict[str, str], tmp_path: Path) -> None:
    """`export` of a campaign whose invalid row holds escape sequences: on a terminal the row is shown
    escaped; piped, the CSV keeps the row's exact text (a file is data, not a screen)."""
    csv_text = f"email,first_name\nuser1@a.example.com,N\nbad{EVIL}{BIDI}@evil.example,M\n"
    path = write_campaign(tmp_path, 2, name="evilrow", identities=1, csv_text=csv_text)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    out = _on_a_terminal([str(BIN / "orchestrate"), "export", cid], env)
    assert "evil.example" in out
    _assert_escaped(out)
    piped = cli(env, "export", cid)
    assert piped.returncode == 0, piped.stderr
    assert f"bad{EVIL}{BIDI}@evil.example" in piped.stdout


def test_suppress_export_on_a_terminal_escapes_a_reason(env: dict[str, str]) -> None:
    """`suppress export` prints a reason holding escape sequences escaped on a terminal; its JSON, piped,
    holds no raw bidi control yet parses back to the exact reason."""
    added = cli(env, "suppress", "add", "x@y.example", "--reason", f"{EVIL}{BIDI}")
    assert added.returncode == 0, added.stderr
    out = _on_a_terminal([str(BIN / "orchestrate"), "suppress", "export"], env)
    assert "x@y.example" in out
    _assert_escaped(out)
    piped = cli(env, "suppress", "export", "--json")
    assert BIDI not in piped.stdout
    assert [e["reason"] for e in json.loads(piped.stdout)] == [f"{EVIL}{BIDI}"]


def test_json_output_carries_no_raw_bidi_control(env: dict[str, str], tmp_path: Path) -> None:
    """`logs --json` and `status --json` write a reason's bidi control as a JSON escape: the same JSON to a
    parser, nothing that reorders a terminal's text."""
    cid = _paused_campaign(env, tmp_path)
    logs = cli(env, "logs", cid, "--json")
    status = cli(env, "status", cid, "--json")
    assert BIDI not in logs.stdout + status.stdout
    assert f"{EVIL}{BIDI}" in [json.loads(line).get("reason") for line in logs.stdout.splitlines()]
    assert json.loads(status.stdout)["reason"] == f"{EVIL}{BIDI}"


def test_data_stdout_cannot_encode_ends_in_one_line_not_a_traceback(env: dict[str, str], tmp_path: Path) -> None:
    """stdout in ASCII (PYTHONIOENCODING=ascii, a C locale) and a row holding Korean (an invalid address, in the
    export too): `export` and `suppress export` ended in a UnicodeEncodeError traceback; they stop with one line
    saying what to do."""
    csv_text = "email,first_name\nuser1@a.example.com,J\n지우@a.example.com,J\n"
    path = write_campaign(tmp_path, 1, name="korean", identities=1, csv_text=csv_text)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    assert cli(env, "suppress", "add", "x@y.example", "--reason", "전화로 요청").returncode == 0
    ascii_env = {**env, "PYTHONIOENCODING": "ascii"}
    for args in (("export", cid, "--format", "jsonl"), ("export", cid), ("suppress", "export")):
        out = cli(ascii_env, *args)
        assert out.returncode == 1, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert "cannot hold this data: set PYTHONIOENCODING=utf-8" in out.stderr
