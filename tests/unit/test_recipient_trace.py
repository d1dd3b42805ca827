"""The checklist `trace` applies to one address: the first fact that explains a missing mail, and its fix."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from orchestrator.core.recipient_trace import (
    ALONE,
    CORRECT_ADDRESS,
    CORRECT_ROW,
    DELIVERY_WAIT_S,
    DOUBT_FOR_THE_OPERATOR,
    MAIL_THIS_ROW,
    Attempt,
    Dropped,
    Listed,
    Outcome,
    Place,
    Seen,
    parse_history,
    verdict,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC).timestamp()
ADDR = "kim@naver.com"
CID = "spring-abc123"


def loaded(state: str, **more: object) -> Outcome:
    fields = more.pop("fields", ())
    return Outcome(Place(CID, 3, 2, "loaded"), "running", ("news.example.com",), state=state, fields=fields, **more)  # type: ignore[arg-type]


def dropped(kind: str, detail: str) -> Outcome:
    place = Place(CID, 5, None, kind)
    return Outcome(place, "running", ("news.example.com",), dropped=Dropped(5, ADDR, kind, detail))


SENT = NOW - 3600
BLOCK = Listed("blocklist", "", "550 user unknown", "default", NOW - 86400, NOW + 86400)
UNSUB = Listed("domain", "news.example.com", "one click", "unsubscribe", NOW - 7200)
OTHER_UNSUB = Listed("domain", "other.example.com", "one click", "unsubscribe", NOW - 7200)


@pytest.mark.parametrize(
    ("outcomes", "listed", "why_starts", "fix"),
    [
        pytest.param(
            [dropped("invalid", "bad syntax")],
            [],
            "row 5 of campaign spring-abc123 is not a usable recipient: bad syntax",
            "correct the row, then mail it alone: submit a campaign file whose recipient file holds only the corrected "
            "row (`orchestrate submit ... --new`)",
            id="invalid",
        ),
        pytest.param(
            [loaded("suppressed", fields=(("reason", "blocklist"),))],
            [BLOCK],
            "on Tencent's blocklist since 2026-12-02 12:00 UTC until 2026-12-04 12:00 UTC",
            f"if the address is right: orchestrate blocklist release {ADDR}",
            id="blocklisted",
        ),
        pytest.param(
            [loaded("suppressed", fields=(("reason", "domain:unsubscribe"),))],
            [UNSUB],
            "on the suppression list of sender domain news.example.com since 2026-12-03 10:00 UTC",
            "nothing to do: the recipient unsubscribed from news.example.com",
            id="unsubscribed",
        ),
        pytest.param(
            [loaded("queued", fields=(("attempts", "0"),))],
            [OTHER_UNSUB],
            "not sent yet: waiting for its turn",
            f"wait: see `orchestrate status {CID}` for today's caps",
            id="another-domain-unsubscribe-does-not-count",
        ),
        pytest.param(
            [Outcome(Place(CID, 3, 2, "loaded"), "paused", ("news.example.com",), state="queued")],
            [],
            f"not sent yet: campaign {CID} is paused",
            f"orchestrate resume {CID}",
            id="paused-by-the-operator",
        ),
        pytest.param(
            [
                Outcome(
                    Place(CID, 3, 2, "loaded"),
                    "paused",
                    ("news.example.com",),
                    state="queued",
                    self_paused="Orchestrator.NoCredentials: no key pair for account nosuch",
                )
            ],
            [],
            f"not sent yet: campaign {CID} paused itself (Orchestrator.NoCredentials: no key pair for account nosuch)",
            f'fix what it names, then: orchestrate resume {CID} --ack "what was done about it"',
            id="paused-itself-needs-ack",
        ),
        pytest.param(
            [dropped("duplicate", "2"), loaded("accepted", message_id="m1", accepted_at=SENT)],
            [],
            "accepted by Tencent at 2026-12-03 11:00 UTC (m1), no delivery event yet: mail may take up to 72 h",
            "wait until 2026-12-06 11:00 UTC, or ask Tencent: trace --live",
            id="accepted-no-event",
        ),
        pytest.param(
            [loaded("accepted", message_id="m1", accepted_at=NOW - DELIVERY_WAIT_S - 1)],
            [],
            "accepted by Tencent at 2026-11-30 11:59 UTC (m1), no delivery event after 72 h",
            "ask Tencent with trace --live; check the callback address in the SES console",
            id="accepted-long-ago",
        ),
        pytest.param(
            [loaded("accepted", message_id="m1", accepted_at=SENT, events=(Seen("delivered", SENT + 5),))],
            [],
            "accepted by Tencent at 2026-12-03 11:00 UTC, delivered at 2026-12-03 11:00 UTC",
            "nothing to do here: ask the recipient to look in spam or other folders",
            id="delivered",
        ),
        pytest.param(
            [loaded("accepted", message_id="m1", accepted_at=SENT, events=(Seen("hard_bounce", SENT + 5, "", "550"),))],
            [],
            "accepted by Tencent at 2026-12-03 11:00 UTC, then hard bounce at 2026-12-03 11:00 UTC: 550",
            f"the address does not take mail: {CORRECT_ADDRESS}",
            id="hard-bounce",
        ),
        pytest.param(
            [loaded("in_doubt", fields=(("since", repr(SENT)),))],
            [],
            "in doubt since 2026-12-03 11:00 UTC",
            "wait: it is never sent twice blindly (see `orchestrate status` for the in-doubt count)",
            id="in-doubt",
        ),
        pytest.param(
            [loaded("failed", fields=(("code", "FailedOperation.TemplateParamsInvalid"),))],
            [],
            "failed: Tencent answered FailedOperation.TemplateParamsInvalid",
            f"its template data: {CORRECT_ROW} (when many rows fail alike, template.data in the file is the cause)",
            id="failed-template",
        ),
    ],
)
def test_verdict_names_the_first_explanation_and_its_fix(
    outcomes: list[Outcome], listed: list[Listed], why_starts: str, fix: str
) -> None:
    """Each case of the checklist, in order: the answer's first words and the fix, whole."""
    v = verdict(outcomes, listed, ADDR, NOW)
    assert (v.why[: len(why_starts)], v.fix) == (why_starts, fix)


