"""The guardrails' judgement of one campaign's identities (orchestrator/guarding.py) on a real redis-server.

The pacer judges every minute: a changed count, a later hour and another campaign are each judged
from what is stored at that moment.
"""

from __future__ import annotations

import random
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.core.guard import decide
from orchestrator.core.guardrails import GuardrailsSpec
from orchestrator.core.quality import ACCEPTED, HOUR_S, METRICS, hour_of, quality, quality_hours
from orchestrator.guarding import Guard, judge_identities, judged_metrics
from orchestrator.store import keys
from orchestrator.store.feedback import FeedbackStore

NOW = 1_796_083_200.0 + 1800  # half past an hour
SPEC = Campaign.model_validate(
    {
        "name": "t",
        "identities": [{"id": "j-a", "from": "n@a.example.com"}, {"id": "j-b", "from": "n@b.example.com"}],
        "template": {"id": 1, "subject": "Hello"},
        "recipients": {"file": "r.csv"},
    }
)
IDS = ["j-a", "j-b"]


async def count(redis: Redis, hour: int, metric: str, identity: str, n: int) -> None:
    await redis.hincrby(keys.FB_COHORTS, f"{hour}|{metric}|i|{identity}", n)


async def test_a_count_changed_in_the_same_hour_is_judged_again(redis: Redis) -> None:
    """Same campaign, same instant, one more hard bounce: the second judgement sees it."""
    h = hour_of(NOW)
    await count(redis, h, ACCEPTED, "j-a", 1000)
    await count(redis, h, "hard_bounce", "j-a", 1)
    first = await judge_identities(redis, "c1", SPEC, IDS, NOW)
    again = await judge_identities(redis, "c1", SPEC, IDS, NOW)
    assert first == again
    assert (first["j-a"].verdicts["hard_bounce"].count, first["j-a"].pause) == (1, None)
    await count(redis, h, "hard_bounce", "j-a", 199)  # 20 % of 1,000: surely past the 10 % pause line
    after = await judge_identities(redis, "c1", SPEC, IDS, NOW)
    assert after["j-a"].verdicts["hard_bounce"].count == 200
    assert after["j-a"].pause is not None
    assert after["j-b"].verdicts["hard_bounce"].sample == 0


async def test_a_later_hour_reads_its_own_window(redis: Redis) -> None:
    """The same counts judged a whole window later: the old hours have left it."""
    h = hour_of(NOW)
    await count(redis, h, ACCEPTED, "j-a", 500)
    await count(redis, h, "hard_bounce", "j-a", 50)
    now_ = await judge_identities(redis, "c1", SPEC, IDS, NOW)
    later = await judge_identities(redis, "c1", SPEC, IDS, NOW + SPEC.guardrails.window_hours * HOUR_S)
    assert now_["j-a"].verdicts["hard_bounce"].sample == 500
    assert later["j-a"].verdicts["hard_bounce"].sample == 0


async def test_another_campaign_or_identity_list_is_judged_on_its_own(redis: Redis) -> None:
    """Two campaigns judged in turn at one instant each get their own identities' verdicts."""
    h = hour_of(NOW)
    await count(redis, h, ACCEPTED, "j-a", 300)
    await count(redis, h, ACCEPTED, "j-b", 700)
    a = await judge_identities(redis, "c1", SPEC, ["j-a"], NOW)
    b = await judge_identities(redis, "c2", SPEC, ["j-b"], NOW)
    both = await judge_identities(redis, "c1", SPEC, IDS, NOW)
    assert set(a) == {"j-a"}
    assert set(b) == {"j-b"}
    assert b["j-b"].verdicts["hard_bounce"].sample == 700
    assert {i: g.verdicts["hard_bounce"].sample for i, g in both.items()} == {"j-a": 300, "j-b": 700}


async def test_reading_only_the_judged_metrics_gives_the_verdicts_of_the_full_figures(redis: Redis) -> None:
    """The guard reads the denominator, deliveries and the metrics with a line (5 of 10 per hour), and
    its verdicts equal those worked out from every stored metric (what `status` reads)."""
    g = SPEC.guardrails
    lines = {line.metric: line for line in g.lines(SPEC.content)}
    assert judged_metrics(lines) == (ACCEPTED, "delivered", "complaint", "hard_bounce", "open")
    rnd = random.Random(7)
    for identity in IDS:
        for h in range(hour_of(NOW) - 47, hour_of(NOW) + 1):
            await count(redis, h, ACCEPTED, identity, rnd.randint(0, 400))
            for metric in METRICS:
                await count(redis, h, metric, identity, rnd.randint(0, 30))
    got = await judge_identities(redis, "c1", SPEC, IDS, NOW)
    window_s = g.window_hours * HOUR_S
    hours = list(quality_hours(NOW, window_s))
    for identity in IDS:
        full = await FeedbackStore(redis).buckets("i", identity, hours)
        assert got[identity] == decide(identity, quality(full, NOW, window_s, lines, g.confidence_z))
    assert any(v.level != "ok" for guard in got.values() for v in guard.verdicts.values())  # something to judge


async def test_the_day_roll_judges_every_hour_of_a_25_hour_day(redis: Redis) -> None:
    """New York, 2026-11-01 has 25 hours (01:00 comes twice). A day roll with `window_hours: 6` judges the
    whole day it closes, its first hour too: 8 % hard bounces sent in 00:00-01:00 hold the day (a window of
    24 hours ending at midnight left that hour out)."""
    zone = ZoneInfo("America/New_York")
    spec = SPEC.model_copy(
        update={"timezone": "America/New_York", "guardrails": GuardrailsSpec.model_validate({"window_hours": 6})}
    )
    first_hour = hour_of(datetime(2026, 11, 1, 0, 30, tzinfo=zone).timestamp())
    await count(redis, first_hour, ACCEPTED, "j-a", 1000)
    await count(redis, first_hour, "hard_bounce", "j-a", 80)
    roll_at = datetime(2026, 11, 2, 0, 1, tzinfo=zone).timestamp()
    rec = SimpleNamespace(cid="c", spec=spec)
    guards = await Guard(redis).for_day_roll(rec, roll_at, {"j-a": "2026-11-01"})  # type: ignore[arg-type]
    assert [v.line.metric for v in guards["j-a"].holds] == ["hard_bounce"]
