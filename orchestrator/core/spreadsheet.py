"""Cells a spreadsheet shows as text (OWASP "CSV injection"), and the orchestrator's own exports read back."""

from __future__ import annotations

from typing import Final

#: A cell starting with one of these is a formula to a spreadsheet.
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
#: The header `export CAMPAIGN` writes.
EXPORT_COLUMNS: Final = (
    "row",
    "email",
    "state",
    "reason",
    "attempts",
    "identity",
    "message_id",
    "accepted_at",
    "events",
)
#: The header `suppress export` writes.
SUPPRESSION_COLUMNS: Final = ("email", "sender_domain", "source", "reason", "at")
#: A CSV with exactly one of these headers is one of our exports: the reader (`recipients.CsvRows`) gives
#: its cells with their guard taken off (`unneutralise`); any other CSV is read as written.
EXPORT_HEADERS: Final = (EXPORT_COLUMNS, SUPPRESSION_COLUMNS)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a single quote in front.

    A leading quote gets one too, so that `unneutralise` can take exactly one quote off and give back
    the cell as it was ("'=x" is written "''=x", not "'=x", which would read back as "=x").
    """
    return "'" + cell if cell.startswith((*FORMULA_START, "'")) else cell


def unneutralise(cell: str) -> str:
    """The cell `neutralise` was given."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*FORMULA_START, "'")) else cell
