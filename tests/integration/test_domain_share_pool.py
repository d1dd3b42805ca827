"""The recipient-domain share is of each identity's hour: several identities of one campaign each give
every provider its share, whatever the others do (the held recipients are the campaign's, the shares
the identities')."""

from __future__ import annotations

from collections import Counter

from tests.pipeline_harness import START, Pipeline

HOUR = 3600.0


def two_providers(n: int) -> str:
    rows = [f"user{i}@{'gmail.com' if i % 2 else 'naver.com'},Name{i}" for i in range(2 * n)]
    return "email,first_name\n" + "\n".join(rows) + "\n"


async def test_two_identities_each_send_both_providers_at_their_share(pipe: Pipeline) -> None:
    """Two identities at 100 an hour, a 30 % share, a list half gmail, half naver: in every hour after
    the first, each identity sends each provider about 30 (60 an hour each, 120 in all), not one
    provider apiece (which held the campaign to one identity's share of each provider: 60 in all)."""
    extra = {
        "plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 100}]},
        "shaping": {"max_domain_share": 0.3},
    }
    await pipe.submit(two_providers(1000), identities=2, extra=extra)
    await pipe.run(4 * HOUR)
    for hour in range(1, 4):
        start = START + hour * HOUR
        sent = Counter(
            (r.from_address.split("@")[1].rstrip(">"), r.to_address.split("@")[1])
            for r in pipe.emu.send_log
            if start <= r.time < start + HOUR
        )
        for sender in ("d0.example.com", "d1.example.com"):
            for provider in ("gmail.com", "naver.com"):
                assert 27 <= sent[(sender, provider)] <= 31, (hour, sent)
    assert max(Counter(r.to_address for r in pipe.emu.send_log).values()) == 1  # none twice
