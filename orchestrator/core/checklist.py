"""A line of `orchestrate check`'s checklist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "fail", "warn", "info"]


@dataclass(frozen=True, slots=True)
class Item:
    """One line of the checklist."""

    group: str
    name: str
    status: Status
    detail: str = ""
    fix: str = ""