def test_parse_history_reads_every_outcome_and_skips_a_corrupt_one() -> None:
    """The stored attempts come back in order with their fields; an unreadable one is left out."""
    raw = "\x1e".join(
        [
            "100.5\x1fid-a\x1fretry\x1fFailedOperation.X\x1f1\x1f",
            "oops",
            "200\x1fid-a\x1freconciled_sent\x1fm1\x1f2\x1f150",
        ]
    )
    assert [(a.at, a.decision, a.code, a.attempt, a.in_doubt_since) for a in parse_history(raw)] == [
        (100.5, "retry", "FailedOperation.X", "1", None),
        (200.0, "reconciled_sent", "m1", "2", 150.0),
    ]


@pytest.mark.parametrize(
    "at",
    [
        pytest.param(0.0, id="epoch"),
        pytest.param(NOW, id="noon"),
        pytest.param(NOW + 86399.999, id="last-second-of-a-day"),
        pytest.param(1_709_164_800.5, id="leap-day"),
        pytest.param(-1.5, id="before-epoch"),
    ],
)
def test_export_when_writes_what_isoformat_writes(at: float) -> None:
    """The export's fast time format equals datetime's ISO 8601 to the second, in UTC."""
    from orchestrator.export import when

    expected = datetime.fromtimestamp(math.floor(at), tz=UTC).isoformat(timespec="seconds")
    assert when(at) == expected


