"""TencentSender: the Sender protocol on the official async SES SDK, with read-only helpers for `check`."""

from __future__ import annotations

import base64
import json
import time
from datetime import date
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.ses.v20201002 import models
from tencentcloud.ses.v20201002.ses_client_async import SesClient

from orchestrator.core.account_rate import CallKind
from orchestrator.core.clock import Clock
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.core.sending import (
    CallBudget,
    LookupResult,
    LookupVerdict,
    MailOwner,
    OutcomeKind,
    SendOutcome,
    SendRequest,
    StatusQuery,
    Wanted,
)
from orchestrator.ses.endpoint import direct_http_client, endpoint_profile
from orchestrator.ses.errors import (
    SesApiError,
    SesBudgetError,
    SesConfigError,
    SesError,
    SesNetworkError,
    is_throttle,
)
from orchestrator.ses.failures import gateway_answer, outcome_of_exception, redacted
from orchestrator.ses.lookup_window import address_of, lookup_dates, lookup_window, own_window, parties
from orchestrator.ses.records import (
    BlacklistEntry,
    BlacklistPage,
    DnsRecord,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    TemplateInfo,
    b64_text,
)
from orchestrator.settings import Settings
from orchestrator.store.api_stats import ApiCallStats

__all__ = [
    "DEFAULT_LOOKUP_SLACK_S",
    "MAX_LOOKUP_PAGES",
    "PAGE_LIMIT",
    "BlacklistEntry",
    "BlacklistPage",
    "DnsRecord",
    "IdentityDetail",
    "IdentityList",
    "IdentitySummary",
    "TemplateInfo",
    "TencentSender",
    "build_sender",
]

log = structlog.get_logger(__name__)

#: GetSendEmailStatus and ListBlackEmailAddress return at most this many rows a call.
PAGE_LIMIT: Final = 100
#: A lookup reads at most this many pages a day before it gives up (UNKNOWN).
MAX_LOOKUP_PAGES: Final = 50
#: Tencent refuses a request signed more than this far from its own clock (AuthFailure.SignatureExpire),
#: so a send it took was stamped (RequestTime, its clock) at most this far from ours.
SIGNATURE_TOLERANCE_S: Final = 300.0
#: The skew a lookup allows between our clock and RequestTime: all Tencent tolerates, and a minute more
#: for the time between signing and arrival. A narrower window would take a send made under a skew
#: Tencent accepts for not sent, and mail the person again.
DEFAULT_LOOKUP_SLACK_S: Final = SIGNATURE_TOLERANCE_S + 60.0
#: The code of a status answer that held no status list (a gateway's page, an error the SDK let through).
UNREADABLE: Final = "UnreadableAnswer"
#: A lookup's answer when the only mail in its window was taken by another in-doubt send's lookup.
SHARED_MAIL: Final = "the one mail in the window was settled for another in-doubt send to this address"
#: A send that waited this long for its API slot asks again whether its campaign still sends: a pause
#: returns after at most `--wait` s, and a send claimed before it must not leave long after.
RECHECK_AFTER_S: Final = 0.5


