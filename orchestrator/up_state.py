"""How other commands find what `orchestrate up` started (it keeps its state in `state_folder.state_dir`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from orchestrator.core.credentials import DEFAULT_ACCOUNT, AccountCredentials
from orchestrator.input_files import describe_os_error, open_regular
from orchestrator.redis_url import REDIS_URL_FORM, redis_url_problem
from orchestrator.settings import Settings
from orchestrator.state_folder import state_dir

#: A recorded URL is one short line; a larger file is no file `up` wrote.
MAX_RECORDED_BYTES = 4096


class StateFileError(Exception):
    """A file `up` records that cannot be used: one line naming the file and the problem, never its text."""


def _read_recorded(path: Path) -> str | None:
    """The stripped text of a file `up` records, None when there is none; StateFileError when it cannot be read."""
    try:
        with open_regular(path) as f:
            raw = f.read(MAX_RECORDED_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):  # no `up` recorded anything there
        return None
    except OSError as exc:  # a folder or a FIFO in its place, no permission
        raise StateFileError(f"{path}: {describe_os_error(exc, 'a file `orchestrate up` writes')}") from None
    if len(raw) > MAX_RECORDED_BYTES:
        raise StateFileError(f"{path}: larger than {MAX_RECORDED_BYTES} bytes; `orchestrate up` writes one URL")
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise StateFileError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None


def recorded_redis_url(settings: Settings) -> str | None:
    """The URL a running `up` recorded for its embedded Redis, if any; checked as REDIS_URL is (never quoted:
    a URL may hold a password)."""
    path = state_dir(settings) / "redis.url"
    url = _read_recorded(path)
    problem = redis_url_problem(url) if url else None
    if problem is not None:
        raise StateFileError(f"{path}: expected {REDIS_URL_FORM} ({problem})")
    return url


def recorded_emulator_url(settings: Settings) -> str | None:
    """The URL a running `up` recorded for its local emulator, if any (http://HOST:PORT)."""
    path = state_dir(settings) / "emulator.url"
    url = _read_recorded(path)
    if url:
        try:
            parts = urlsplit(url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
            usable = usable and parts.port is not None
        except ValueError:  # a port that is no number, an unclosed [
            usable = False
        if not usable:
            raise StateFileError(f"{path}: expected http://HOST:PORT, the local emulator's address")
    return url


def with_recorded_state(settings: Settings, env: Mapping[str, str]) -> Settings:
    """Settings that reach what a running `orchestrate up` started, where the environment is silent.

    Its embedded Redis when REDIS_URL is unset; its local emulator (and the emulator's key pair)
    when no SES endpoint and no Tencent credentials are configured. StateFileError when a file it
    would use cannot be read or holds no usable URL.
    """
    update: dict[str, object] = {}
    if "REDIS_URL" not in env:
        recorded = recorded_redis_url(settings)
        if recorded:
            update["redis_url"] = recorded
    if sends_nowhere(settings) and (endpoint := recorded_emulator_url(settings)):
        return to_emulator(settings, endpoint, **update)
    return settings.model_copy(update=update) if update else settings


def sends_nowhere(settings: Settings) -> bool:
    """No SES endpoint and no Tencent key pair at all (the default account's or a named one's)."""
    return not settings.ses_endpoint and settings.credentials() is None and not settings.accounts


def to_emulator(settings: Settings, endpoint: str, **update: object) -> Settings:
    """`settings` sending to the local emulator at `endpoint`, with the pair it knows each account by
    (`emulator_pair`): a named account's is the emulator's own, never its configured key; the default
    account's is the environment's pair when set (as the emulator's permissive default takes it)."""
    from orchestrator.ses.emulator import emulator_pair

    def pair(name: str) -> AccountCredentials:
        secret_id, secret_key = emulator_pair(name)
        return AccountCredentials(secret_id=SecretStr(secret_id), secret_key=SecretStr(secret_key))

    default = pair(DEFAULT_ACCOUNT)
    update |= {
        "ses_endpoint": endpoint,
        "tencentcloud_secret_id": default.secret_id,
        "tencentcloud_secret_key": default.secret_key,
        "accounts": {name: pair(name) for name in settings.accounts if name != DEFAULT_ACCOUNT},
    }
    return settings.model_copy(update=update)
