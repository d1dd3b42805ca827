"""The contract between the pipeline and a mail provider: requests, outcome classes, the Sender protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from orchestrator.core.account_rate import CallKind

#: Whether a call is still wanted (a send's campaign still sending), asked right before it leaves.
Wanted = Callable[[], Awaitable[bool]]


class OutcomeKind(StrEnum):
    """What a send attempt means for the pipeline (see docs/operations.md, error classes)."""

    ACCEPTED = "accepted"  # the provider took the mail; message_id is set
    TRANSIENT = "transient"  # retry the recipient with exponential backoff
    RECIPIENT_LATER = "recipient_later"  # defer this recipient (>= 1 h: per-address frequency)
    DOMAIN_LATER = "domain_later"  # defer this recipient's domain (>= 10 min: temporary block)
    RECIPIENT_NEVER = "recipient_never"  # blocklisted, unsubscribed, invalid: suppress, never retry
    RECIPIENT_DATA = "recipient_data"  # template data wrong for this recipient: fail it
    IDENTITY_TODAY = "identity_today"  # the sender's daily quota is spent: stop it until tomorrow
    CAMPAIGN_FATAL = "campaign_fatal"  # credentials, sender, template, balance: pause the campaign
    IN_DOUBT = "in_doubt"  # the request may have reached the provider: never resend blindly
    NOT_CALLED = "not_called"  # the request never left: no slot in the account's API budget yet
    THROTTLED = "throttled"  # Tencent refused the call over an API rate limit: nothing taken, try again soon


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One mail to one recipient, through one sending identity."""

    account: str  # credentials profile name ("default" unless the identity names another)
    from_address: str  # "Alias <addr@domain>"
    to_address: str
    template_id: int
    template_data: dict[str, str]
    subject: str
    unsubscribe: str | None = None  # Tencent's Unsubscribe language code, None = no link
    trigger_type: int = 0  # 0 batch/marketing, 1 triggered/transactional
    reply_to: str | None = None
    #: Asked after a long wait for the account's API slot: False and the call is not made (NOT_CALLED).
    still_wanted: Wanted | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The provider's answer to one SendRequest, already classified."""

    kind: OutcomeKind
    message_id: str | None = None
    code: str | None = None  # provider error code, e.g. "FailedOperation.FrequencyLimit"
    detail: str = ""  # one human line; never a secret
    defer_s: float | None = None  # at least this long before the next try, when the class implies one
    request_id: str | None = None


class LookupVerdict(StrEnum):
    """What the provider's status API says about a send whose outcome was in doubt."""

    SENT = "sent"  # a matching accepted record exists (message_id set)
    NOT_SENT = "not_sent"  # the provider's log for that day is complete and holds no such send
    UNKNOWN = "unknown"  # the lookup failed or cannot decide yet


class MailOwner(StrEnum):
    """Whose a mail found by a lookup is, as our own records say (StatusQuery.taken)."""

    NONE = "none"  # no send holds its MessageId: it may be the send looked for
    ANOTHER = "another"  # another send's, from that send's own SendEmail answer
    #: Another send in doubt took it by a lookup of its own: which of the two it belongs to cannot be told.
    ANOTHER_BY_LOOKUP = "another_by_lookup"


@dataclass(frozen=True, slots=True)
class LookupResult:
    verdict: LookupVerdict
    message_id: str | None = None
    detail: str = ""
    retry_soon: bool = False  # UNKNOWN only because the lookup was throttled or could not connect
    undecidable: bool = False  # UNKNOWN that asking again cannot change: left in doubt for the operator
    #: NOT_SENT: the send's own row, refused by the provider with this SendStatus (e.g. 3030); None: no row.
    refused_status: int | None = None
    #: SENT: when the provider received the send (its RequestTime, Unix seconds); None when it does not say.
    sent_at: float | None = None


class CallBudget(Protocol):
    """The provider account's API rate, shared by every process: a call waits for its slot first."""

    async def acquire(self, account: str, kind: CallKind) -> float | None:
        """Wait for a call slot of `kind` (None: call now); or, at once, the seconds until a slot
        could be had when none comes soon enough (then do not call)."""
        ...


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """Find the send of `to_address` from `from_address` made on or after `not_before` (UTC) and, when
    `not_after` is given, no later than it (plus the call's timeout): the send's own window. A row whose
    MessageId `taken` says belongs to another send is not this one (the same recipient mailed again);
    when the only such rows were taken by another send's lookup, the answer is UNKNOWN, never NOT_SENT
    (either send may be the one that left: sending again could mail the person twice)."""

    account: str
    from_address: str
    to_address: str
    request_date: date
    not_before: datetime
    #: The latest moment the request could have left (the send went into doubt then); None: `not_before`.
    not_after: datetime | None = None
    taken: Callable[[str], Awaitable[MailOwner]] | None = None


class Sender(Protocol):
    """A mail provider as the pipeline sees it. Implementations never raise for provider errors."""

    async def send(self, request: SendRequest) -> SendOutcome: ...

    async def lookup(self, query: StatusQuery) -> LookupResult: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class RecordingSender:
    """An in-process Sender that accepts everything and records each call (tests, benchmarks)."""

    sent: list[SendRequest] = field(default_factory=list)
    _counter: int = 0

    async def send(self, request: SendRequest) -> SendOutcome:
        self._counter += 1
        self.sent.append(request)
        return SendOutcome(OutcomeKind.ACCEPTED, message_id=f"rec-{self._counter}")

    async def lookup(self, query: StatusQuery) -> LookupResult:
        for i, req in enumerate(self.sent, start=1):
            if req.to_address == query.to_address and req.from_address == query.from_address:
                return LookupResult(LookupVerdict.SENT, message_id=f"rec-{i}")
        return LookupResult(LookupVerdict.NOT_SENT)

    async def close(self) -> None:
        return None
