"""`logs` and `watch` lines on a terminal: times in the campaign's zone, the data's moments as times too."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from orchestrator.commands.logs import event_line
from orchestrator.store.events import Event

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def test_the_lines_times_are_the_campaigns_and_its_moments_are_times() -> None:
    data = {"group": "naver", "held_until": repr(START + 600), "until": "soon", "sent": "1700000000"}
    line = event_line(Event("1-0", START, "domain_backoff", "c", "id-a", data), ZoneInfo("Asia/Seoul"))
    assert line == (
        "2026-12-01T09:00:00+09:00 domain_backoff id-a group=naver held_until=2026-12-01T09:10:00+09:00 "
        "until=soon sent=1700000000"  # not a moment field: left as stored
    )


def test_without_a_zone_the_hosts_is_used_and_a_far_moment_is_left_as_stored() -> None:
    line = event_line(Event("1-0", START, "send_retry", "c", "", {"ready_at": "1e300"}))
    when = datetime.fromtimestamp(START).astimezone().isoformat(timespec="seconds")
    assert line == f"{when} send_retry ready_at=1e300"