class TencentSender:
    """Sends one mail per call through Tencent SES and classifies every failure; never raises on send."""

    def __init__(
        self,
        settings: Settings,
        *,
        lookup_slack_s: float = DEFAULT_LOOKUP_SLACK_S,
        budget: CallBudget | None = None,
        stats: ApiCallStats | None = None,
    ) -> None:
        self._settings = settings
        self._lookup_slack_s = lookup_slack_s
        self._budget = budget  # None: calls go out unpaced (the virtual runs pace at the grant)
        self._stats = stats  # None: calls are not counted
        self._clients: dict[str, Any] = {}  # account -> SesClient, kept for the process's life
        self._secrets: dict[str, tuple[str, str]] = {}

    # --- the Sender protocol ---

    async def send(self, request: SendRequest) -> SendOutcome:
        """SendEmail to one recipient; every failure comes back as a classified SendOutcome."""
        params: dict[str, Any] = {
            "FromEmailAddress": request.from_address,
            "Destination": [request.to_address],
            "Template": {
                "TemplateID": request.template_id,
                "TemplateData": json.dumps(request.template_data, ensure_ascii=False),
            },
            "Subject": request.subject,
            "TriggerType": request.trigger_type,
        }
        if request.unsubscribe is not None:
            params["Unsubscribe"] = request.unsubscribe
        if request.reply_to:
            params["ReplyToAddresses"] = request.reply_to
        domain = request.to_address.rpartition("@")[2]
        try:
            sdk_request = models.SendEmailRequest()
            sdk_request.from_json_string(json.dumps(params))
            response = await self._invoke(request.account, "SendEmail", sdk_request, request.still_wanted)
        except Exception as exc:  # the adapter's job is to classify every failure
            outcome = self._outcome_of(exc, request.account)
            log.debug("ses_send_failed", kind=str(outcome.kind), code=outcome.code, recipient_domain=domain)
            return outcome
        message_id = getattr(response, "MessageId", None)
        request_id = getattr(response, "RequestId", None)
        if not message_id:
            # A 200 without a MessageId: Tencent may well have taken the mail.
            return SendOutcome(
                OutcomeKind.IN_DOUBT,
                code="EmptyResponse",
                detail="no MessageId in the answer",
                request_id=request_id,
            )
        return SendOutcome(OutcomeKind.ACCEPTED, message_id=message_id, request_id=request_id)

    async def lookup(self, query: StatusQuery) -> LookupResult:
        """Ask GetSendEmailStatus whether a send whose outcome was in doubt reached Tencent."""
        want = (address_of(query.from_address), query.to_address.strip().lower())
        window = lookup_window(query, self._settings.ses_timeout_s, self._lookup_slack_s)
        earliest, latest = window
        core = own_window(query, self._settings.ses_timeout_s)  # without any allowance for skew
        refused: int | None = None  # the send's own row, when Tencent refused it (SendStatus not 0)
        shared = False  # a mail in the window that another in-doubt send took by its own lookup
        try:
            for day in lookup_dates(query, window):
                for offset in range(0, PAGE_LIMIT * MAX_LOOKUP_PAGES, PAGE_LIMIT):
                    rows = await self.status_page(query.account, day, query.to_address, offset)
                    for row in rows:
                        at = int(getattr(row, "RequestTime", 0) or 0)
                        if not earliest <= at <= latest or parties(row) != want:
                            continue
                        if (status := getattr(row, "SendStatus", None)) == 0:
                            owner = MailOwner.NONE if query.taken is None else await query.taken(str(row.MessageId))
                            if owner is MailOwner.NONE:
                                return LookupResult(LookupVerdict.SENT, message_id=row.MessageId, sent_at=at or None)
                            # Taken by another send's lookup although it lies in this send's own window:
                            # either may be the one that left. Before its grant it is the other's (as
                            # long as Tencent's clock and ours agree within a second: Known limits).
                            mine_too = core[0] <= at <= core[1]
                            shared = shared or (owner is MailOwner.ANOTHER_BY_LOOKUP and mine_too)
                            continue  # another send's mail to the same address (recorded under its MessageId)
                        refused = refused if refused is not None or status is None else int(status)
                    if len(rows) < PAGE_LIMIT:
                        break
                else:
                    return LookupResult(LookupVerdict.UNKNOWN, detail="too many status records to read")
        except SesError as exc:
            # Throttled, busy or unreachable: worth asking again within seconds, not minutes (an answer
            # that was no status log at all, a gateway's page, is asked about at the usual pace).
            soon = exc.kind in (OutcomeKind.TRANSIENT, OutcomeKind.THROTTLED) and exc.code != UNREADABLE
            return LookupResult(LookupVerdict.UNKNOWN, detail=str(exc), retry_soon=soon)
        if shared:
            return LookupResult(LookupVerdict.UNKNOWN, detail=SHARED_MAIL, undecidable=True)
        return LookupResult(LookupVerdict.NOT_SENT, refused_status=refused)

    async def close(self) -> None:
        """Close every account's HTTP client."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    async def __aenter__(self) -> TencentSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- read-only helpers (raise SesError) ---

    async def list_identities(self, account: str = DEFAULT_ACCOUNT) -> IdentityList:
        """Every sender domain of the account, with reputation level, daily quota and send IPs."""
        resp = await self._call(account, "ListEmailIdentities", {})
        return IdentityList(
            identities=tuple(
                IdentitySummary(
                    name=i.IdentityName or "",
                    identity_type=i.IdentityType or "",
                    sending_enabled=bool(i.SendingEnabled),
                    reputation_level=int(i.CurrentReputationLevel or 0),
                    daily_quota=int(i.DailyQuota or 0),
                    send_ips=tuple(i.SendIp or ()),
                )
                for i in resp.EmailIdentities or ()
            ),
            max_reputation_level=int(resp.MaxReputationLevel or 0),
            max_daily_quota=int(resp.MaxDailyQuota or 0),
        )

    async def get_identity(self, domain: str, account: str = DEFAULT_ACCOUNT) -> IdentityDetail:
        """Verification status and DNS records of one sender domain."""
        resp = await self._call(account, "GetEmailIdentity", {"EmailIdentity": domain})
        return IdentityDetail(
            name=domain,
            identity_type=resp.IdentityType or "",
            verified=bool(resp.VerifiedForSendingStatus),
            records=tuple(
                DnsRecord(a.Type or "", a.SendDomain or "", a.ExpectedValue or "", a.CurrentValue or "", bool(a.Status))
                for a in resp.Attributes or ()
            ),
        )

    async def get_template(self, template_id: int, account: str = DEFAULT_ACCOUNT) -> TemplateInfo:
        """A template's status, name and decoded HTML/text bodies."""
        resp = await self._call(account, "GetEmailTemplate", {"TemplateID": template_id})
        content = resp.TemplateContent
        return TemplateInfo(
            template_id=template_id,
            name=resp.TemplateName or "",
            status=int(resp.TemplateStatus if resp.TemplateStatus is not None else -1),
            html=b64_text(getattr(content, "Html", None)),
            text=b64_text(getattr(content, "Text", None)),
        )

    async def list_blacklist(
        self,
        start: date,
        end: date,
        *,
        account: str = DEFAULT_ACCOUNT,
        address: str | None = None,
        offset: int = 0,
        limit: int = PAGE_LIMIT,
    ) -> BlacklistPage:
        """One page of Tencent's blocklist (addresses that hard-bounced) between two dates."""
        params: dict[str, Any] = {
            "StartDate": start.isoformat(),
            "EndDate": end.isoformat(),
            "Offset": offset,
            "Limit": min(limit, PAGE_LIMIT),
        }
        if address:
            params["EmailAddress"] = address
        resp = await self._call(account, "ListBlackEmailAddress", params)
        return BlacklistPage(
            entries=tuple(
                BlacklistEntry(b.EmailAddress or "", b.BounceTime or "", b.IspDesc or "") for b in resp.BlackList or ()
            ),
            total_count=int(resp.TotalCount or 0),
        )

    async def delete_blacklist(self, addresses: list[str], account: str = DEFAULT_ACCOUNT) -> None:
        """Release addresses from Tencent's blocklist (DeleteBlackList); a refusal raises a SesError."""
        await self._call(account, "DeleteBlackList", {"EmailAddressList": addresses})

    async def probe_template_only(self, from_address: str, account: str = DEFAULT_ACCOUNT) -> bool:
        """True when the account may send only with templates.

        Sends a SendEmail with a plain body and *no recipient*, so no mail can ever leave: a
        template-only account answers FailedOperation.WithOutPermission; any other refusal means the
        permission check passed (or came later in Tencent's validation order).
        """
        params = {
            "FromEmailAddress": from_address,
            "Destination": [],
            "Subject": "permission probe",
            "Simple": {"Text": base64.b64encode(b"permission probe").decode()},
        }
        try:
            await self._call(account, "SendEmail", params)
        except SesApiError as exc:
            return exc.code == "FailedOperation.WithOutPermission"
        return False

    # --- internals ---

    def _client(self, account: str) -> Any:
        client = self._clients.get(account)
        if client is not None:
            return client
        creds = self._settings.usable_credentials(account)
        if creds is None:  # unset, or set to nothing (the SDK's InvalidCredential)
            where = "TENCENTCLOUD_SECRET_ID/KEY or ORCHESTRATE_ACCOUNTS"
            msg = f"no credentials for account {account!r} (set {where})"
            raise SesConfigError("Orchestrator.NoCredentials", msg)
        secret_id, secret_key = creds.secret_id.get_secret_value(), creds.secret_key.get_secret_value()
        profile = ClientProfile(
            httpProfile=endpoint_profile(self._settings), language="en-US", disable_region_breaker=True
        )
        client = SesClient(Credential(secret_id, secret_key), self._settings.ses_region, profile)
        if (direct := direct_http_client(self._settings)) is not None:
            client.http_client = direct  # the SDK's own, just made, holds no connection yet
        client.http_client.event_hooks = {"request": [], "response": [gateway_answer]}
        self._clients[account] = client
        self._secrets[account] = (secret_id, secret_key)
        return client

    async def _slot(self, account: str, kind: CallKind, wanted: Wanted | None = None) -> None:
        """Wait for the account's next free call slot of `kind` (right before the request leaves); after a
        long wait, ask `wanted` whether the call is still wanted (its campaign may have been paused)."""
        if self._budget is None:
            return
        started = time.monotonic()
        try:
            refused_for_s = await self._budget.acquire(account, kind)
        except Exception as exc:  # Redis unreachable mid-restart: nothing left, so not in doubt
            raise SesBudgetError(account, f"the API budget could not be read ({type(exc).__name__})") from None
        if refused_for_s is not None:
            raise SesBudgetError(account, retry_after_s=refused_for_s)
        if wanted is not None and time.monotonic() - started >= RECHECK_AFTER_S and not await wanted():
            raise SesBudgetError(account, "its campaign stopped while the send waited for an API slot")

    async def _invoke(self, account: str, action: str, sdk_request: Any, wanted: Wanted | None = None) -> Any:
        """Every SDK call goes out here: after the account's slot, counted in its stats (throttles too)."""
        client = self._client(account)
        await self._slot(account, CallKind.SEND if action == "SendEmail" else CallKind.OTHER, wanted)
        throttled = False
        try:
            return await getattr(client, action)(sdk_request)
        except TencentCloudSDKException as exc:
            throttled = is_throttle(exc.code or "")
            raise
        finally:
            if self._stats is not None:
                await self._stats.count(account, throttled)

    async def _call(self, account: str, action: str, params: dict[str, Any]) -> Any:
        """One SDK call; every failure becomes a SesError without secrets."""
        try:
            sdk_request = getattr(models, f"{action}Request")()
            sdk_request.from_json_string(json.dumps(params))
            return await self._invoke(account, action, sdk_request)
        except SesError:
            raise
        except Exception as exc:  # translated into the adapter's exception tree
            outcome = self._outcome_of(exc, account)
            code = outcome.code or "Unknown"
            if isinstance(exc, TencentCloudSDKException) and code not in (
                "ServerNetworkError",
                "ClientNetworkError",
            ):
                raise SesApiError(code, outcome.detail, outcome.request_id) from None
            raise SesNetworkError(code, outcome.detail, outcome.kind) from None

    async def status_page(self, account: str, day: date, to: str, offset: int, message_id: str = "") -> list[Any]:
        """One page of GetSendEmailStatus for a recipient on a day (and one MessageId when given); raises SesError."""
        params = {"RequestDate": day.isoformat(), "ToEmailAddress": to, "Offset": offset, "Limit": PAGE_LIMIT}
        if message_id:  # that one mail, not every mail of the recipient that day
            params["MessageId"] = message_id
        resp = await self._call(account, "GetSendEmailStatus", params)
        rows = getattr(resp, "EmailStatusList", None)
        if not isinstance(rows, list) or not getattr(resp, "RequestId", None):
            # An error body under a Content-Type the SDK does not check, an event stream, a gateway's
            # page: no status log at all, never an empty one (a lookup would take it for "not sent").
            detail = "GetSendEmailStatus answered without a status list"
            raise SesNetworkError(UNREADABLE, detail, OutcomeKind.TRANSIENT)
        return rows

    def _outcome_of(self, exc: Exception, account: str) -> SendOutcome:
        outcome = outcome_of_exception(exc)
        return redacted(outcome, self._secrets.get(account, ()))


def build_sender(settings: Settings, redis: Redis | None = None, clock: Clock | None = None) -> TencentSender:
    """The production Sender: one SDK client per account, opened on first use; with `redis`, every
    call waits for its slot in the account's shared API budget (ACCOUNT_RATE_PER_S and the rest),
    timed by Redis's own clock unless a `clock` is given."""
    budget = None
    if redis is not None:
        from orchestrator.store.account_budget import RedisAccountBudget

        budget = RedisAccountBudget(redis, clock, settings.account_rate())
    return TencentSender(settings, budget=budget, stats=ApiCallStats(redis) if redis is not None else None)
