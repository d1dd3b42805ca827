"""Streaming the recipient CSV: parse, validate, de-duplicate, without holding the file in memory."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.core.addresses import normalize_address
from orchestrator.core.campaign import Campaign, ColumnSource

#: Cells longer than this are refused (Tencent's TemplateData is small; this guards memory too).
MAX_CELL = 1000


class RecipientFileError(Exception):
    """The recipient file cannot be read at all (missing, unreadable, no email column)."""


@dataclass
class LoadStats:
    total: int = 0  # data rows (blank lines are not rows)
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    suppressed: int = 0
    invalid_reasons: Counter[str] = field(default_factory=Counter)
    invalid_examples: list[str] = field(default_factory=list)  # "line 7: bad syntax", a few

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "valid": self.valid,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "invalid_reasons": dict(self.invalid_reasons),
        }


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    address: str
    values: list[str]  # one per template data column, in Template.columns order


def _digest(address: str) -> int:
    return int.from_bytes(hashlib.blake2b(address.encode(), digest_size=8).digest(), "little")


def iter_recipients(campaign: Campaign, stats: LoadStats, path: Path | None = None) -> Iterator[Row]:
    """Yield valid, first-seen recipients in file order; count the rest into `stats`."""
    spec = campaign.recipients
    path = path or spec.file
    columns = campaign.template.columns
    defaults = [s.default for s in campaign.template.data.values() if isinstance(s, ColumnSource)]
    seen: set[int] = set()
    try:
        fh = path.open(newline="", encoding=spec.encoding)
    except OSError as exc:
        msg = f"{path}: cannot open the recipient file ({exc.strerror})"
        raise RecipientFileError(msg) from None
    with fh:
        reader = csv.reader(fh, delimiter=spec.delimiter)
        header = _header(reader, path, [spec.email_column, *columns])
        email_i = header.index(spec.email_column)
        col_i = [header.index(c) for c in columns]
        last_i = max([email_i, *col_i])
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except (UnicodeDecodeError, csv.Error) as exc:
                msg = f"{path}:{reader.line_num}: cannot read this line ({exc})"
                raise RecipientFileError(msg) from None
            if not cells or not "".join(cells).strip():  # blank: every cell is whitespace
                continue
            stats.total += 1
            address, values, reason = _parse_row(cells, email_i, last_i, col_i, columns, defaults)
            if address is None:
                stats.invalid += 1
                stats.invalid_reasons[reason] += 1
                if len(stats.invalid_examples) < 10:
                    stats.invalid_examples.append(f"line {reader.line_num}: {reason}")
                continue
            d = _digest(address)
            if d in seen:
                stats.duplicates += 1
                continue
            seen.add(d)
            yield Row(reader.line_num, address, values)


def _parse_row(
    cells: list[str], email_i: int, last_i: int, col_i: list[int], columns: list[str], defaults: list[str | None]
) -> tuple[str | None, list[str], str]:
    """(address, template values, "") for a good row, (None, [], reason) for a bad one."""
    if len(cells) <= last_i:
        return None, [], "missing cells"
    address, reason = normalize_address(cells[email_i])
    if address is None:
        return None, [], reason
    values: list[str] = []
    for ci, col, default in zip(col_i, columns, defaults, strict=True):
        cell = cells[ci].strip() or (default or "")
        if not cell:
            return None, [], f"empty {col}"
        if len(cell) > MAX_CELL:
            return None, [], f"{col} too long"
        values.append(cell)
    return address, values, ""


def _header(reader: Iterator[list[str]], path: Path, needed: list[str]) -> list[str]:
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        msg = f"{path}: the recipient file is empty (no header line)"
        raise RecipientFileError(msg) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        msg = f"{path}:1: cannot read the header ({exc})"
        raise RecipientFileError(msg) from None
    missing = [c for c in needed if c not in header]
    if missing:
        msg = f"{path}:1: the header has no column {', '.join(map(repr, missing))} (it has {header})"
        raise RecipientFileError(msg)
    return header
