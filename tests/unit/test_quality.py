"""The quality rules: event -> metric, cohort windows, rates with samples, Wilson-judged flags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.callback_event import BadEventError, parse_body
from orchestrator.core.quality import (
    DEFAULT_LINES,
    METRICS,
    Figure,
    hour_of,
    metric_of,
    quality,
    summary_line,
    window_hours,
)
from orchestrator.store.feedback import COHORT_KEEP_S

H = 500_000  # an hour bucket
NOW = H * 3600 + 1800.0


@pytest.mark.parametrize(
    ("event", "bounce_type", "metric"),
    [
        pytest.param("delivered", "", "delivered", id="delivered"),
        pytest.param("bounce", "hard_bounce", "hard_bounce", id="hard"),
        pytest.param("bounce", "soft_bounce", "soft_bounce", id="soft"),
        pytest.param("bounce", "", "soft_bounce", id="untyped-bounce-is-soft"),
        pytest.param("spamreport", "", "complaint", id="complaint"),
        pytest.param("unsubscribe", "", "unsubscribe", id="unsubscribe"),
        pytest.param("open", "", "open", id="open"),
        pytest.param("click", "", "click", id="click"),
        pytest.param("deferred", "", "deferred", id="deferred"),
        pytest.param("dropped", "", "dropped", id="dropped"),
        pytest.param("reject", "", None, id="unknown"),
    ],
)
def test_metric_of_maps_tencent_events(event: str, bounce_type: str, metric: str | None) -> None:
    """Each Tencent event name counts in one metric; an unknown name in none."""
    assert metric_of(event, bounce_type) == metric


@pytest.mark.parametrize(
    ("metric", "first", "last"),
    [
        pytest.param("delivered", H - 23, H, id="current-day"),
        pytest.param("accepted", H - 23, H, id="accepted"),
        pytest.param("open", H - 48, H - 25, id="open-on-sends-a-day-old"),
        pytest.param("click", H - 48, H - 25, id="click-on-sends-a-day-old"),
    ],
)
def test_window_hours_cohorts(metric: str, first: int, last: int) -> None:
    """The rolling window reads the last 24 cohorts; late metrics the 24 whole hours of sends a day old or more."""
    hours = window_hours(NOW, metric)
    assert (hours[0], hours[-1], len(hours)) == (first, last, 24)
    assert hour_of(NOW) == H


@pytest.mark.parametrize(("window_h", "settled"), [(1, 24), (6, 24), (24, 24), (48, 48), (96, 96)])
def test_late_metrics_are_read_on_sends_a_day_old_at_least(window_h: int, settled: int) -> None:
    """Opens and settled complaints are judged only on sends at least 24 h old (spec section 7), however
    short the window; a longer window waits its own length. The cohorts read stay within the 8 days kept."""
    hours = window_hours(NOW, "open", window_h * 3600)
    assert (hours[-1], len(hours)) == (H - settled - 1, window_h)
    assert hours[0] >= hour_of(NOW - COHORT_KEEP_S)


def test_quality_rates_over_their_own_cohorts() -> None:
    """Rates divide by the accepted of the same cohorts; counts outside the window are left out."""
    buckets = {
        H: {"accepted": 100, "delivered": 90, "hard_bounce": 6},
        H - 10: {"accepted": 100, "delivered": 100},
        H - 30: {"accepted": 50, "open": 20, "delivered": 50},
        H - 60: {"accepted": 999, "hard_bounce": 999, "open": 999},
    }
    q = quality(buckets, NOW).as_json()
    assert q["window_s"] == 86400
    assert q["accepted"] == 200
    assert q["metrics"]["delivered"] == {"count": 190, "sample": 200, "rate": 0.95, "hold": None, "pause": None}
    assert q["metrics"]["hard_bounce"] == {"count": 6, "sample": 200, "rate": 0.03, "hold": 0.05, "pause": 0.1}
    assert q["metrics"]["open"] == {"count": 20, "sample": 50, "rate": 0.4, "hold": 0.5, "pause": None}
    assert q["metrics"]["complaint"]["hold"] == 0.001
    assert set(q["metrics"]) == set(METRICS)


def test_quality_without_sends_has_no_rate() -> None:
    """No sample, no rate and no flag."""
    q = quality({}, NOW)
    assert q.metrics["hard_bounce"].rate is None
    assert q.flags() == {}


@pytest.mark.parametrize(
    ("metric", "count", "sample", "flag"),
    [
        pytest.param("hard_bounce", 7, 100, None, id="bounces-under-the-minimum-sample"),
        pytest.param("hard_bounce", 55, 1000, None, id="5.5pct-of-1000-is-noise"),
        pytest.param("hard_bounce", 60, 1000, "hold", id="6pct-of-1000-holds"),
        pytest.param("hard_bounce", 100, 1000, "hold", id="10pct-of-1000-holds"),
        pytest.param("hard_bounce", 200, 1000, "pause", id="20pct-of-1000-pauses"),
        pytest.param("open", 20, 300, "hold", id="open-7pct-holds"),
        pytest.param("open", 145, 300, None, id="open-48pct-is-noise"),
        pytest.param("open", 0, 0, None, id="no-sample"),
        pytest.param("delivered", 0, 1000, None, id="no-line"),
    ],
)
def test_figure_flag_follows_the_guardrail_lines(metric: str, count: int, sample: int, flag: str | None) -> None:
    """A flag is the verdict of the metric's guardrail line on its evidence (core/evidence.py)."""
    assert Figure(count, sample, DEFAULT_LINES.get(metric)).flag() == flag


