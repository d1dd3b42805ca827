"""Tencent SES error codes mapped to the pipeline's outcome classes, and the adapter's exception tree.

Exceptions raised by the adapter's read-only helpers (sends never raise; they return a SendOutcome):

    SesError                 any failure of a call to Tencent SES
     ├── SesConfigError      nothing was sent: no credentials for the account, bad endpoint
     ├── SesApiError         Tencent answered with an error code (`.code`, `.kind`, `.request_id`)
     └── SesNetworkError     no usable answer: connection refused, timeout, HTTP 5xx, unreadable body
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import structlog

from orchestrator.core.sending import OutcomeKind

log = structlog.get_logger(__name__)

T = OutcomeKind.TRANSIENT
RL = OutcomeKind.RECIPIENT_LATER
DL = OutcomeKind.DOMAIN_LATER
RN = OutcomeKind.RECIPIENT_NEVER
RD = OutcomeKind.RECIPIENT_DATA
IT = OutcomeKind.IDENTITY_TODAY
CF = OutcomeKind.CAMPAIGN_FATAL
TH = OutcomeKind.THROTTLED

#: At least this long before the next try, per class (IDENTITY_TODAY: the pipeline computes midnight).
DEFER_S: Final[dict[OutcomeKind, float]] = {RL: 3600.0, DL: 600.0, TH: 1.0}

#: Every code the SES SDK's errorcodes.py lists, plus Tencent API 3.0's common codes:
#: code -> (class, one line that completes "the campaign paused because ...").
CODES: Final[dict[str, tuple[OutcomeKind, str]]] = {
    # --- authentication (common codes and the one SES lists) ---
    "AuthFailure": (CF, "Tencent refused the API credentials"),
    "AuthFailure.InvalidAuthorization": (
        CF,
        "the Authorization header was malformed (check the SDK version)",
    ),
    "AuthFailure.InvalidSecretId": (CF, "the SecretId is not a valid key id"),
    "AuthFailure.MFAFailure": (CF, "the key requires multi-factor authentication"),
    "AuthFailure.SecretIdNotFound": (CF, "the SecretId does not exist or was deleted"),
    "AuthFailure.SignatureExpire": (
        CF,
        "the request timestamp was refused: the machine's clock is off by more than 5 minutes",
    ),
    "AuthFailure.SignatureFailure": (
        CF,
        "the signature was wrong: the SecretKey does not belong to the SecretId",
    ),
    "AuthFailure.TokenFailure": (CF, "the temporary credential token is invalid or expired"),
    "AuthFailure.UnauthorizedOperation": (
        CF,
        "the key is not allowed to call SES (grant it a CAM policy for ses:*)",
    ),
    "UnauthorizedOperation": (CF, "the key is not allowed to perform this SES operation"),
    # --- transient ---
    "InternalError": (T, "Tencent had an internal error"),
    "InternalError.QueryDataBaseFailed": (T, "Tencent's database query timed out or failed"),
    "RequestLimitExceeded": (TH, "the account's API rate limit (20 requests/s) was exceeded"),
    "RequestLimitExceeded.UinLimitExceeded": (TH, "the account's API rate limit was exceeded"),
    "RequestLimitExceeded.IPLimitExceeded": (TH, "this machine's API rate limit was exceeded"),
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": (
        TH,
        "the account's global API rate limit was exceeded",
    ),
    "FailedOperation.ServiceNotAvailable": (
        T,
        "Tencent reported a temporary error; the request did not take effect",
    ),
    "ServiceUnavailable": (T, "the SES service was temporarily unavailable"),
    # --- recipient, later / recipient domain, later ---
    "FailedOperation.FrequencyLimit": (RL, "more than 10 mails an hour went to the same address"),
    "FailedOperation.TemporaryBlocked": (
        DL,
        "the receiving provider's limit was hit; Tencent pauses it ~10 minutes",
    ),
    # --- recipient, never ---
    "FailedOperation.EmailAddrInBlacklist": (
        RN,
        "the address is on Tencent's blocklist (an earlier hard bounce)",
    ),
    "FailedOperation.ReceiverHasUnsubscribed": (RN, "the recipient has unsubscribed"),
    "FailedOperation.RejectedByRecipients": (RN, "the recipient's domain rejected the mail"),
    "FailedOperation.IncorrectEmail": (RN, "the recipient address is wrong"),
    "FailedOperation.UnsupportMailType": (RN, "Tencent does not deliver to this kind of mailbox"),
    "InvalidParameterValue.IllegalEmailAddress": (RN, "the recipient address is not a legal e-mail address"),
    "InvalidParameterValue.ReceiverEmailInvalid": (RN, "the recipient address is invalid"),
    "InvalidParameterValue.EmailAddressIsNULL": (RN, "the recipient address is empty"),
    # --- recipient data ---
    "InvalidParameterValue.TemplateDataError": (RD, "the template data is not valid JSON"),
    "InvalidParameterValue.InValidTemplateData": (RD, "the template data contains HTML tags"),
    "InvalidParameterValue.TemplateDataLenLimit": (
        RD,
        "the template data of one recipient is longer than 800 bytes",
    ),
    "InvalidParameterValue.TemplateNotMatchData": (
        RD,
        "the template data does not cover every template variable",
    ),
    "InvalidParameterValue.TemplateDataInconsistent": (RD, "the template data's variable names changed"),
    "FailedOperation.WrongContentJson": (RD, "the template data is not JSON"),
    # --- identity, today ---
    "FailedOperation.ExceedSendLimit": (IT, "the sender domain's daily quota is spent"),
    # --- campaign-fatal: sender ---
    "FailedOperation.NotAuthenticatedSender": (
        CF,
        "the sender address is not authenticated in the SES console",
    ),
    "OperationDenied.DomainNotVerified": (
        CF,
        "the sender domain is not verified (check its DNS records in the SES console)",
    ),
    "InvalidParameterValue.NoSuchSender": (CF, "the sender address does not exist in the SES console"),
    "InvalidParameterValue.NotExistDomain": (CF, "the sender domain has not been created in the SES console"),
    "OperationDenied.SendAddressStatusError": (CF, "the sender address does not exist or is not approved"),
    "FailedOperation.IncorrectSender": (
        CF,
        "the sender is malformed (write 'Alias <addr@domain>', no ':' in the alias)",
    ),
    "FailedOperation.DKIMNotApplied": (CF, "DKIM is not set up for the sender domain"),
    "InvalidParameterValue.IllegalSenderName": (CF, "the sender alias is not allowed"),
    "InvalidParameterValue.InvalidEmailIdentity": (CF, "the sender domain is invalid"),
    # --- campaign-fatal: template and content ---
    "FailedOperation.InvalidTemplateID": (CF, "the template id is invalid or unusable"),
    "InvalidParameterValue.TemplateNotExist": (CF, "the template does not exist"),
    "OperationDenied.TemplateStatusError": (CF, "the template is not approved (pending review or rejected)"),
    "FailedOperation.WithOutPermission": (CF, "the account may only send with templates"),
    "FailedOperation.MissingEmailContent": (CF, "the request carried no content (neither template nor body)"),
    "InvalidParameterValue.TemplateContentIsNULL": (CF, "the template has no content"),
    "InvalidParameterValue.TemplateContentIsWrong": (CF, "the template content is not valid base64"),
    "InvalidParameterValue.SubjectLengthError": (CF, "the subject must be 1 to 100 characters"),
    "InvalidParameterValue.EmailContentIsWrong": (CF, "the mail body is not valid base64"),
    "FailedOperation.EmailContentToolarge": (CF, "the mail is too large"),
    "FailedOperation.TemplateContentToolarge": (CF, "the template is too large"),
    "FailedOperation.IllegalURL": (CF, "the content contains a link Tencent does not allow"),
    "FailedOperation.URLForbidden": (
        CF,
        "links are not allowed in mail from a sender with a low delivery rate",
    ),
    "FailedOperation.ExceedTemplateLimit": (CF, "the account has too many templates"),
    "InvalidParameterValue.TemplateNameIllegal": (CF, "the template name is not allowed"),
    "InvalidParameterValue.TemplateNameIsNULL": (CF, "the template name is empty"),
    # --- campaign-fatal: attachments (the orchestrator sends none) ---
    "FailedOperation.AttachContentToolarge": (CF, "an attachment is too large"),
    "FailedOperation.FileURLNotExist": (CF, "an attachment link is invalid"),
    "FailedOperation.InvalidAttachName": (CF, "an attachment name is not supported"),
    "FailedOperation.NoAttachPermission": (CF, "the account may not send attachments"),
    "FailedOperation.TooManyAttachments": (CF, "a mail may carry at most 10 attachments"),
    "InvalidParameterValue.AttachContentIsWrong": (CF, "an attachment is not valid base64"),
    # --- campaign-fatal: account, billing, reputation ---
    "FailedOperation.InsufficientQuota": (CF, "the account's SES package quota is used up"),
    "FailedOperation.InsufficientBalance": (CF, "the account's balance is insufficient or in arrears"),
    "FailedOperation.HighRejectionRate": (
        CF,
        "the rejection rate is too high and Tencent blocked sending for a while",
    ),
    "FailedOperation.SendEmailErr": (
        CF,
        "Tencent reports a problem with this account's sending (open a ticket)",
    ),
    "FailedOperation.ProtocolCheckErr": (CF, "Tencent's protocol check failed"),
    "LimitExceeded": (CF, "an account quota was exceeded"),
    "LimitExceeded.ExceedReceiverLimit": (CF, "the account has too many receiver lists"),
    "LimitExceeded.ReceiverDetailCountLimit": (CF, "a receiver list holds too many addresses"),
    "LimitExceeded.ReceiverDetailRequestLimit": (CF, "too many addresses in one request"),
    "ResourceInsufficient": (CF, "Tencent reports insufficient resources for the account"),
    "ResourceNotFound": (CF, "a resource the request names does not exist"),
    "ResourceUnavailable": (
        CF,
        "a resource is unavailable (the service may not be enabled, or the account is in arrears)",
    ),
    "ResourceInUse": (CF, "a resource is in use"),
    "IpInBlacklist": (CF, "this machine's IP address is on Tencent's API blocklist"),
    "IpNotInWhitelist": (CF, "this machine's IP address is not in the key's allow-list"),
    # --- campaign-fatal: a request the orchestrator should never build ---
    "FailedOperation": (CF, "Tencent refused the operation without a specific reason"),
    "FailedOperation.InvalidLimit": (CF, "a query asked for more than 100 rows"),
    "FailedOperation.NotSupportDate": (CF, "a status query asked for a date older than 30 days"),
    "FailedOperation.TooManyRecipients": (CF, "a mail named more than 50 recipients"),
    "InvalidParameter": (CF, "a request parameter was wrong"),
    "InvalidParameter.AppIdIsRequired": (CF, "the account's AppId is missing"),
    "InvalidParameter.InvalidEndTimeFormat": (CF, "an end time was malformed"),
    "InvalidParameter.InvalidStartTimeFormat": (CF, "a start time was malformed"),
    "InvalidParameterValue": (CF, "a request parameter value was wrong"),
    "InvalidParameterValue.BeginTimeBeforeNow": (CF, "a start time lies in the past"),
    "InvalidParameterValue.CreatedByOther": (CF, "the domain belongs to another Tencent Cloud account"),
    "InvalidParameterValue.InvalidSmtpPassWord": (CF, "the SMTP password does not meet the rules"),
    "InvalidParameterValue.ReceiverDescIllegal": (CF, "a receiver list description is not allowed"),
    "InvalidParameterValue.ReceiverNameIllegal": (CF, "a receiver list name is not allowed"),
    "InvalidParameterValue.RepeatCreation": (CF, "the domain was already created"),
    "InvalidParameterValue.RepeatEmailAddress": (CF, "the sender address was already created"),
    "InvalidParameterValue.RepeatReceiverName": (CF, "the receiver list name is taken"),
    "InvalidParameterValue.WrongDate": (CF, "a query date was malformed"),
    "MissingParameter": (CF, "a required parameter was missing"),
    "MissingParameter.CycleParamNecessary": (CF, "a periodic task needs a start time and an interval"),
    "MissingParameter.EmailsNecessary": (CF, "recipient addresses are required"),
    "MissingParameter.ReceiverIdNecessary": (CF, "a receiver list id is required"),
    "MissingParameter.SendParamNecessary": (CF, "sender, receiver list and template are required"),
    "MissingParameter.TimedParamNecessary": (CF, "a scheduled task needs a start time"),
    "OperationDenied": (CF, "Tencent denied the operation"),
    "OperationDenied.ExceedDomainLimit": (CF, "the account has the maximum number of sender domains"),
    "OperationDenied.ExceedSenderLimit": (CF, "the domain has the maximum number of sender addresses"),
    "OperationDenied.NotAllowDelete": (CF, "the domain may not be deleted"),
    "OperationDenied.ReceiverIsOperating": (CF, "a receiver list is still uploading"),
    "OperationDenied.ReceiverNotExist": (CF, "a receiver list does not exist"),
    "OperationDenied.ReceiverStatusError": (CF, "a receiver list is empty or not fully uploaded"),
    "OperationDenied.RepeatPassWord": (CF, "the SMTP password repeats the previous one"),
    "OperationDenied.SenderWithDomainIsNotEmpty": (CF, "the domain still has sender addresses"),
    "UnknownParameter": (CF, "the request carried a parameter Tencent does not know (SDK and API disagree)"),
    "UnsupportedOperation": (CF, "the operation is not supported"),
    "UnsupportedRegion": (
        CF,
        "SES is not offered in the configured region (use ap-guangzhou, ap-hongkong or ap-singapore)",
    ),
    "UnsupportedProtocol": (CF, "the endpoint's protocol is not supported (use https)"),
    "InvalidAction": (CF, "the endpoint does not know the action (is SES_ENDPOINT an SES endpoint?)"),
    "InvalidRequest": (CF, "the request was malformed"),
    "NoSuchProduct": (CF, "the endpoint does not serve SES"),
    "NoSuchVersion": (CF, "the endpoint does not serve SES API version 2020-10-02"),
    "RequestSizeLimitExceeded": (CF, "the request was too large"),
    "ResponseSizeLimitExceeded": (CF, "the response was too large"),
    "DryRunOperation": (CF, "the request was a dry run"),
}

#: HTTP statuses of the gateway in front of Tencent's API (the API answers its own errors with 200 and
#: a JSON body) that it gives after passing the request on: the upstream failed (500), answered
#: nothing usable (502) or too late (504). A SendEmail answered so may have been taken: in doubt, looked
#: up before any resend (ses/failures.gateway_answer). Any other status (503, 429, a 4xx) refused the
#: call before the API saw it.
PASSED_ON_STATUSES: Final = frozenset({500, 502, 504})

#: Codes the SDK itself raises (not Tencent's), and the adapter's own for a SendEmail the gateway
#: answered after passing it on (`HTTP504`): how the adapter classes them.
SDK_CODES: Final[dict[str, tuple[OutcomeKind, str]]] = {
    # Any other non-200 HTTP status from Tencent's gateway: nothing was accepted.
    "ServerNetworkError": (T, "Tencent's gateway answered with an HTTP error"),
    **{
        f"HTTP{status}": (
            OutcomeKind.IN_DOUBT,
            f"Tencent's gateway answered HTTP {status} after the request may have reached the API",
        )
        for status in sorted(PASSED_ON_STATUSES)
    },
    # The sync client's wrapper for any requests failure: the request may have gone out.
    "ClientNetworkError": (OutcomeKind.IN_DOUBT, "the connection failed after the request may have left"),
    "ClientError": (CF, "the SDK refused to build the request"),
    "ClientParamsError": (CF, "the SDK refused the request parameters"),
}

#: Tencent's answers to a request over a rate limit (the account's, this machine's, the region's).
THROTTLE_PREFIX: Final = "RequestLimitExceeded"
_TRANSIENT_PREFIXES = ("InternalError", "ServiceUnavailable")
_TRANSIENT_MARKERS = ("ServiceNotAvailable", "ServiceUnavailable", "Busy")
#: An unknown code naming a timeout (`FailedOperation.Timeout`): Tencent may have taken the mail.
_IN_DOUBT_MARKERS = ("Timeout", "TimeOut")


@dataclass(frozen=True, slots=True)
class ErrorClass:
    """How one error code is handled: its outcome class, the wait it implies, a human line."""

    code: str
    kind: OutcomeKind
    defer_s: float | None
    explanation: str
    known: bool = True


def classify(code: str) -> ErrorClass:
    """The class of a Tencent (or SDK) error code; unknown codes get a conservative class, never ACCEPTED."""
    entry = CODES.get(code) or SDK_CODES.get(code)
    if entry is not None:
        kind, text = entry
        return ErrorClass(code, kind, DEFER_S.get(kind), text)
    kind = _guess(code)
    log.warning("ses_unknown_error_code", code=code, kind=str(kind))
    text = f"Tencent answered with an error code this version does not know ({code})"
    return ErrorClass(code, kind, DEFER_S.get(kind), text, known=False)


def _guess(code: str) -> OutcomeKind:
    if is_throttle(code):
        return TH
    # A timeout, whatever its family (`InternalError.Timeout` too): looked up before any resend, never
    # retried blind.
    if any(m in code for m in _IN_DOUBT_MARKERS):
        return OutcomeKind.IN_DOUBT
    if code.startswith(_TRANSIENT_PREFIXES):
        return T
    if any(m in code for m in _TRANSIENT_MARKERS):
        return T
    # FailedOperation.*, OperationDenied.*, AuthFailure.*, InvalidParameter*, and anything stranger:
    # pausing costs an operator a look; guessing wrong the other way burns the list.
    return CF


def is_throttle(code: str) -> bool:
    """Whether Tencent refused the call for going over an API rate limit."""
    return code.startswith(THROTTLE_PREFIX)


def explain(code: str) -> str:
    """One line that completes "the campaign paused because ..." for `code`."""
    entry = CODES.get(code) or SDK_CODES.get(code)
    if entry is not None:
        return entry[1]
    return f"Tencent answered with an unknown error code {code}"


class SesError(Exception):
    """A call to Tencent SES failed; `str()` is one human line without secrets."""

    #: At least this long before the next try, when the failure says so (None: the class decides).
    defer_s: float | None = None

    def __init__(self, code: str, detail: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.request_id = request_id

    @property
    def kind(self) -> OutcomeKind:
        return classify(self.code).kind


class SesConfigError(SesError):
    """Nothing was sent: the account has no credentials, or the endpoint is malformed."""

    @property
    def kind(self) -> OutcomeKind:
        return CF


class SesApiError(SesError):
    """Tencent answered with an error code."""


class SesBudgetError(SesError):
    """Nothing was sent: the account's API budget had no free slot soon enough (ACCOUNT_WAIT_MAX_S)."""

    CODE = "Orchestrator.AccountBudgetBusy"

    def __init__(self, account: str, why: str = "", retry_after_s: float = 1.0) -> None:
        why = why or f"no free API call slot for {retry_after_s:.1f} s"
        super().__init__(self.CODE, f"{why} on account {account!r}; not called")
        self.defer_s = retry_after_s

    @property
    def kind(self) -> OutcomeKind:
        return OutcomeKind.NOT_CALLED


class SesNetworkError(SesError):
    """No usable answer: connection refused, timeout, HTTP error status, unreadable body."""

    def __init__(self, code: str, detail: str, kind: OutcomeKind) -> None:
        super().__init__(code, detail)
        self._kind = kind

    @property
    def kind(self) -> OutcomeKind:
        return self._kind
