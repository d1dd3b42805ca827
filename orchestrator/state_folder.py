"""This host's state folder, and what `submit` remembers there of each Redis it loaded a campaign into.

Redis keeps a marker (`wo:instance`, store/instance.py) that a loss of its data takes with it; a
running pacer notices the marker gone. A loss while no pacer runs leaves nothing in Redis to compare
with, so `submit` also writes the marker it saw into this host's state folder, per Redis address
(`redis-instances.json`): a later `submit` from this host that finds that Redis without the same
marker refuses, as it does after a pacer's note, since a campaign submitted again there would mail
every recipient again. The book holds no password and no address of a recipient.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from redis.connection import parse_url

from orchestrator.input_files import describe_os_error, open_regular
from orchestrator.settings import Settings

#: The book's file in the state folder, and the lock its writers take.
BOOK_NAME = "redis-instances.json"
LOCK_NAME = ".redis-instances.lock"
#: A book larger than this is no book `submit` wrote (one short entry per Redis address).
MAX_BOOK_BYTES = 1 << 20


class BookError(Exception):
    """The book cannot be read or written: one line naming the file and why (never its text)."""


def state_dir(settings: Settings) -> Path:
    """This host's state folder: ORCHESTRATE_STATE_DIR, else the XDG state folder."""
    if settings.state_dir:
        return Path(settings.state_dir)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "warmup-orchestrator"


def made_state_dir(settings: Settings) -> Path:
    """The state folder, made if missing: readable by its owner only (it holds the embedded Redis's
    append-only file and the local emulator's send log, both with recipients' addresses)."""
    folder = state_dir(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def redis_address(url: str) -> str:
    """Where `url` reaches Redis, without its user or password: HOST:PORT/DB, or unix:PATH/DB."""
    parts = parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    db = parts.get("db", 0)
    if parts.get("path"):
        return f"unix:{parts['path']}/{db}"
    host = str(parts.get("host", "localhost")).lower()
    return f"{host}:{parts.get('port', 6379)}/{db}"


@dataclass(frozen=True, slots=True)
class Remembered:
    """The marker a submit from this host saw in the Redis at an address, and when."""

    instance: str
    at: float


def _path(settings: Settings) -> Path:
    return state_dir(settings) / BOOK_NAME


def _read(path: Path) -> dict[str, object]:
    try:
        with open_regular(path) as f:
            raw = f.read(MAX_BOOK_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise BookError(f"{path}: {describe_os_error(exc, 'a file `orchestrate submit` writes')}") from None
    if len(raw) > MAX_BOOK_BYTES:
        raise BookError(f"{path}: larger than {MAX_BOOK_BYTES:,} bytes; not a file `orchestrate submit` wrote")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BookError(f"{path}: not the JSON `orchestrate submit` writes") from None
    if not isinstance(data, dict):
        raise BookError(f"{path}: not the JSON `orchestrate submit` writes")
    return data


def remembered(settings: Settings, url: str) -> Remembered | None:
    """What a submit from this host last saw in the Redis at `url`; None when it never loaded one there."""
    path = _path(settings)
    entry = _read(path).get(redis_address(url))
    if entry is None:
        return None
    try:
        if isinstance(entry, dict) and isinstance(entry.get("instance"), str):
            return Remembered(entry["instance"], float(entry.get("at", 0.0)))
    except (TypeError, ValueError):
        pass
    raise BookError(f"{path}: the entry of {redis_address(url)} is not one `orchestrate submit` writes")


def remember(settings: Settings, url: str, instance: str, at: float) -> None:
    """Note that the Redis at `url` holds marker `instance`.

    Under an exclusive lock (two submits at once keep both their entries), written whole and synced
    before it replaces the old book (a crash leaves one or the other). A book that cannot be read is
    left as it is (BookError: the other addresses' entries are in it), for the operator to look at.
    """
    path = _path(settings)
    try:
        made_state_dir(settings)
        with open(path.parent / LOCK_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            book = _read(path)
            book[redis_address(url)] = {"instance": instance, "at": at}
            _write(path, book)
    except OSError as exc:
        raise BookError(f"{path}: cannot be written ({exc.strerror or type(exc).__name__})") from None


def _write(path: Path, book: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".redis-instances-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(book, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
