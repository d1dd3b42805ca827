"""Which daily quota an identity keeps to: Tencent's live one once read, the campaign file's before."""

from __future__ import annotations

import pytest

from orchestrator.core.progress import IdentityProgress
from orchestrator.store.identities import IdentityState


def _state(file_quota: int | None, live: int | None) -> IdentityState:
    return IdentityState(
        id="news-a",
        from_address="news@a.example.com",
        domain="a.example.com",
        account="default",
        timezone="UTC",
        daily_quota=file_quota,
        progress=IdentityProgress(),
        open_date="",
        open_cap=0,
        stopped_until=0.0,
        live_quota=live,
    )


@pytest.mark.parametrize(
    ("file_quota", "live", "quota"),
    [
        pytest.param(500, None, 500, id="the-file-until-tencent-is-read"),
        pytest.param(500, 2000, 2000, id="tencent-raised-the-level-the-warm-up-follows"),
        pytest.param(2000, 500, 500, id="tencent-lowered-it"),
        pytest.param(None, 1000, 1000, id="only-tencents"),
        pytest.param(None, None, None, id="none-known"),
    ],
)
def test_the_live_quota_wins_once_read(file_quota: int | None, live: int | None, quota: int | None) -> None:
    """The file's `daily_quota` is a snapshot of Tencent's: a domain raised from level 1 (500 a day) is no
    longer held at 500 by the file (a ceiling of the user's own is plan.target_daily)."""
    assert _state(file_quota, live).quota == quota
