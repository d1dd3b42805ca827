"""Tencent's callback events, checked and normalised (spec/tencent-ses.md "Event callbacks")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from orchestrator.core.addresses import normalize_address, parse_from_address, shown
from orchestrator.core.domains import domain_group
from orchestrator.core.quality import EVENTS, metric_of

#: The most events one POST may carry.
MAX_EVENTS: Final = 1000
#: A reason longer than this is cut: it is kept for a trace, not for evidence.
REASON_CHARS: Final = 200
MAX_ID_CHARS: Final = 128
#: Events Tencent's webhook documentation also names that say nothing of a mail's fate ("processed":
#: an intermediate step, "may not be called back"): answered 200 and not counted, never refused.
IGNORED_EVENTS: Final = frozenset({"processed"})
#: `bounceType` as Tencent's Chinese webhook documentation writes it -> the spec's values.
BOUNCE_TYPES: Final = {"hard": "hard_bounce", "soft": "soft_bounce"}
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class BadEventError(ValueError):
    """A callback body that cannot be counted; str() is one line naming the place."""


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One event: the MessageId (bulkId), the metric it counts in, the recipient and the sender domain."""

    message_id: str
    event: str
    metric: str
    timestamp: int
    address: str
    from_domain: str
    bounce_type: str = ""
    reason: str = ""
    source: str = "callback"  # or "status": settled by the follow-up's GetSendEmailStatus

    @property
    def group(self) -> str:
        return domain_group(self.address.rsplit("@", 1)[-1])

    @property
    def trace_field(self) -> str:
        """Its identity for deduplication: Tencent retries the same (bulkId, event, timestamp)."""
        return f"{self.event}|{self.bounce_type}|{self.timestamp}"

    def as_json(self) -> str:
        """The stored form; `parse_event` reads it back."""
        data = {
            "bulkId": self.message_id,
            "event": self.event,
            "timestamp": self.timestamp,
            "email": self.address,
            "fromDomain": self.from_domain,
            "bounceType": self.bounce_type,
            "reason": self.reason,
            "source": self.source,
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _text(obj: dict[str, Any], name: str, where: str, *, required: bool = True, limit: int = 256) -> str:
    value = obj.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadEventError(f"{where}.{name}: a string, not {type(value).__name__}")
    if _SURROGATE.search(value):  # JSON may escape one ("\ud800"); Redis and the page need real UTF-8
        raise BadEventError(f"{where}.{name}: not valid Unicode (a lone surrogate)")
    if required and not value:
        raise BadEventError(f"{where}.{name}: missing")
    if len(value) > limit and name != "reason":
        raise BadEventError(f"{where}.{name}: longer than {limit} characters")
    return value


def _timestamp(obj: dict[str, Any], where: str) -> int:
    value = obj.get("timestamp")
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not '²', which int() refuses
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**40:
        raise BadEventError(f"{where}.timestamp: seconds since the epoch, not {shown(value)}")
    return value


def _sender_domain(obj: dict[str, Any], where: str, needed: bool) -> str:
    """The sender domain: `fromDomain` when it is a domain name, else the domain of `from` ('Alias <a@d>'
    or 'a@d'); '' when neither gives one. Only an event that `needed` it (an unsubscribe: the list it
    goes on) is refused for that, naming the field; other events are counted all the same."""
    given = _text(obj, "fromDomain", where, required=False).strip().lower()
    if given and normalize_address(f"x@{given}")[0] is not None:
        return given
    sender = _text(obj, "from", where, required=False)
    if sender:
        try:
            return parse_from_address(sender)[1].rpartition("@")[2]
        except ValueError:
            if needed and not given:
                raise BadEventError(f"{where}.from: not a sender address: {shown(sender)}") from None
    if needed and given:
        raise BadEventError(f"{where}.fromDomain: not a domain name: {shown(given)}")
    return ""


def parse_event(obj: Any, where: str = "event", *, stored: bool = False) -> CallbackEvent:
    """One event object, checked; raises BadEventError. Only a `stored` one (read back from Redis) may
    say it came from the follow-up's status lookup: a posted body is always a callback."""
    if not isinstance(obj, dict):
        raise BadEventError(f"{where}: an object, not {type(obj).__name__}")
    event = _text(obj, "event", where)
    if event not in EVENTS:
        raise BadEventError(f"{where}.event: unknown event {shown(event)}")
    bounce_type = _text(obj, "bounceType", where, required=False)
    folded = bounce_type.strip().lower()  # `HARD_BOUNCE` is `hard_bounce`, as `HARD` is `hard`
    bounce_type = BOUNCE_TYPES.get(folded, folded)
    metric = metric_of(event, bounce_type)
    if metric is None:  # unreachable: EVENTS lists exactly the events metric_of knows
        raise BadEventError(f"{where}.event: unknown event {shown(event)}")
    message_id = _text(obj, "bulkId", where, limit=MAX_ID_CHARS)
    address, why = normalize_address(_text(obj, "email", where))
    if address is None:
        raise BadEventError(f"{where}.email: {why}")
    from_domain = _sender_domain(obj, where, needed=metric == "unsubscribe")
    if metric == "unsubscribe" and not from_domain:
        raise BadEventError(f"{where}.fromDomain: an unsubscribe needs the sender domain")
    reason = " ".join(_text(obj, "reason", where, required=False).split())[:REASON_CHARS]
    source = "status" if stored and obj.get("source") == "status" else "callback"
    return CallbackEvent(
        message_id, event, metric, _timestamp(obj, where), address, from_domain, bounce_type, reason, source
    )


def parse_body(raw: bytes, max_events: int = MAX_EVENTS) -> list[CallbackEvent]:
    """A POST body: one event object or a JSON list of them; raises BadEventError."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadEventError(f"body: not JSON ({type(exc).__name__})") from None
    except RecursionError:  # '[[[[...' a few thousand deep: the decoder gives up before the size limit binds
        raise BadEventError("body: JSON nested too deep") from None
    if isinstance(data, dict):
        return [] if _ignored(data) else [parse_event(data, "body")]
    if not isinstance(data, list):
        raise BadEventError(f"body: an object or a list of objects, not {type(data).__name__}")
    if not data:
        raise BadEventError("body: an empty list")
    if len(data) > max_events:
        raise BadEventError(f"body: {len(data)} events, more than {max_events} in one request")
    return [parse_event(obj, f"body[{n}]") for n, obj in enumerate(data) if not _ignored(obj)]


def _ignored(obj: Any) -> bool:
    """An event object whose event is one of IGNORED_EVENTS."""
    return isinstance(obj, dict) and isinstance(event := obj.get("event"), str) and event in IGNORED_EVENTS
