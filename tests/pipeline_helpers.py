"""Helpers for pipeline tests: small campaign files, and limit checks over a list of send times."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from orchestrator.campaign_file import campaign_fingerprint, load_campaign
from orchestrator.core.campaign import Campaign

DOMAINS = ["gmail.com", "naver.com", "daum.net", "outlook.com", "nate.com", "example.org", "qq.com"]


def write_campaign(
    tmp: Path,
    n: int,
    name: str = "t",
    identities: int = 2,
    extra: dict[str, object] | None = None,
    csv_text: str | None = None,
) -> Path:
    """A campaign YAML + CSV of `n` recipients in `tmp`; returns the YAML path."""
    csv_path = tmp / f"{name}.csv"
    if csv_text is None:
        lines = ["email,first_name"]
        lines += [f"user{i}@{DOMAINS[i % len(DOMAINS)]},Name{i}" for i in range(n)]
        csv_text = "\n".join(lines) + "\n"
    csv_path.write_text(csv_text, encoding="utf-8")
    doc: dict[str, object] = {
        "name": name,
        "timezone": "UTC",
        "identities": [{"id": f"{name}-id{k}", "from": f"News <news@d{k}.example.com>"} for k in range(identities)],
        "template": {"id": 1, "subject": "Hi {{name}}", "data": {"name": {"column": "first_name"}}},
        "recipients": {"file": csv_path.name, "email_column": "email", "shuffle_seed": 7},
        "retry": {"max_attempts": 8, "base_delay_s": 30, "max_delay_s": 3600},
    }
    doc.update(extra or {})
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def load(path: Path) -> tuple[Campaign, str]:
    return load_campaign(path), campaign_fingerprint(path)


def max_in_rolling_window(times: Iterable[float], window_s: float = 3600.0) -> int:
    """The largest number of events inside any half-open window [t, t + window_s)."""
    ts = sorted(times)
    best = 0
    for i, t in enumerate(ts):
        j = bisect.bisect_left(ts, t + window_s)
        best = max(best, j - i)
    return best


def per_local_day(times: Iterable[float], zone: str = "UTC") -> Counter[str]:
    tz = ZoneInfo(zone)
    return Counter(datetime.fromtimestamp(t, tz=tz).date().isoformat() for t in times)


def group_times(records: Iterable[tuple[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for key, t in records:
        out[key].append(t)
    return out
