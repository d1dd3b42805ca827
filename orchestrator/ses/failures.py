"""Every failure of an SDK call as a classified SendOutcome: Tencent error codes, SDK errors, raw httpx errors."""

from __future__ import annotations

import httpx
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from orchestrator.core.sending import OutcomeKind, SendOutcome
from orchestrator.core.text import mask_secret
from orchestrator.ses.errors import PASSED_ON_STATUSES, SesError, SesNetworkError, classify, explain


async def gateway_answer(response: httpx.Response) -> None:
    """httpx response hook: a SendEmail the gateway answered after passing it on becomes a send in
    doubt (raised here, before the SDK reads it as a plain `ServerNetworkError`, which is retried)."""
    status = response.status_code
    if status in PASSED_ON_STATUSES and response.request.headers.get("X-TC-Action") == "SendEmail":
        code = f"HTTP{status}"
        raise SesNetworkError(code, explain(code), OutcomeKind.IN_DOUBT)


def outcome_of_exception(exc: Exception) -> SendOutcome:
    """Classify any failure of an SDK call (Tencent error code, SDK error, raw httpx error)."""
    if isinstance(exc, SesError):
        return SendOutcome(exc.kind, code=exc.code, detail=exc.detail, defer_s=exc.defer_s, request_id=exc.request_id)
    if isinstance(exc, TencentCloudSDKException):
        code = str(exc.code or "ClientError")
        cls = classify(code)
        message = exc.message.decode("utf-8", "replace") if isinstance(exc.message, bytes) else str(exc.message or "")
        detail = f"{cls.explanation} ({_short(message)})" if message else cls.explanation
        return SendOutcome(cls.kind, code=code, detail=detail, defer_s=cls.defer_s, request_id=exc.requestId)
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ProxyError):
        # The request never left this machine: safe to retry.
        why = _short(str(exc)) or name
        return SendOutcome(OutcomeKind.TRANSIENT, code=name, detail=f"could not connect to SES ({why})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return SendOutcome(OutcomeKind.CAMPAIGN_FATAL, code=name, detail=f"the SES endpoint is malformed ({exc})")
    # Read/write timeouts, dropped connections, unreadable answers: the mail may have gone.
    why = _short(str(exc)) or name  # httpx's ReadTimeout says nothing more than its name
    return SendOutcome(OutcomeKind.IN_DOUBT, code=name, detail=f"no usable answer from SES ({why})")


def redacted(outcome: SendOutcome, secrets: tuple[str, ...]) -> SendOutcome:
    """`outcome` with every secret in its detail replaced by ***."""
    detail = outcome.detail
    for secret in secrets:
        detail = mask_secret(detail, secret)
    if detail == outcome.detail:
        return outcome
    return SendOutcome(outcome.kind, outcome.message_id, outcome.code, detail, outcome.defer_s, outcome.request_id)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
