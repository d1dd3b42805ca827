"""`trace`'s answers for a row that was not sent, an address Tencent refused, and an address only a list holds."""

from __future__ import annotations

import pytest

from orchestrator.core import recipient_trace
from orchestrator.core.recipient_trace import Listed, Outcome, Place, Verdict, verdict
from tests.unit.test_recipient_trace import ADDR, CID, NOW, dropped, loaded

#: Mails only this row: never the whole list again (`submit FILE --new` would mail every recipient again).
ONE_ROW = "to mail it, submit a campaign file whose recipient file holds only this row (`orchestrate submit ... --new`)"
ALL_BOUNCE = Listed("all", "", "550 5.1.1 user unknown", "hard_bounce", NOW - 86400)
ALL_COMPLAINT = Listed("all", "", "spam report", "complaint", NOW - 3600)
DOMAIN_OPERATOR = Listed("domain", "d0.example.com", "asked by phone", "operator", NOW - 600)
EXPIRED_BLOCK = Listed("blocklist", "", "550 user unknown", "default", NOW - 30 * 86400, NOW - 86400)


def list_verdict(listed: list[Listed], address: str, now: float) -> Verdict | None:
    """`recipient_trace.list_verdict`, looked up when called (a test of another case runs without it)."""
    answer: Verdict | None = recipient_trace.list_verdict(listed, address, now)
    return answer


def _unsent(state: str) -> Outcome:
    return Outcome(Place(CID, 3, 2, "loaded"), state, ("news.example.com",), state="queued")


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        pytest.param(dropped("suppressed", "all:operator"), "suppressed at submit (all:operator)", id="at-submit"),
        pytest.param(
            loaded("suppressed", fields=(("reason", "domain:unsubscribe"),)),
            "not sent: suppressed just before sending (domain:unsubscribe)",
            id="just-before-sending",
        ),
        pytest.param(
            loaded("suppressed", fields=(("reason", "FailedOperation.EmailAddrInBlacklist"),)),
            "not sent: Tencent refused it (FailedOperation.EmailAddrInBlacklist); the list entry is gone now",
            id="blocklist-code-entry-expired",
        ),
        pytest.param(_unsent("cancelled"), f"not sent yet: campaign {CID} is cancelled", id="cancelled"),
        pytest.param(_unsent("completed"), f"not sent yet: campaign {CID} is completed", id="completed"),
    ],
)
def test_a_row_not_sent_is_mailed_alone_never_with_the_whole_list(outcome: Outcome, why: str) -> None:
    """The fix mails this row only: `submit FILE --new` with the campaign's file would mail every recipient again."""
    v = verdict([outcome], [], ADDR, NOW)
    assert v.why.startswith(why)
    assert v.fix == ONE_ROW
    assert "FILE" not in v.fix


@pytest.mark.parametrize(
    "code",
    [
        "FailedOperation.IncorrectEmail",
        "FailedOperation.UnsupportMailType",
        "InvalidParameterValue.IllegalEmailAddress",
        "InvalidParameterValue.ReceiverEmailInvalid",
    ],
)
def test_an_address_tencent_refused_at_send_time_is_corrected_not_sent_again(code: str) -> None:
    """A recipient-never code that made no list entry: Tencent refused the address itself, and would again."""
    v = verdict([loaded("suppressed", fields=(("reason", code),))], [], ADDR, NOW)
    assert (v.why, v.fix) == (
        f"not sent: Tencent refused the address ({code})",
        recipient_trace.CORRECT_ADDRESS,  # the failed-code fix's words
    )
    failed = verdict(
        [loaded("failed", fields=(("code", "InvalidParameterValue.ReceiverEmailInvalid"),))], [], ADDR, NOW
    )
    assert failed.fix == v.fix


@pytest.mark.parametrize(
    ("listed", "why_starts", "fix"),
    [
        pytest.param(
            [ALL_BOUNCE],
            "suppressed for every sender domain since 2026-12-02 12:00 UTC (hard_bounce: 550 5.1.1 user unknown)",
            f"if the address is right now: orchestrate suppress remove {ADDR}",
            id="hard-bounce",
        ),
        pytest.param(
            [ALL_COMPLAINT],
            "suppressed for every sender domain",
            "nothing to do: the recipient reported the mail as spam",
        ),
        pytest.param(
            [EXPIRED_BLOCK, DOMAIN_OPERATOR],
            "on the suppression list of sender domain d0.example.com since 2026-12-03 11:50 UTC (operator:",
            f"if it should be mailed: orchestrate suppress remove {ADDR} --sender-domain d0.example.com",
            id="sender-domain-past-an-expired-blocklist-entry",
        ),
    ],
)
def test_an_address_only_a_list_holds_gets_that_lists_answer(listed: list[Listed], why_starts: str, fix: str) -> None:
    """No campaign keeps a row (compacted since): the list entry still explains, with its fix, of no campaign."""
    v = list_verdict(listed, ADDR, NOW)
    assert v is not None
    assert (v.campaign, v.why[: len(why_starts)], v.fix) == ("", why_starts, fix)


def test_no_list_entry_that_stops_a_mail_gives_no_answer() -> None:
    assert list_verdict([], ADDR, NOW) is None
    assert list_verdict([EXPIRED_BLOCK], ADDR, NOW) is None


def test_the_printed_trace_of_an_address_only_a_list_holds_shows_the_entry_and_its_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.commands.trace import _print
    from orchestrator.store.compaction import Compacted
    from orchestrator.trace import Trace, as_json

    gone = Compacted("spring-abc123", "spring", "completed", NOW - 86400, True, {"accepted": 5})
    found = Trace(ADDR, [], [ALL_BOUNCE], 0, list_verdict([ALL_BOUNCE], ADDR, NOW), compacted=[gone])
    _print(found)
    assert capsys.readouterr().out.splitlines() == [
        f"{ADDR}: not in any campaign that still keeps its rows",
        "  list: suppressed for every sender domain since 2026-12-02 12:00:00 UTC: hard_bounce: 550 5.1.1 user unknown",
        "why: suppressed for every sender domain since 2026-12-02 12:00 UTC (hard_bounce: 550 5.1.1 user unknown)",
        f"fix: if the address is right now: orchestrate suppress remove {ADDR}",
        "  not searched: campaign spring-abc123 (spring, completed): per-recipient data compacted on 2026-12-02; "
        "summary: accepted 5",
    ]
    out = as_json(found)
    assert (out["seen"], out["verdict"]["campaign"], len(out["lists"])) == (False, None, 1)