def test_summary_line_names_samples_and_flags() -> None:
    """The status line shows rates with their samples and a pause flag in capitals."""
    q = quality({H: {"accepted": 1000, "hard_bounce": 200, "delivered": 800}}, NOW)
    line = summary_line(q, q.flags())
    assert "hard 20.0% (n=1,000)" in line
    assert "PAUSE:hard_bounce" in line
    assert line.startswith("24h accepted 1,000")


def test_summary_line_before_any_event_says_so_not_zero_delivered() -> None:
    """Sends Tencent took, and no event about them yet (callbacks not come, no follow-up yet): the line says
    that, not "dlv 0.0%", which reads as nothing delivered; one event and the rates are shown."""
    waiting = summary_line(quality({H: {"accepted": 300}}, NOW), {})
    assert waiting == "24h accepted 300  no Tencent event yet"
    bounced = summary_line(quality({H: {"accepted": 300, "hard_bounce": 3}}, NOW), {})
    assert "dlv 0.0% (n=300)" in bounced
    assert "hard 1.0% (n=300)" in bounced
    assert (
        summary_line(quality({}, NOW), {}) == "24h accepted 0  dlv - (n=0)  hard - (n=0)  compl - (n=0)  open - (n=0)"
    )


GOOD = (
    b'{"event":"bounce","bulkId":"m1","email":"A@Example.COM","timestamp":1700000000,'
    b'"bounceType":"hard_bounce","fromDomain":"d0.example.com"}'
)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{nope", "body: not JSON", id="malformed"),
        pytest.param(b"42", "body: an object or a list", id="scalar"),
        pytest.param(b"[]", "body: an empty list", id="empty-list"),
        pytest.param(b'{"event":"bogus"}', "body.event: unknown event 'bogus'", id="unknown-event"),
        pytest.param(b'{"event":7}', "body.event: a string, not int", id="event-type"),
        pytest.param(
            b'{"event":"open","bulkId":"m","email":"x@y.com","timestamp":"soon"}',
            "body.timestamp: seconds since the epoch",
            id="timestamp-type",
        ),
        pytest.param(
            b'{"event":"open","bulkId":"m","email":"nope","timestamp":1}', "body.email: bad syntax", id="email"
        ),
        pytest.param(b'{"event":"open","email":"x@y.com","timestamp":1}', "body.bulkId: missing", id="no-bulkid"),
        pytest.param(
            b'{"event":"unsubscribe","bulkId":"m","email":"x@y.com","timestamp":1}',
            "body.fromDomain: an unsubscribe needs the sender domain",
            id="unsubscribe-without-sender",
        ),
        pytest.param(
            '{"event":"open","bulkId":"m","email":"x@y.com","timestamp":"\u00b2"}'.encode(),
            "body.timestamp: seconds since the epoch",
            id="timestamp-superscript-digit",
        ),
        pytest.param(
            b'{"event":"unsubscribe","bulkId":"m","email":"x@y.com","timestamp":1,"fromDomain":"not a domain/.."}',
            "body.fromDomain: not a domain name",
            id="from-domain-not-a-domain",
        ),
        pytest.param(
            b'{"event":"unsubscribe","bulkId":"m","email":"x@y.com","timestamp":1,"from":"News <news@>"}',
            "body.from: not a sender address",
            id="from-not-an-address",
        ),
        pytest.param(b"[" + b",".join([GOOD] * 1001) + b"]", "body: 1001 events, more than 1000", id="too-many"),
        pytest.param(b"[" + GOOD + b",3]", "body[1]: an object, not int", id="bad-item-in-list"),
    ],
)
def test_parse_body_refuses_with_one_line(body: bytes, reason: str) -> None:
    """A body that cannot be counted is refused with a one-line reason naming the place."""
    with pytest.raises(BadEventError) as exc:
        parse_body(body)
    assert str(exc.value).startswith(reason)
    assert "\n" not in str(exc.value)


def test_parse_body_normalises() -> None:
    """An event is read with its metric, normalised address and sender domain; a list gives each."""
    (e,) = parse_body(GOOD)
    assert (e.message_id, e.metric, e.address, e.from_domain, e.group) == (
        "m1",
        "hard_bounce",
        "A@example.com",
        "d0.example.com",
        "example.com",
    )
    assert len(parse_body(b"[" + GOOD + b"," + GOOD + b"]")) == 2
    assert parse_body(e.as_json().encode()) == [e]