@pytest.mark.parametrize("two_campaigns", [False, True], ids=["one-campaign", "two-campaigns"])
def test_the_printed_answer_names_its_campaign_when_several_had_the_address(
    two_campaigns: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """With two campaigns, `why` and `fix` say which one they are about (the latest); with one they need not."""
    from orchestrator.commands.trace import _print
    from orchestrator.trace import Trace

    older = Outcome(Place("winter-0001", 1, 0, "loaded"), "completed", ("news.example.com",), state="accepted")
    newer = loaded("queued")
    outcomes = [older, newer] if two_campaigns else [newer]
    _print(Trace(ADDR, outcomes, [], 0, verdict(outcomes, [], ADDR, NOW)))
    lines = capsys.readouterr().out.splitlines()
    why = next(line for line in lines if line.startswith("why"))
    fix = next(line for line in lines if line.startswith("fix"))
    if two_campaigns:
        assert why.startswith(f"why (campaign {CID}): ")
        assert fix.startswith(f"fix (campaign {CID}): ")
    else:
        assert why.startswith("why: ")
        assert fix.startswith("fix: ")


@pytest.mark.parametrize(
    ("row", "why_part", "fix"),
    [
        (
            {"DeliverStatus": 2, "DeliverMessage": "spam content"},
            "then dropped by Tencent by Tencent's record: spam content",
            f"once what it names is fixed, {ALONE}",
        ),
        (
            {"DeliverStatus": 3, "DeliverMessage": "550 no such user"},
            "rejected by the recipient's mail server by Tencent's record: 550 no such user",
            f"once what it names is fixed, {ALONE}",
        ),
        (
            {"DeliverStatus": 8, "DeliverMessage": "421 try later"},
            "deferred by the recipient's mail server by Tencent's record: 421 try later",
            "wait: Tencent tries a deferred mail again",
        ),
        (
            {"DeliverStatus": 0, "DeliverMessage": ""},
            "queued at Tencent by its record: not delivered yet",
            "wait, then ask again with trace --live",
        ),
    ],
    ids=["dropped", "rejected", "deferred", "queued"],
)
def test_tencents_record_answers_an_accepted_mail_no_event_explains(
    row: dict[str, object], why_part: str, fix: str
) -> None:
    o = loaded("accepted", message_id="m1", accepted_at=SENT)
    without = verdict([o], [], ADDR, NOW)
    assert without.fix.endswith("or ask Tencent: trace --live")
    found = verdict([o], [], ADDR, NOW, {"m1": [row]})
    assert why_part in found.why
    assert found.fix == fix


@pytest.mark.parametrize("age_h", [2, 100], ids=["recent", "after-72h"])
def test_a_live_lookup_that_failed_or_found_no_record_never_advises_running_it_as_if_not_run(age_h: int) -> None:
    """trace --live asked already: a failed call says to fix the lookup; no record says so and what next (the
    fix said "or ask Tencent: trace --live" after the lookup had just been made)."""
    o = loaded("accepted", message_id="m1", accepted_at=NOW - age_h * 3600)
    failed = verdict([o], [], ADDR, NOW, {"m1": "NoCredentials: none configured"})
    assert "Tencent's record could not be read (NoCredentials: none configured)" in failed.why
    assert "fix the lookup (credentials, network: orchestrate check), then ask again with trace --live" in failed.fix
    empty = verdict([o], [], ADDR, NOW, {"m1": []})
    if age_h < 72:
        assert "no record at Tencent yet" in empty.why
        assert empty.fix.endswith(", then ask again with trace --live")
        assert empty.fix.startswith("wait until ")
    else:
        assert "Tencent has no record of it" in empty.why
        assert empty.fix == "ask Tencent's support about MessageId m1; check the callback address"


def test_tencents_record_of_a_refused_send_or_a_delivery_time_is_read_as_such() -> None:
    o = loaded("accepted", message_id="m1", accepted_at=SENT)
    refused = verdict([o], [], ADDR, NOW, {"m1": [{"MessageId": "m1", "SendStatus": 3030, "DeliverStatus": 0}]})
    assert "did not send it: SendStatus 3030 (the bounce rate is too high: sending limited)" in refused.why
    delivered = verdict(
        [o],
        [],
        ADDR,
        NOW,
        {"m1": [{"MessageId": "m1", "SendStatus": 0, "DeliverStatus": 1, "DeliverTime": int(SENT) + 60}]},
    )
    assert "delivered at 2026-12-03 11:01 UTC by Tencent's record" in delivered.why
    other_first = [
        {"MessageId": "m0", "SendStatus": 0, "DeliverStatus": 2},
        {"MessageId": "m1", "SendStatus": 0, "DeliverStatus": 8},
    ]
    assert "deferred" in verdict([o], [], ADDR, NOW, {"m1": other_first}).why  # its own row, not the first


@pytest.mark.parametrize(
    ("outcome", "why_part", "fix"),
    [
        pytest.param(
            loaded("in_doubt", fields=(("since", repr(SENT)),), doubt_given_up=True),
            "whose records could not settle it",
            DOUBT_FOR_THE_OPERATOR,
            id="doubt-left-to-the-operator",  # it said the sweeper would settle it: the sweeper had stopped
        ),
        pytest.param(
            loaded("failed", fields=(("code", "InvalidParameterValue.InValidTemplateData"),)),
            "failed: Tencent answered InvalidParameterValue.InValidTemplateData",
            f"its template data: {CORRECT_ROW} (when many rows fail alike, template.data in the file is the cause)",
            id="row-data",  # it said: look the code up
        ),
        pytest.param(
            loaded("failed", fields=(("code", "InternalError"),)),
            "failed: Tencent answered InternalError",
            f"look up InternalError in Tencent's error codes; once it is fixed, {ALONE}",
            id="retries-spent",  # it said "submit again": the same file does nothing, an edited one mails all
        ),
        pytest.param(
            loaded(
                "queued",
                attempts=(Attempt(SENT, "t-id0", "postpone", "FailedOperation.FrequencyLimit", "1", None),),
            ),
            "not sent yet: Tencent answered FailedOperation.FrequencyLimit at 2026-12-03 11:00 UTC",
            f"wait: see `orchestrate status {CID}` for the next send",
            id="put-off-by-tencent",  # it said: waiting for its turn in the warm-up plan
        ),
    ],
)
def test_the_fix_fits_what_happened_to_the_row(outcome: Outcome, why_part: str, fix: str) -> None:
    found = verdict([outcome], [], ADDR, NOW)
    assert found is not None
    assert why_part in found.why
    assert found.fix == fix


def test_a_mail_tencent_did_not_send_to_a_blocklisted_address_says_to_release_it() -> None:
    o = loaded("accepted", message_id="m1", accepted_at=SENT)
    found = verdict([o], [], ADDR, NOW, {"m1": [{"MessageId": "m1", "SendStatus": 1007, "DeliverStatus": 0}]})
    assert found is not None
    assert found.fix == f"`orchestrate blocklist release ADDRESS` if the address is right, then {ALONE}"


def test_no_fix_says_submit_again() -> None:
    """Submitting the same file again does nothing; an edited copy mails every other row again."""
    from pathlib import Path

    import orchestrator.core.recipient_trace as rt

    assert "submit again" not in Path(rt.__file__).read_text(encoding="utf-8")


def test_mailing_a_row_again_says_another_campaign_already_mailed_the_address() -> None:
    """Delivered in campaign A, then still queued in campaign C, cancelled: the answer is about C ("mail that
    row alone") and said nothing of A's mail; it now says that would be a second mail."""
    first = Outcome(Place("a-1", 1, 0, "loaded"), "completed", ("news.example.com",), state="accepted")
    first = Outcome(first.place, "completed", first.sender_domains, state="accepted", message_id="m1", accepted_at=SENT)
    later = Outcome(Place("c-1", 1, 0, "loaded"), "cancelled", ("news.example.com",), state="queued")
    found = verdict([first, later], [], ADDR, NOW)
    assert found.campaign == "c-1"
    assert found.fix == (
        f"{MAIL_THIS_ROW} (campaign a-1 already had a mail to it accepted on 2026-12-03 11:00 UTC: "
        "this would be a second)"
    )
