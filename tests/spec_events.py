"""Tencent's callback events and the metric each counts in, written out here for the tests to check against.

The events are spec/tencent-ses.md's ("Event callbacks"): `event` is one of delivered, dropped,
bounce, open, click, spamreport, unsubscribe, deferred, and a bounce carries `bounceType`
soft_bounce or hard_bounce. The metrics they count in are docs/operations.md's ("Quality
counters"): a spamreport is a complaint, and a bounce without a type counts soft (it neither
suppresses nor pauses on a guess); the lists they put an address on are its "Suppression" table's.
"""

from __future__ import annotations

from typing import Final

#: (event, bounceType) -> metric: every event the spec names, a bounce with each of its two types.
SPEC_METRICS: Final = {
    ("delivered", ""): "delivered",
    ("dropped", ""): "dropped",
    ("bounce", "hard_bounce"): "hard_bounce",
    ("bounce", "soft_bounce"): "soft_bounce",
    ("open", ""): "open",
    ("click", ""): "click",
    ("spamreport", ""): "complaint",
    ("unsubscribe", ""): "unsubscribe",
    ("deferred", ""): "deferred",
}
#: The metrics that put an address on a suppression list, and which list: the sender domain's or every one's.
SPEC_SUPPRESSING: Final = {"unsubscribe": "domain", "complaint": "all", "hard_bounce": "all"}


def spec_metric(event: str, bounce_type: str) -> str:
    """The metric of one event: `bounceType` matters for a bounce only, and any type but hard_bounce is soft."""
    if event == "bounce":
        return SPEC_METRICS["bounce", "hard_bounce" if bounce_type == "hard_bounce" else "soft_bounce"]
    return SPEC_METRICS[event, ""]
