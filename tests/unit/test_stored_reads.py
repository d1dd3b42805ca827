"""Values the long-running processes read from Redis every tick, damaged: a named BadStoredValueError (the
pacer skips that campaign and goes on) or a value read as unknown, never a bare ValueError that stops it."""

from __future__ import annotations

import pytest

from orchestrator.store.deferrals import minutes, tally
from orchestrator.store.feedback import Sent, parse_sent
from orchestrator.store.stored_values import BadStoredValueError

NOW = 1_796_000_000.0


@pytest.mark.parametrize("value", ["abc", "1e300", "1.5"])
def test_a_deferral_count_that_is_not_a_whole_number_is_named(value: str) -> None:
    bucket = minutes(NOW, 600)[-1]
    with pytest.raises(BadStoredValueError, match="stored deferral count"):
        tally("news-a", {}, [(bucket, {"news-a|google|d": value})], 600, NOW)


def test_sound_deferral_counts_are_tallied() -> None:
    bucket = minutes(NOW, 600)[-1]
    found = tally(
        "news-a", {}, [(bucket, {"news-a|google|d": "3", "news-a|google|o": "7", "other|x|d": "9"})], 600, NOW
    )
    assert found == {"google": (3, 7)}


@pytest.mark.parametrize("at", ["1e300", "inf", "-1e300", "nan", "abc"])
def test_a_send_time_no_date_holds_reads_as_unknown(at: str) -> None:
    """The follow-up and the callbacks go on with the mail (its time unknown) instead of failing on it."""
    assert parse_sent(f"spring-1a2b3c:17|news-a|{at}") == Sent("spring-1a2b3c", 17, "news-a", None)
    assert parse_sent("spring-1a2b3c:17|news-a|1796000000.25") == Sent("spring-1a2b3c", 17, "news-a", 1796000000.25)
    assert parse_sent("spring-1a2b3c:x|news-a|1796000000.25") is None
