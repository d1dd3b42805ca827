"""A malformed setting or a Redis refusing the password: one line naming it, no value, no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.embedded import EmbeddedRedis
from tests.conftest import ROOT
from tests.e2e.locked_redis import RIGHT_PASSWORD, WRONG_PASSWORD, locked_redis, url_with
from tests.e2e.procs import BIN, free_port
from tests.pipeline_helpers import write_campaign

pytestmark = pytest.mark.slow

__all__ = ["locked_redis"]  # the fixture, used by name below

SECRET = "TOPSECRET-k3y-Value"

BAD = {
    "accounts-key-typo": (
        "ORCHESTRATE_ACCOUNTS",
        f'{{"mk": {{"secret_id": "AKID{SECRET}", "secret_kye": "{SECRET}"}}}}',
    ),
    "accounts-list": ("ORCHESTRATE_ACCOUNTS", f'[{{"secret_id": "AKID{SECRET}", "secret_key": "{SECRET}"}}]'),
    "accounts-flat-map": ("ORCHESTRATE_ACCOUNTS", f'{{"AKID{SECRET}": "{SECRET}"}}'),
    "accounts-not-json": ("ORCHESTRATE_ACCOUNTS", f"secret_id=AKID{SECRET},secret_key={SECRET}"),
    "log-format": ("LOG_FORMAT", SECRET),
    "ses-timeout-text": ("SES_TIMEOUT_S", SECRET),
    "ses-timeout-negative": ("SES_TIMEOUT_S", "-5"),
    "worker-concurrency": ("WORKER_CONCURRENCY", "1.5"),
    "log-level": ("LOG_LEVEL", SECRET),
    "web-token-too-short": ("WEB_ACCESS_TOKEN", SECRET[:15]),
    # A password holding / ? or # misleads a URL parser into taking part of it for the port.
    "redis-url-slash-in-password": ("REDIS_URL", f"redis://:{SECRET}/PW@127.0.0.1:1/15"),
    "redis-url-hash-in-password": ("REDIS_URL", f"redis://:TOP#{SECRET}@127.0.0.1:1/15"),
    "redis-url-question-mark-in-password": ("REDIS_URL", f"redis://:TOP?{SECRET}@127.0.0.1:1/15"),
    "redis-url-scheme": ("REDIS_URL", f"foo://{SECRET}"),
    "redis-url-ipv6-unclosed": ("REDIS_URL", f"redis://:{SECRET}@[::1"),
    "redis-url-port-out-of-range": ("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:99999/0"),
    "redis-url-port-zero": ("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:0/0"),
    "redis-url-db-not-a-number": ("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:1/abc"),
    "redis-url-db-query": ("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:1?db=-1"),
    "redis-url-no-host": ("REDIS_URL", f"redis://:{SECRET}@:1/0"),
}

#: Malformed REDIS_URLs, each with the reason the error line gives.
BAD_REDIS_URLS = {
    "slash-in-password": (f"redis://:{SECRET}/PW@127.0.0.1:1/15", "percent-encode"),
    "scheme": (f"foo://{SECRET}", "the scheme must be"),
    "port": (f"redis://:{SECRET}@127.0.0.1:99999/0", "the port must be a whole number from 1 to 65535"),
    "db": (f"redis://:{SECRET}@127.0.0.1:1/abc", "the database must be a whole number"),
    "unknown-option": (f"redis://:{SECRET}@127.0.0.1:1/0?foo={SECRET}", "the option foo after ? is not one redis-py"),
    "unusable-option-value": (
        f"redis://:{SECRET}@127.0.0.1:1/0?protocol=9",
        "an option after ? has a value redis-py cannot use",
    ),
    "tls-option-without-tls": (
        f"redis://:{SECRET}@127.0.0.1:1/0?ssl_cert_reqs=none",
        "the option ssl_cert_reqs after ? is not one redis-py takes here; the ssl_ ones need rediss://",
    ),
}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    dropped = ("TENCENTCLOUD_", "SES_", "REDIS_URL", "ORCHESTRATE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        {
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # never reached: the settings fail first
            "ORCHESTRATE_STATE_DIR": str(tmp_path / "state"),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    env.update(extra)
    return env


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "orchestrate"), *args], env=env, capture_output=True, text=True, timeout=30, cwd=cwd, check=False
    )


def _assert_one_line(done: subprocess.CompletedProcess[str], names: str, secret: str) -> str:
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert secret not in out
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert names in lines[0]
    return lines[0]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_setting_is_one_line_naming_it(tmp_path: Path, case: str) -> None:
    """Each malformed setting stops `status` with exit 2 and one line naming the setting, never its value."""
    name, value = BAD[case]
    done = _run(_env(tmp_path, **{name: value}), tmp_path, "status")
    assert done.returncode == 2
    line = _assert_one_line(done, f"setting {name}: expected ", SECRET)
    assert "AKID" not in line
    if name == "WEB_ACCESS_TOKEN":
        assert "expected text of at least 16 characters" in line
        assert SECRET[:15] not in line


@pytest.mark.parametrize("named", [False, True], ids=["dot-env", "ORCHESTRATE_ENV_FILE"])
def test_a_settings_file_that_is_not_utf8_is_one_line(tmp_path: Path, named: bool) -> None:
    """A credentials file saved in Latin-1 (`café`): one line naming the file and the byte, exit 2, no
    traceback and nothing of its content (it holds the key pair)."""
    path = tmp_path / ("creds.env" if named else ".env")
    path.write_bytes(f"TENCENTCLOUD_SECRET_KEY={SECRET}\nLOG_LEVEL=caf\xe9\n".encode("latin-1"))
    extra = {"ORCHESTRATE_ENV_FILE": str(path)} if named else {}
    done = _run(_env(tmp_path, **extra), tmp_path, "status")
    assert done.returncode == 2
    line = _assert_one_line(done, "is not UTF-8 text (byte", SECRET)
    assert path.name in line


def test_a_callback_token_that_cannot_sit_in_a_url_path_is_refused(tmp_path: Path) -> None:
    """A callback token with `/` (base64 often has one) would never match the callback route Tencent posts
    to: refused at start with one line naming the setting and what it may not hold, never the value."""
    done = _run(_env(tmp_path, CALLBACK_TOKEN=f"{SECRET}/ab+cd="), tmp_path, "status")
    assert done.returncode == 2
    line = _assert_one_line(done, "setting CALLBACK_TOKEN: it is a segment of the callback URL: no /", SECRET)
    assert "/ab+cd=" not in line
    fine = _env(tmp_path, CALLBACK_TOKEN=f"{SECRET}+ab=cd=", WEB_ACCESS_TOKEN=f"{SECRET}/a+b=")
    ok = _run(fine, tmp_path, "status")  # gets past the settings, then finds no Redis
    assert "setting" not in ok.stderr, ok.stderr  # base64's + and = fit a path; the access token takes any


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["status"], id="status"),
        pytest.param(["submit", "CAMPAIGN"], id="submit"),
        pytest.param(["check", "CAMPAIGN"], id="check"),
        pytest.param(["validate", "CAMPAIGN"], id="validate"),
        pytest.param(["logs", "x"], id="logs"),
        pytest.param(["pacer"], id="pacer"),
        pytest.param(["worker"], id="worker"),
        pytest.param(["up"], id="up"),
    ],
)
def test_bad_accounts_setting_stops_every_command(tmp_path: Path, argv: list[str]) -> None:
    """A typo in ORCHESTRATE_ACCOUNTS stops every command the same way: exit 2, one line, no key shown."""
    path = write_campaign(tmp_path, 3, identities=1)
    args = [str(path) if a == "CAMPAIGN" else a for a in argv]
    name, value = BAD["accounts-key-typo"]
    done = _run(_env(tmp_path, **{name: value}), tmp_path, *args)
    assert done.returncode == 2
    line = _assert_one_line(done, "setting ORCHESTRATE_ACCOUNTS: expected a JSON object", SECRET)
    assert "secret_key is missing" in line
    assert not (tmp_path / "state" / "redis.url").exists()


@pytest.mark.parametrize("argv", [["status"], ["pacer"], ["submit", "CAMPAIGN"], ["worker"], ["up"], ["arq"]])
@pytest.mark.parametrize("case", list(BAD_REDIS_URLS))
def test_malformed_redis_url_stops_every_command(tmp_path: Path, case: str, argv: list[str]) -> None:
    """A malformed REDIS_URL stops every command (and arq's worker) with exit 2 and one line, the password unseen."""
    url, reason = BAD_REDIS_URLS[case]
    path = write_campaign(tmp_path, 3, identities=1)
    args = [str(path) if a == "CAMPAIGN" else a for a in argv]
    env = _env(tmp_path, REDIS_URL=url)
    if args == ["arq"]:
        done = subprocess.run(
            [str(BIN / "arq"), "workers.WorkerSettings"],
            env={**env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
            check=False,
        )
    else:
        done = _run(env, tmp_path, *args)
    assert done.returncode == 2
    line = _assert_one_line(done, "setting REDIS_URL: expected redis://", SECRET)
    assert reason in line


@pytest.mark.parametrize("level", ["debug", "Info", "WARNING", "error", "critical"])
def test_log_level_takes_the_standard_names_in_any_case(tmp_path: Path, level: str) -> None:
    """LOG_LEVEL accepts each standard level name in any case: `status` gets past the settings to Redis."""
    done = _run(_env(tmp_path, LOG_LEVEL=level), tmp_path, "status")
    assert "setting LOG_LEVEL" not in done.stderr
    assert "nothing listens at" in done.stderr


def test_bad_settings_in_the_env_file_are_reported_too(tmp_path: Path) -> None:
    """A malformed value in .env is reported like one from the environment, and two bad ones share the line."""
    (tmp_path / ".env").write_text(f"LOG_FORMAT={SECRET}\nPACER_INTERVAL_S=0\n", encoding="utf-8")
    done = _run(_env(tmp_path), tmp_path, "status")
    assert done.returncode == 2
    line = _assert_one_line(done, "setting LOG_FORMAT: expected one of auto, console, json", SECRET)
    assert "setting PACER_INTERVAL_S: expected a number above 0" in line


@pytest.mark.parametrize("command", ["pacer", "worker", "status"])
def test_wrong_redis_password_is_one_line_without_the_password(
    tmp_path: Path, locked_redis: EmbeddedRedis, command: str
) -> None:
    """`pacer`, `worker` and `status` against a Redis refusing the password: one masked line, exit 1, at once."""
    env = _env(tmp_path, REDIS_URL=url_with(locked_redis, WRONG_PASSWORD))
    done = _run(env, tmp_path, command)
    assert done.returncode == 1
    line = _assert_one_line(done, f"Redis at redis://***@127.0.0.1:{locked_redis.port}/0 refused", WRONG_PASSWORD)
    assert RIGHT_PASSWORD not in line


def test_redis_wanting_a_password_says_so(tmp_path: Path, locked_redis: EmbeddedRedis) -> None:
    """With no password in REDIS_URL the pacer says the Redis needs one (one line, exit 1)."""
    done = _run(_env(tmp_path, REDIS_URL=locked_redis.url), tmp_path, "pacer")
    assert done.returncode == 1
    _assert_one_line(done, "needs a password", RIGHT_PASSWORD)
