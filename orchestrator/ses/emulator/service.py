"""The emulated SES account state and its API actions (no HTTP here: see server.py)."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from orchestrator.core.addresses import normalize_address, parse_from_address
from orchestrator.core.campaign import UNSUBSCRIBE_CODES, subject_variables
from orchestrator.core.clock import Clock
from orchestrator.ses.emulator import catalog
from orchestrator.ses.emulator.params import ApiError, ParamError, date_param, loads, page_param
from orchestrator.ses.emulator.recipients import fate_of
from orchestrator.ses.emulator.records import CallRecord, SendRecord, StatusRecord, log_file
from orchestrator.ses.emulator.world import Account, World

MAX_RECIPIENTS: Final = 50
MAX_TEMPLATE_DATA_BYTES: Final = 800
STATUS_DAYS: Final = 30  # GetSendEmailStatus: "Only data within 30 days can be queried"
#: Tencent keeps an address on its blocklist this long after the bounce, then lets it be mailed again.
BLOCKLIST_KEEP_S: Final = 14 * 86400
_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^>]*>")
#: FromEmailAddress as Tencent takes it: the bare address, or "Alias <address>" with exactly one space
#: between them ("the alias and the address must be separated by one space", the SDK's own doc).
_TENCENT_FROM = re.compile(r"^(?:[^<>\s](?:[^<>]*[^<>\s])? <[^<>\s]+>|[^<>\s]+)$")

#: The sender domain of an unsubscribe from every sender (the world's `unsubscribed` list).
ANY_SENDER: Final = "*"
#: GetSendEmailStatus SendStatus for refusals Tencent files in the status log.
SEND_STATUS: Final = {
    "FailedOperation.FrequencyLimit": 1006,
    "FailedOperation.EmailAddrInBlacklist": 1007,
    "FailedOperation.ExceedSendLimit": 1010,
    "FailedOperation.ReceiverHasUnsubscribed": 1013,
    "FailedOperation.TemporaryBlocked": 3008,
}


class SesEmulator:
    """Everything an SES account remembers: sends, quotas, blocklist, events; time from `clock`."""

    def __init__(
        self,
        world: World,
        clock: Clock,
        *,
        send_log_path: str | Path | None = None,
        call_log_path: str | Path | None = None,
    ) -> None:
        self.world = world
        self.clock = clock
        self.rng = random.Random(world.seed)
        self.send_log: list[SendRecord] = []
        self.call_log: list[CallRecord] = []
        self.call_log_path = log_file(call_log_path, "call")
        self.status_log: list[StatusRecord] = []
        self.events: list[dict[str, Any]] = []
        # The status API's lookups by (account, day) and each message's events, kept beside the logs
        # (`_log_status`, `_accept`): a scan of the whole logs per lookup grew with every send.
        self._status_by_day: dict[tuple[str, date], list[StatusRecord]] = defaultdict(list)
        self._events_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.send_log_path = log_file(send_log_path, "send")
        start = clock.now()
        self.blocked: dict[str, float] = {a.lower(): start for a in world.blocklist}  # address -> since
        # (address, sender domain) -> since: Tencent stops only the domain the recipient unsubscribed from;
        # the world's `unsubscribed` list stands for every sender domain (ANY_SENDER).
        self.unsubscribed: dict[tuple[str, str], float] = {(a.lower(), ANY_SENDER): start for a in world.unsubscribed}
        self._calls: dict[str, deque[float]] = defaultdict(deque)  # account -> admitted call times
        self._per_address: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._daily: dict[tuple[str, date], int] = defaultdict(int)  # (sender domain, day) -> sends
        self.actions: dict[str, Callable[[Account, dict[str, Any]], dict[str, Any]]] = {
            "SendEmail": self.send_email,
            "GetSendEmailStatus": self.get_send_email_status,
            "ListEmailIdentities": self.list_email_identities,
            "GetEmailIdentity": self.get_email_identity,
            "GetEmailTemplate": self.get_email_template,
            "ListEmailTemplates": self.list_email_templates,
            "ListBlackEmailAddress": self.list_black_email_address,
            "DeleteBlackList": self.delete_black_list,
        }

    # --- time ---

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.world.timezone)

    def day_of(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, tz=self.zone).date()

    def draw(self, *key: object) -> random.Random:
        """A generator of its own for the draw `key` names (a mail's fate: sender, recipient, time), from
        the world's seed: the same sends get the same fates and faults whatever order concurrent
        requests arrive in."""
        return random.Random("|".join(str(k) for k in (self.world.seed, *key)))

    def admit(self, account: str, now: float | None = None) -> None:
        """The account-wide API rate limit: at most `account_rate_per_s` calls in any rolling second.

        Every action counts; a refused call does not. `now` (the call's arrival) defaults to the clock.
        """
        rate = self.world.account_rate_per_s
        if rate is None:
            return
        now = self.clock.now() if now is None else now
        calls = self._calls[account]
        while calls and calls[0] <= now - 1.0:
            calls.popleft()
        if len(calls) >= rate:
            shown = f"{rate:g}"
            raise ApiError("RequestLimitExceeded", f"Your current request times equals to `{shown}` in a second.")
        calls.append(now)

    def record_call(self, record: CallRecord) -> None:
        """Keep one API call in the call log (and append it to the call-log file if there is one)."""
        self.call_log.append(record)
        if self.call_log_path is not None:
            with self.call_log_path.open("a", encoding="utf-8") as fh:
                fh.write(record.to_json() + "\n")

    # --- SendEmail ---

    def send_email(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        """Validate like Tencent, then accept: record, count, and draw the recipients' events."""
        from_value = str(p.get("FromEmailAddress") or "")
        try:
            _alias, from_address = parse_from_address(from_value)
        except ValueError:
            raise ApiError("FailedOperation.IncorrectSender", "Incorrect sender format.") from None
        if not _TENCENT_FROM.match(from_value):
            raise ApiError("FailedOperation.IncorrectSender", "Write the sender as: alias, one space, <address>.")
        if p.get("Unsubscribe") is not None and str(p["Unsubscribe"]) not in UNSUBSCRIBE_CODES:
            raise ApiError("InvalidParameterValue", "Unsubscribe must be one of 0-12.")
        template = p.get("Template")
        if account.template_only and p.get("Simple") and not template:
            raise ApiError("FailedOperation.WithOutPermission", "Only template sending is allowed.")
        if not template and not p.get("Simple"):
            raise ApiError("FailedOperation.MissingEmailContent", "TemplateData and Simple are both empty.")
        destination = [str(d) for d in p.get("Destination") or []]
        if not destination:
            raise ApiError("InvalidParameterValue.EmailAddressIsNULL", "Destination is empty.")
        if len(destination) > MAX_RECIPIENTS:
            raise ApiError("FailedOperation.TooManyRecipients", "At most 50 recipients.")
        subject = str(p.get("Subject") or "")
        if not 1 <= len(subject) <= 100:
            raise ApiError("InvalidParameterValue.SubjectLengthError", "Subject must be 1-100 characters.")
        self._check_sender(account, from_address)
        template_id, data = self._check_template(account, template, subject)
        recipients = [self._check_recipient(account, from_address, d) for d in destination]
        return self._accept(account, from_value, from_address, recipients, template_id, data, subject)

    def _check_sender(self, account: Account, from_address: str) -> None:
        domain = from_address.rpartition("@")[2]
        ident = self.world.identity(domain, account.name)
        if ident is None:
            raise ApiError("InvalidParameterValue.NotExistDomain", f"Domain {domain} has not been created.")
        if ident.senders and from_address.lower() not in [s.lower() for s in ident.senders]:
            raise ApiError("InvalidParameterValue.NoSuchSender", "No such sender address.")
        if not ident.verified:
            raise ApiError("OperationDenied.DomainNotVerified", f"Domain {domain} is not verified.")
        if not ident.sending_enabled:
            raise ApiError("FailedOperation.NotAuthenticatedSender", "The sender is not authenticated.")

    def _check_template(self, account: Account, template: Any, subject: str) -> tuple[int, dict[str, Any]]:
        if not template:
            return 0, {}
        if not isinstance(template, dict):
            raise ApiError("InvalidParameterValue", "Template must be an object.")
        try:
            template_id = int(template["TemplateID"])  # its type was checked with the other parameters
        except (KeyError, TypeError, ValueError):
            raise ApiError("FailedOperation.InvalidTemplateID", "TemplateID is invalid.") from None
        tpl = self.world.template(template_id, account.name)
        if tpl is None:
            raise ApiError("InvalidParameterValue.TemplateNotExist", f"Template {template_id} does not exist.")
        if tpl.status != 0:
            raise ApiError("OperationDenied.TemplateStatusError", "The template is not approved.")
        raw = str(template.get("TemplateData") or "{}")
        try:
            data = loads(raw, what="TemplateData")
            json.dumps(data, allow_nan=False)  # 1e400 parses to inf, which is no JSON
        except (ParamError, ValueError):
            raise ApiError("InvalidParameterValue.TemplateDataError", "TemplateData must be JSON.") from None
        if not isinstance(data, dict):
            raise ApiError("InvalidParameterValue.TemplateDataError", "TemplateData must be a JSON object.")
        if len(raw.encode("utf-8")) > MAX_TEMPLATE_DATA_BYTES:
            raise ApiError("InvalidParameterValue.TemplateDataLenLimit", "TemplateData is longer than 800 bytes.")
        if any(_HTML_TAG.search(str(v)) for v in data.values()):
            raise ApiError("InvalidParameterValue.InValidTemplateData", "TemplateData may not contain HTML.")
        needed = subject_variables(tpl.html + "\n" + tpl.text + "\n" + subject)
        missing = [v for v in needed if v not in data]
        if missing:
            raise ApiError("InvalidParameterValue.TemplateNotMatchData", f"Missing template data: {missing}.")
        return template_id, data

    def _check_recipient(self, account: Account, from_address: str, raw: str) -> str:
        if not raw.strip():
            raise ApiError("InvalidParameterValue.EmailAddressIsNULL", "A recipient address is empty.")
        to, _reason = normalize_address(raw)
        if to is None:
            raise ApiError("InvalidParameterValue.ReceiverEmailInvalid", "A recipient address is invalid.")
        now = self.clock.now()
        key = to.lower()
        refusal: ApiError | None = None
        if self.is_blocked(key, now):
            refusal = ApiError("FailedOperation.EmailAddrInBlacklist", "The address is on the blacklist.")
        elif self.has_unsubscribed(key, from_address, now):
            refusal = ApiError("FailedOperation.ReceiverHasUnsubscribed", "The recipient has unsubscribed.")
        elif self.world.per_address_per_hour is not None:
            window = self._per_address[(account.name, key)]
            while window and window[0] <= now - 3600:
                window.popleft()
            if len(window) >= self.world.per_address_per_hour:
                refusal = ApiError("FailedOperation.FrequencyLimit", "Too many mails to this address in an hour.")
        if refusal is None:
            domain = from_address.rpartition("@")[2]
            ident = self.world.identity(domain, account.name)
            if ident is not None and self._daily[(domain, self.day_of(now))] >= ident.quota:
                refusal = ApiError("FailedOperation.ExceedSendLimit", "The daily sending quota is used up.")
        if refusal is not None:
            self.record_refusal(account.name, from_address, to, refusal.code)
            raise refusal
        return to

    def has_unsubscribed(self, address: str, from_address: str, now: float) -> bool:
        """Whether `address` (lower case) unsubscribed by `now` from the sender domain of `from_address`."""
        domain = from_address.rpartition("@")[2].lower()
        since = min(self.unsubscribed.get((address, d), now + 1) for d in (domain, ANY_SENDER))
        return since <= now

    def record_refusal(self, account: str, from_address: str, to_address: str, code: str) -> None:
        """File a refused send in the status log the way Tencent does for the codes it records."""
        status = SEND_STATUS.get(code)
        if status is not None:
            now = self.clock.now()
            mid = self._message_id(now)
            self._log_status(StatusRecord(mid, account, from_address, to_address, status, now, self.day_of(now)))

    def _log_status(self, record: StatusRecord) -> None:
        self.status_log.append(record)
        self._status_by_day[(record.account, record.day)].append(record)

    def _accept(
        self,
        account: Account,
        from_value: str,
        from_address: str,
        recipients: list[str],
        template_id: int,
        data: dict[str, Any],
        subject: str,
    ) -> dict[str, Any]:
        now = self.clock.now()
        message_id = self._message_id(now)
        request_id = str(uuid.uuid4())
        domain = from_address.rpartition("@")[2]
        for to in recipients:
            self._per_address[(account.name, to.lower())].append(now)
            self._daily[(domain, self.day_of(now))] += 1
            record = SendRecord(now, account.name, from_value, to, message_id, template_id, data, subject, request_id)
            self.send_log.append(record)
            if self.send_log_path is not None:
                with self.send_log_path.open("a", encoding="utf-8") as fh:
                    fh.write(record.to_json() + "\n")
            self._log_status(StatusRecord(message_id, account.name, from_address, to, 0, now, self.day_of(now)))
            fate = fate_of(
                self.draw("fate", from_address, to.lower(), repr(now)),
                self.world.behaviour_for(to.rpartition("@")[2], from_address),
                sent_at=now,
                account=account.name,
                from_address=from_address,
                to_address=to,
                message_id=message_id,
                template_id=template_id,
                subject=subject,
            )
            self.events.extend(fate.events)
            for e in fate.events:
                self._events_of[e["bulkId"]].append(e)
            if fate.hard_bounce_at is not None:
                self.blocked.setdefault(to.lower(), fate.hard_bounce_at)
            if fate.unsubscribed_at is not None:
                self.unsubscribed.setdefault((to.lower(), domain), fate.unsubscribed_at)
        return {"MessageId": message_id, "RequestId": request_id}

    def _message_id(self, now: float) -> str:
        stamp = datetime.fromtimestamp(now, tz=self.zone).strftime("%Y%m%d%H%M%S")
        return f"qcloudses-30-{stamp}-{uuid.uuid4().hex[:16]}"

    # --- status ---

    def get_send_email_status(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        day = date_param(p.get("RequestDate"), "InvalidParameterValue.WrongDate")
        if (self.day_of(self.clock.now()) - day).days > STATUS_DAYS:
            raise ApiError("FailedOperation.NotSupportDate", "Only data within 30 days can be queried.")
        offset, limit = page_param(p)
        to = str(p.get("ToEmailAddress") or "").strip().lower()
        mid = str(p.get("MessageId") or "")
        rows = [
            r
            for r in self._status_by_day.get((account.name, day), ())
            if (not to or r.to_address.lower() == to) and (not mid or r.message_id == mid)
        ]
        return {"EmailStatusList": [self._status_row(r) for r in rows[offset : offset + limit]]}

    def _status_row(self, r: StatusRecord) -> dict[str, Any]:
        now = self.clock.now()
        seen = {e["event"]: e for e in self._events_of.get(r.message_id, ()) if e["timestamp"] <= now}
        deliver_status, deliver_time, message = 0, 0, ""
        if "delivered" in seen:
            deliver_status, deliver_time = 1, seen["delivered"]["timestamp"]
        elif "bounce" in seen:
            hard = seen["bounce"]["bounceType"] == "hard_bounce"
            deliver_status, message = (3 if hard else 8), seen["bounce"]["reason"]
        elif "deferred" in seen:
            deliver_status, message = 8, seen["deferred"]["reason"]
        return {
            "MessageId": r.message_id,
            "ToEmailAddress": r.to_address,
            "FromEmailAddress": r.from_address,
            "SendStatus": r.send_status,
            "DeliverStatus": deliver_status if r.send_status == 0 else 0,
            "DeliverMessage": message,
            "RequestTime": int(r.request_time),
            "DeliverTime": deliver_time,
            "UserOpened": "open" in seen,
            "UserClicked": "click" in seen,
            "UserUnsubscribed": "unsubscribe" in seen,
            "UserComplained": "spamreport" in seen,
            "UserComplainted": "spamreport" in seen,  # the older name Tencent's own example still shows
        }

    # --- identities and templates ---

    def list_email_identities(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        return catalog.list_email_identities(self.world, account, p)

    def get_email_identity(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        return catalog.get_email_identity(self.world, account, p)

    def get_email_template(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        return catalog.get_email_template(self.world, account, p)

    def list_email_templates(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        return catalog.list_email_templates(self.world, account, p)

    # --- blocklist ---

    def list_black_email_address(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        start = date_param(p.get("StartDate"), "InvalidParameter.InvalidStartTimeFormat")
        end = date_param(p.get("EndDate"), "InvalidParameter.InvalidEndTimeFormat")
        offset, limit = page_param(p)
        now = self.clock.now()
        only = str(p.get("EmailAddress") or "").strip().lower()
        rows = sorted(
            (since, addr)
            for addr, since in self.blocked.items()
            if self.is_blocked(addr, now) and start <= self.day_of(since) <= end and (not only or addr == only)
        )
        page = rows[offset : offset + limit]
        fmt = "%Y-%m-%d %H:%M:%S"
        return {
            "BlackList": [
                {
                    "BounceTime": datetime.fromtimestamp(s, tz=self.zone).strftime(fmt),
                    "EmailAddress": a,
                    "IspDesc": "550 5.1.1 user unknown",
                }
                for s, a in page
            ],
            "TotalCount": len(rows),
        }

    def is_blocked(self, address: str, now: float) -> bool:
        """On the blocklist now: bounced, and less than BLOCKLIST_KEEP_S ago."""
        since = self.blocked.get(address)
        return since is not None and since <= now < since + BLOCKLIST_KEEP_S

    def delete_black_list(self, account: Account, p: dict[str, Any]) -> dict[str, Any]:
        addresses = p.get("EmailAddressList") or []
        if not addresses:
            raise ApiError("MissingParameter", "EmailAddressList is required.")
        for addr in addresses:
            self.blocked.pop(str(addr).strip().lower(), None)
        return {}
