"""The classification of Tencent SES error codes into the pipeline's outcome classes."""

from __future__ import annotations

import httpx
import pytest
import structlog
import tencentcloud.ses.v20201002.errorcodes as sdk_errorcodes
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from orchestrator.core.sending import OutcomeKind
from orchestrator.ses.errors import CODES, classify, explain
from orchestrator.ses.failures import outcome_of_exception
from tests.error_table import SPEC_TABLE

K = OutcomeKind

#: The table of docs/tencent.md (from spec/tencent-ses.md), row by row.
TABLE: dict[str, OutcomeKind] = SPEC_TABLE

SDK_CODES = sorted(v for k, v in vars(sdk_errorcodes).items() if k.isupper() and isinstance(v, str))


@pytest.mark.parametrize(("code", "kind"), sorted(TABLE.items()), ids=sorted(TABLE))
def test_classify_follows_the_table(code: str, kind: OutcomeKind) -> None:
    """Each code of the error table gets the class the table gives it."""
    assert classify(code).kind is kind


@pytest.mark.parametrize("code", SDK_CODES)
def test_classify_knows_every_sdk_code(code: str) -> None:
    """Every code in the installed SDK's errorcodes.py has an explicit class, never ACCEPTED or IN_DOUBT."""
    cls = classify(code)
    assert code in CODES
    assert cls.known
    assert cls.kind not in (K.ACCEPTED, K.IN_DOUBT)


def test_classify_defers_recipient_and_domain_only() -> None:
    """Frequency defers an hour, a temporary block ten minutes; the quota leaves it to the pipeline."""
    assert classify("FailedOperation.FrequencyLimit").defer_s == 3600
    assert classify("FailedOperation.TemporaryBlocked").defer_s == 600
    assert classify("FailedOperation.ExceedSendLimit").defer_s is None
    assert classify("InternalError").defer_s is None


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        pytest.param("FailedOperation.SomethingNew", K.CAMPAIGN_FATAL, id="failed-operation"),
        pytest.param("OperationDenied.SomethingNew", K.CAMPAIGN_FATAL, id="operation-denied"),
        pytest.param("AuthFailure.SomethingNew", K.CAMPAIGN_FATAL, id="auth-failure"),
        pytest.param("InvalidParameter.SomethingNew", K.CAMPAIGN_FATAL, id="invalid-parameter"),
        pytest.param("InvalidParameterValue.SomethingNew", K.CAMPAIGN_FATAL, id="invalid-parameter-value"),
        pytest.param("Completely.Unheard", K.CAMPAIGN_FATAL, id="no-family"),
        pytest.param("InternalError.SomethingNew", K.TRANSIENT, id="internal-error"),
        pytest.param("RequestLimitExceeded.SomethingNew", K.THROTTLED, id="request-limit"),
        pytest.param("FailedOperation.ServiceNotAvailableNow", K.TRANSIENT, id="service-not-available"),
        pytest.param("FailedOperation.Timeout", K.IN_DOUBT, id="timeout-may-have-sent"),
        pytest.param("FailedOperation.BackendTimeOut", K.IN_DOUBT, id="timeout-other-case"),
        pytest.param("InternalError.BackendTimeout", K.IN_DOUBT, id="internal-error-timeout"),
        pytest.param("ServiceUnavailable.Timeout", K.IN_DOUBT, id="service-unavailable-timeout"),
        pytest.param("FailedOperation.ServerBusy", K.TRANSIENT, id="busy"),
    ],
)
def test_classify_unknown_codes_conservatively(code: str, kind: OutcomeKind) -> None:
    """An unknown code is fatal unless its name says it is temporary, in doubt when it names a timeout (the
    mail may have gone: looked up before any resend), and it is logged."""
    with structlog.testing.capture_logs() as logs:
        cls = classify(code)
    assert cls.kind is kind
    assert not cls.known
    assert [e["code"] for e in logs if e["event"] == "ses_unknown_error_code"] == [code]


def test_every_fatal_code_has_an_explanation() -> None:
    """Each campaign-fatal code explains itself in one line that completes "the campaign paused because"."""
    fatal = [code for code, (kind, _text) in CODES.items() if kind is K.CAMPAIGN_FATAL]
    bad = [c for c in fatal if not explain(c) or "\n" in explain(c) or explain(c).endswith(".")]
    assert len(fatal) > 50
    assert bad == []


_REQ = httpx.Request("POST", "http://127.0.0.1:1/")
SDKError = TencentCloudSDKException


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        pytest.param(httpx.ConnectError("refused", request=_REQ), K.TRANSIENT, id="connect-error"),
        pytest.param(httpx.ConnectTimeout("slow", request=_REQ), K.TRANSIENT, id="connect-timeout"),
        pytest.param(httpx.PoolTimeout("pool", request=_REQ), K.TRANSIENT, id="pool-timeout"),
        pytest.param(httpx.ReadTimeout("slow", request=_REQ), K.IN_DOUBT, id="read-timeout"),
        pytest.param(httpx.WriteTimeout("slow", request=_REQ), K.IN_DOUBT, id="write-timeout"),
        pytest.param(httpx.ReadError("reset", request=_REQ), K.IN_DOUBT, id="read-error"),
        pytest.param(httpx.WriteError("reset", request=_REQ), K.IN_DOUBT, id="write-error"),
        pytest.param(httpx.RemoteProtocolError("gone", request=_REQ), K.IN_DOUBT, id="remote-protocol"),
        pytest.param(ValueError("unreadable answer"), K.IN_DOUBT, id="anything-else"),
        pytest.param(SDKError("ServerNetworkError", b"<html>502</html>"), K.TRANSIENT, id="http-5xx"),
        pytest.param(SDKError("ClientNetworkError", "reset"), K.IN_DOUBT, id="sync-network"),
        pytest.param(SDKError("FailedOperation.FrequencyLimit", "x", "r1"), K.RECIPIENT_LATER, id="code"),
    ],
)
def test_outcome_of_exception_classifies_transport_failures(exc: Exception, kind: OutcomeKind) -> None:
    """Failures before the request left are transient; after it may have left they are in doubt."""
    outcome = outcome_of_exception(exc)
    assert outcome.kind is kind
    assert outcome.message_id is None


def test_an_exception_without_a_message_is_named_in_the_detail() -> None:
    """httpx's ReadTimeout often carries no text: the detail names it ("no usable answer from SES ()" before)."""
    outcome = outcome_of_exception(httpx.ReadTimeout(""))
    assert (outcome.kind, outcome.detail) == (OutcomeKind.IN_DOUBT, "no usable answer from SES (ReadTimeout)")
    outcome = outcome_of_exception(httpx.ConnectError(""))
    assert (outcome.kind, outcome.detail) == (OutcomeKind.TRANSIENT, "could not connect to SES (ConnectError)")
