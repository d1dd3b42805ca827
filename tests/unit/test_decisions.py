"""What the pipeline does with each send outcome (orchestrator/core/decisions.py): the whole table, row by row."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.decisions import (
    DOMAIN_LATER_MIN_S,
    FIRST_RECONCILE_AFTER_S,
    NOT_CALLED_MIN_S,
    POSTPONE_MAX_S,
    RECIPIENT_LATER_MIN_S,
    THROTTLED_MIN_S,
    Action,
    Decision,
    SideEffect,
    decide,
    identity_resume_at,
)
from orchestrator.core.retry import backoff_with_jitter_s
from orchestrator.core.sending import OutcomeKind as K
from orchestrator.core.sending import SendOutcome

NOW = 1_000_000.0
#: max_attempts, base_delay_s, max_delay_s as in the campaign file's defaults.
RETRY = (8, 30.0, 3600.0)


def _decide(outcome: SendOutcome, attempt: int = 2, seed: int = 1) -> Decision:
    max_attempts, base, cap = RETRY
    return decide(outcome, attempt, NOW, max_attempts, base, cap, random.Random(seed))


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(
            SendOutcome(K.ACCEPTED, message_id="qcloudses-1"),
            Decision(Action.ACCEPTED, value="qcloudses-1"),
            id="accepted-keeps-message-id",
        ),
        pytest.param(
            SendOutcome(K.IN_DOUBT, code="RequestTimeout", detail="no answer in 10 s"),
            Decision(
                Action.IN_DOUBT,
                value="RequestTimeout",
                ready_at=NOW + FIRST_RECONCILE_AFTER_S,
                detail="no answer in 10 s",
            ),
            id="in-doubt-keeps-the-budget-and-reconciles-later",
        ),
        pytest.param(
            SendOutcome(K.IN_DOUBT),
            Decision(Action.IN_DOUBT, value="in_doubt", ready_at=NOW + FIRST_RECONCILE_AFTER_S),
            id="in-doubt-without-code-names-its-kind",
        ),
        pytest.param(
            SendOutcome(K.CAMPAIGN_FATAL, code="AuthFailure.SecretIdNotFound", detail="unknown SecretId"),
            Decision(
                Action.PAUSE,
                value="AuthFailure.SecretIdNotFound",
                refund=True,
                detail="AuthFailure.SecretIdNotFound: unknown SecretId",
            ),
            id="fatal-pauses-with-code-and-detail",
        ),
        pytest.param(
            SendOutcome(K.CAMPAIGN_FATAL, code="FailedOperation.InsufficientBalance"),
            Decision(
                Action.PAUSE,
                value="FailedOperation.InsufficientBalance",
                refund=True,
                detail="FailedOperation.InsufficientBalance",
            ),
            id="fatal-without-detail-has-no-trailing-colon",
        ),
        pytest.param(
            SendOutcome(K.IDENTITY_TODAY, code="FailedOperation.ExceedSendLimit"),
            Decision(
                Action.REQUEUE,
                value="FailedOperation.ExceedSendLimit",
                refund=True,
                effect=SideEffect.STOP_IDENTITY,
            ),
            id="identity-today-requeues-and-stops-the-identity",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_NEVER, code="FailedOperation.EmailAddrInBlacklist"),
            Decision(
                Action.SUPPRESSED,
                value="FailedOperation.EmailAddrInBlacklist",
                refund=True,
                effect=SideEffect.BLOCKLIST,
            ),
            id="never-blacklisted-blocks-every-identity",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_NEVER, code="FailedOperation.RejectedByRecipients"),
            Decision(
                Action.SUPPRESSED,
                value="FailedOperation.RejectedByRecipients",
                refund=True,
                effect=SideEffect.BLOCKLIST,
            ),
            id="never-rejected-blocks-every-identity",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_NEVER, code="FailedOperation.ReceiverHasUnsubscribed"),
            Decision(
                Action.SUPPRESSED,
                value="FailedOperation.ReceiverHasUnsubscribed",
                refund=True,
                effect=SideEffect.UNSUBSCRIBED,
            ),
            id="never-unsubscribed-blocks-the-sender-domain",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_NEVER, code="FailedOperation.InvalidEmailAddress"),
            Decision(Action.SUPPRESSED, value="FailedOperation.InvalidEmailAddress", refund=True),
            id="never-other-code-suppresses-only",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_DATA, code="FailedOperation.MissingTemplateData", detail="no 'name'"),
            Decision(Action.FAILED, value="FailedOperation.MissingTemplateData", refund=True, detail="no 'name'"),
            id="data-fails-the-recipient",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_LATER, code="FailedOperation.FrequencyLimit"),
            Decision(
                Action.POSTPONE,
                value="FailedOperation.FrequencyLimit",
                ready_at=NOW + RECIPIENT_LATER_MIN_S,
                refund=True,
            ),
            id="recipient-later-waits-an-hour",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_LATER, code="FailedOperation.FrequencyLimit", defer_s=60.0),
            Decision(
                Action.POSTPONE,
                value="FailedOperation.FrequencyLimit",
                ready_at=NOW + RECIPIENT_LATER_MIN_S,
                refund=True,
            ),
            id="recipient-later-never-waits-less-than-an-hour",
        ),
        pytest.param(
            SendOutcome(K.RECIPIENT_LATER, code="FailedOperation.FrequencyLimit", defer_s=7200.0),
            Decision(Action.POSTPONE, value="FailedOperation.FrequencyLimit", ready_at=NOW + 7200.0, refund=True),
            id="recipient-later-waits-longer-when-told",
        ),
        pytest.param(
            SendOutcome(K.DOMAIN_LATER, code="FailedOperation.TemporaryBlocked"),
            Decision(
                Action.POSTPONE,
                value="FailedOperation.TemporaryBlocked",
                ready_at=NOW + DOMAIN_LATER_MIN_S,
                refund=True,
                effect=SideEffect.BLOCK_DOMAIN,
                until=NOW + DOMAIN_LATER_MIN_S,
            ),
            id="domain-later-holds-the-domain-ten-minutes",
        ),
        pytest.param(
            SendOutcome(K.DOMAIN_LATER, code="FailedOperation.TemporaryBlocked", defer_s=1800.0),
            Decision(
                Action.POSTPONE,
                value="FailedOperation.TemporaryBlocked",
                ready_at=NOW + 1800.0,
                refund=True,
                effect=SideEffect.BLOCK_DOMAIN,
                until=NOW + 1800.0,
            ),
            id="domain-later-holds-the-domain-as-long-as-told",
        ),
        pytest.param(
            SendOutcome(K.NOT_CALLED, code="Orchestrator.AccountBudgetBusy", defer_s=12.5),
            Decision(Action.POSTPONE, value="Orchestrator.AccountBudgetBusy", ready_at=NOW + 12.5, refund=True),
            id="not-called-waits-for-the-budget-and-counts-no-try",
        ),
        pytest.param(
            SendOutcome(K.NOT_CALLED, code="Orchestrator.AccountBudgetBusy", defer_s=0.0),
            Decision(
                Action.POSTPONE, value="Orchestrator.AccountBudgetBusy", ready_at=NOW + NOT_CALLED_MIN_S, refund=True
            ),
            id="not-called-waits-at-least-a-second",
        ),
    ],
)
def test_decide_each_outcome_kind(outcome: SendOutcome, expected: Decision) -> None:
    """Every outcome class of a try that is not the last maps to exactly one ledger action."""
    assert _decide(outcome) == expected


def test_decide_transient_backs_off_with_jitter() -> None:
    """A transient error is retried after the jittered backoff of its attempt, drawn from the given generator."""
    outcome = SendOutcome(K.TRANSIENT, code="InternalError")
    decisions = [_decide(outcome, attempt=attempt, seed=7) for attempt in range(1, 8)]
    expected_delays = [backoff_with_jitter_s(a, 30.0, 3600.0, random.Random(7)) for a in range(1, 8)]
    assert [d.ready_at - NOW for d in decisions] == pytest.approx(expected_delays)
    assert {(d.action, d.value, d.refund, d.effect) for d in decisions} == {
        (Action.RETRY, "InternalError", True, SideEffect.NONE)
    }
    for delay, base in zip(expected_delays, [30, 60, 120, 240, 480, 960, 1920], strict=True):
        assert base <= delay <= 1.1 * base


def test_decide_throttled_waits_a_second_or_two_and_counts_no_try() -> None:
    """Tencent's rate-limit refusal: back after 1-2 s (spread at random so the refused sends do not return in
    the same second), the budget given back, whatever the attempt."""
    outcome = SendOutcome(K.THROTTLED, code="RequestLimitExceeded", defer_s=1.0)
    decisions = [_decide(outcome, attempt=attempt, seed=attempt) for attempt in range(1, 40)]
    assert {(d.action, d.value, d.refund, d.effect) for d in decisions} == {
        (Action.POSTPONE, "RequestLimitExceeded", True, SideEffect.NONE)
    }
    delays = [d.ready_at - NOW for d in decisions]
    assert all(THROTTLED_MIN_S <= d <= 2 * THROTTLED_MIN_S for d in delays)
    assert len(set(delays)) == len(delays)


@pytest.mark.parametrize("defer_s", [1e300, float("inf"), float("nan"), 10 * 86_400.0])
def test_decide_never_puts_a_send_off_past_a_day(defer_s: float) -> None:
    """A wait beyond a day (an API budget's slot damaged by hand to 1e300) would park the recipient for
    ever: it comes back after POSTPONE_MAX_S instead; a real wait is kept as it is."""
    parked = _decide(SendOutcome(K.NOT_CALLED, code="Orchestrator.AccountBudgetBusy", defer_s=defer_s))
    assert (parked.action, parked.ready_at) == (Action.POSTPONE, NOW + POSTPONE_MAX_S)
    real = _decide(SendOutcome(K.NOT_CALLED, code="Orchestrator.AccountBudgetBusy", defer_s=42.0))
    assert real.ready_at == NOW + 42.0


@pytest.mark.parametrize(
    ("outcome", "action"),
    [
        pytest.param(SendOutcome(K.TRANSIENT, code="InternalError"), Action.FAILED, id="transient-fails"),
        # Deferred by Tencent, never taken: waiting is the cure, so no try is used up and none is the last.
        pytest.param(SendOutcome(K.RECIPIENT_LATER, code="F.FrequencyLimit"), Action.POSTPONE, id="later-waits"),
        pytest.param(SendOutcome(K.DOMAIN_LATER, code="F.TemporaryBlocked"), Action.POSTPONE, id="domain-waits"),
        pytest.param(SendOutcome(K.RECIPIENT_DATA, code="F.MissingData"), Action.FAILED, id="data-fails"),
        pytest.param(SendOutcome(K.ACCEPTED, message_id="m1"), Action.ACCEPTED, id="accepted-stays-accepted"),
        pytest.param(SendOutcome(K.IN_DOUBT), Action.IN_DOUBT, id="in-doubt-is-still-reconciled"),
        pytest.param(SendOutcome(K.CAMPAIGN_FATAL, code="AuthFailure"), Action.PAUSE, id="fatal-still-pauses"),
        pytest.param(SendOutcome(K.IDENTITY_TODAY, code="F.ExceedSendLimit"), Action.REQUEUE, id="quota-requeues"),
        pytest.param(SendOutcome(K.RECIPIENT_NEVER, code="F.Invalid"), Action.SUPPRESSED, id="never-suppresses"),
        pytest.param(SendOutcome(K.NOT_CALLED, defer_s=3.0), Action.POSTPONE, id="not-called-is-never-a-last-try"),
        pytest.param(SendOutcome(K.THROTTLED, code="RequestLimitExceeded"), Action.POSTPONE, id="throttle-never-fails"),
    ],
)
def test_decide_last_attempt(outcome: SendOutcome, action: Action) -> None:
    """On the last allowed try whatever would be retried fails (budget given back); the other rows are unchanged."""
    decision = _decide(outcome, attempt=RETRY[0])
    assert decision.action is action
    if action is Action.FAILED:
        assert (decision.refund, decision.ready_at, decision.effect) == (True, 0.0, SideEffect.NONE)


def test_decide_honours_the_reconcile_delay() -> None:
    """An in-doubt send is looked up after the caller's `reconcile_after_s`, not the default."""
    decision = decide(SendOutcome(K.IN_DOUBT), 1, NOW, 8, 30.0, 3600.0, random.Random(1), reconcile_after_s=5.0)
    assert decision.ready_at == NOW + 5.0


@pytest.mark.parametrize(
    ("now", "zone", "resume"),
    [
        pytest.param(_utc(2026, 12, 1, 14, 30), "Asia/Seoul", _utc(2026, 12, 1, 16), id="seoul-waits-for-china"),
        pytest.param(_utc(2026, 12, 1, 12), "UTC", _utc(2026, 12, 2), id="utc-midnight-is-later"),
        pytest.param(_utc(2026, 12, 1, 12), "Asia/Shanghai", _utc(2026, 12, 1, 16), id="china-itself"),
        pytest.param(_utc(2026, 12, 1, 15, 30), "Asia/Seoul", _utc(2026, 12, 2, 15), id="seoul-after-both-midnights"),
    ],
)
def test_identity_resume_at_waits_for_both_days(now: float, zone: str, resume: float) -> None:
    """A spent identity resumes at the later of its campaign's next midnight and China's."""
    assert identity_resume_at(now, ZoneInfo(zone)) == resume
