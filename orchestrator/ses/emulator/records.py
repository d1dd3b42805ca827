"""What the emulator's logs keep: accepted sends, Tencent's status rows, and API calls."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any


class LogFileError(Exception):
    """A send or call log file the emulator cannot append to; `log` says which ("send" or "call")."""

    def __init__(self, log: str, path: Path, reason: str) -> None:
        super().__init__(f"{path}: cannot append to it ({reason})")
        self.log, self.path, self.reason = log, path, reason


def log_file(path: str | Path | None, log: str) -> Path | None:
    """`path` as a log file the emulator can append to (made now, empty, if missing); None for no file.

    Checked at start: the file is opened anew for each record, and one that cannot be would fail every API
    call (HTTP 500) instead of the start.
    """
    if not path:
        return None
    p = Path(path)
    try:
        with p.open("a", encoding="utf-8"):
            pass
    except OSError as exc:  # no such folder, a folder in its place, no permission
        raise LogFileError(log, p, exc.strerror or type(exc).__name__) from None
    return p


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One accepted send, as the send log keeps it."""

    time: float
    account: str
    from_address: str
    to_address: str
    message_id: str
    template_id: int
    template_data: dict[str, Any]
    subject: str
    request_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One API call as the call log keeps it: `time` is its arrival on the emulator's clock.

    `account` is None when the caller was not identified (bad signature, unknown SecretId);
    `error` is the answer's error code (an injected fault's code too) or None;
    `counted` says whether the call counted against the account's rolling-second rate.
    """

    time: float
    account: str | None
    action: str
    error: str | None
    counted: bool
    request_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass(slots=True)
class StatusRecord:
    """One row of GetSendEmailStatus."""

    message_id: str
    account: str
    from_address: str
    to_address: str
    send_status: int
    request_time: float
    day: date
