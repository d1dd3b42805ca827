"""What the emulator's logs keep: accepted sends, Tencent's status rows, and API calls."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any


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
