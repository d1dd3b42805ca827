"""What one GetSendEmailStatus row stands for (the delivery follow-up), read from the SDK's own model."""

from __future__ import annotations

import json

from tencentcloud.ses.v20201002 import models

from workers.followup import events_of_status

NOW = 1_764_547_200.0


def row(**fields: object) -> models.SendEmailStatus:
    base = {"MessageId": "m1", "FromEmailAddress": "News <news@d0.example.com>", "DeliverStatus": 1}
    status = models.SendEmailStatus()
    status.from_json_string(json.dumps({**base, **fields}))
    return status


def test_a_delivered_row_with_flags_stands_for_each_event() -> None:
    events, settled = events_of_status(row(UserOpened=True, UserComplained=True), "m1", "a@example.com", NOW)
    assert settled
    assert [e.metric for e in events] == ["delivered", "open", "complaint"]
    assert {e.from_domain for e in events} == {"d0.example.com"}


def test_a_complaint_under_its_older_name_counts_too() -> None:
    """Tencent's example answer shows `UserComplainted`, the SDK's deprecated field: still a complaint."""
    events, _ = events_of_status(row(UserComplainted=True), "m1", "a@example.com", NOW)
    assert [e.metric for e in events] == ["delivered", "complaint"]


def test_a_row_without_flags_is_its_delivery_only() -> None:
    events, settled = events_of_status(row(DeliverStatus=8), "m1", "a@example.com", NOW)
    assert not settled
    assert [e.metric for e in events] == ["deferred"]


def test_a_row_tencent_did_not_send_is_dropped_and_settled_whatever_its_flags() -> None:
    """SendStatus 1007 on a mail SendEmail accepted: Tencent never sent it (the address is blocklisted):
    one dropped event naming the code, settled, so the follow-up stops asking (it asked until 78 h)."""
    events, settled = events_of_status(
        row(SendStatus=1007, DeliverStatus=0, UserOpened=True, DeliverMessage="x"), "m1", "a@example.com", NOW
    )
    assert settled
    assert [(e.event, e.metric) for e in events] == [("dropped", "dropped")]
    assert events[0].reason == "SendStatus 1007 (the address is on the blocklist) x"


def test_a_row_saying_no_record_yet_settles_nothing() -> None:
    """SendStatus 2001 (no record): not Tencent saying it did not send the mail; asked about again later."""
    events, settled = events_of_status(row(SendStatus=2001, DeliverStatus=0), "m1", "a@example.com", NOW)
    assert (events, settled) == ([], False)