@pytest.mark.parametrize(
    "sender",
    ['"News <news@a.example.com>"', '"news@A.example.com"', '"  News  <news@a.example.com>  "'],
    ids=["alias-and-angle-brackets", "bare-address", "spaces"],
)
def test_the_sender_domain_of_from_is_its_domain_only(sender: str) -> None:
    """Without fromDomain, the domain of `from`: never a trailing '>' that no list could be named by."""
    body = b'{"event":"unsubscribe","bulkId":"m","email":"x@y.com","timestamp":1,"from":' + sender.encode() + b"}"
    (e,) = parse_body(body)
    assert e.from_domain == "a.example.com"


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.integers(H - 60, H + 2),
        st.dictionaries(st.sampled_from([*METRICS, "accepted", "other"]), st.integers(0, 10**6), max_size=11),
        max_size=40,
    ),
    st.sampled_from([3600, 6 * 3600, 86_400]),
)
def test_each_figure_is_its_metric_summed_over_its_own_window(
    buckets: dict[int, dict[str, int]], window_s: int
) -> None:
    """Every count and sample is the plain sum of that metric over the cohorts `window_hours` names (the
    sample: accepted; delivered for opens and clicks)."""
    q = quality(buckets, NOW, window_s)

    def total(metric: str, hours: range) -> int:
        return sum(buckets.get(h, {}).get(metric, 0) for h in hours)

    for metric in METRICS:
        hours = window_hours(NOW, metric, window_s)
        per = "delivered" if metric in ("open", "click") else "accepted"
        assert (q.metrics[metric].count, q.metrics[metric].sample) == (total(metric, hours), total(per, hours))
    assert q.accepted == total("accepted", window_hours(NOW, "accepted", window_s))


def test_an_event_other_than_unsubscribe_is_counted_whatever_its_sender_fields() -> None:
    """A delivered event with a fromDomain that is no domain (as a sender written 'Alias <a@d>' gave
    'd>') still counts, with the domain of `from`; only an unsubscribe needs a usable one."""
    body = (
        b'{"event":"delivered","bulkId":"m","email":"x@y.com","timestamp":1,'
        b'"from":"News <news@d0.example.com>","fromDomain":"d0.example.com>"}'
    )
    (e,) = parse_body(body)
    assert (e.metric, e.from_domain) == ("delivered", "d0.example.com")
    (bare,) = parse_body(b'{"event":"open","bulkId":"m","email":"x@y.com","timestamp":1,"fromDomain":"a b"}')
    assert bare.from_domain == ""


def test_the_emulator_posts_the_sender_domain_alone() -> None:
    import random

    from orchestrator.ses.emulator.recipients import fate_of
    from orchestrator.ses.emulator.world import Behaviour

    fate = fate_of(
        random.Random(1),
        Behaviour(),
        sent_at=1.0,
        account="default",
        from_address="news@d0.example.com",  # as SendEmail parsed it from 'News <news@d0.example.com>'
        to_address="x@y.com",
        message_id="m1",
        template_id=1,
        subject="Hi",
    )
    assert fate.events
    assert {e["fromDomain"] for e in fate.events} == {"d0.example.com"}


@pytest.mark.parametrize(
    ("given", "metric"),
    [
        ("hard", "hard_bounce"),
        ("HARD", "hard_bounce"),
        ("soft", "soft_bounce"),
        ("HARD_BOUNCE", "hard_bounce"),  # a spelling in capitals is the same type, whichever spelling
        (" Hard_Bounce ", "hard_bounce"),
        ("SOFT_BOUNCE", "soft_bounce"),
    ],
)
def test_a_bounce_typed_as_tencents_chinese_documentation_writes_it_counts_by_its_type(given: str, metric: str) -> None:
    """`bounceType: "hard"` (Tencent's Chinese webhook page) is a hard bounce: it suppresses and counts toward
    the hard-bounce guardrail, never a soft bounce by default."""
    body = GOOD.replace(b'"hard_bounce"', f'"{given}"'.encode())
    [event] = parse_body(body)
    assert (event.metric, event.bounce_type) == (metric, metric)


def test_a_processed_event_is_answered_and_not_counted() -> None:
    """Tencent's intermediate `processed` event says nothing of the mail's fate: accepted, never a 400."""
    processed = b'{"event":"processed","bulkId":"m2","email":"a@example.com","timestamp":1700000000}'
    assert parse_body(processed) == []
    assert [e.message_id for e in parse_body(b"[" + processed + b"," + GOOD + b"]")] == ["m1"]


def test_the_open_window_reads_only_sends_at_least_a_day_old() -> None:
    """One minute into an hour, the newest cohort read for opens holds sends 24 h 1 min to 25 h 1 min old."""
    now = 1_000 * 3600 + 60.0
    late = window_hours(now, "open")
    newest_send = late.stop * 3600  # the end of the newest cohort read
    oldest_send = late.start * 3600
    assert now - newest_send >= 24 * 3600
    assert now - oldest_send <= 49 * 3600
    assert len(late) == 24
