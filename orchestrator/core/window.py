"""A campaign's sending window: local hours "HH:MM-HH:MM", which may wrap midnight."""

from __future__ import annotations

import re
from datetime import time

from orchestrator.core.addresses import shown

#: A window from the day's start to its end ("00:00-24:00"): the same as none.
WHOLE_DAY = re.compile(r"\s*0?0:00\s*-\s*24:00\s*")


def parse_window(text: str) -> tuple[time, time]:
    """'08:00-22:00' -> (08:00, 22:00). A window may wrap midnight ('22:00-06:00')."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not m:
        msg = f"sending_window must look like '08:00-22:00', got {shown(text)}"
        raise ValueError(msg)
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (0 <= h1 <= 24 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h1, m1) > (24, 0) or (h2, m2) > (24, 0):
        msg = f"sending_window {shown(text)}: hours 00-24, minutes 00-59 (24:00 is midnight)"
        raise ValueError(msg)
    start = time(h1 % 24, m1)
    end = time(h2 % 24, m2)
    if start == end:
        msg = f"sending_window {shown(text)} is empty; leave it out (or write '00:00-24:00') to send around the clock"
        raise ValueError(msg)
    return start, end
