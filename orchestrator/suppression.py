"""`suppress`: the operator's side of the suppression lists: add, remove, list, import and export."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from redis.asyncio import Redis

from orchestrator.core.addresses import fold, shown
from orchestrator.core.campaign import Recipients
from orchestrator.core.spreadsheet import SUPPRESSION_COLUMNS, neutralise
from orchestrator.core.text import json_printable
from orchestrator.recipients import RecipientFileError, open_recipients
from orchestrator.store import identities
from orchestrator.store import suppression as store
from orchestrator.store.suppression import Entry

#: The columns `export` writes and `import` reads (only `email` is required on import).
COLUMNS: Final = SUPPRESSION_COLUMNS
#: How many bad rows an import names before it stops listing them.
MAX_ERRORS_SHOWN: Final = 20
MAX_REASON_CHARS: Final = 500


class SuppressionInputError(ValueError):
    """An address, sender domain or import file that cannot be used; str() names the place."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: int
    already: int  # rows whose address was on the same list before (their entry is replaced)
    repeated: int = 0  # rows whose address came again later in the file for the same list (the last one counts)
    #: The sender domains of its entries that no registered identity sends from (a typo suppresses nothing).
    unknown_domains: tuple[str, ...] = ()


def _address(raw: str, where: str) -> str:
    key = store.address_as_written(raw)  # the store folds it (and finds an entry kept as written)
    if key is None:
        msg = f"{where}: not an e-mail address: {shown(raw)}"
        raise SuppressionInputError(msg)
    return key


def _sender_domain(raw: str | None, where: str = "--sender-domain") -> str:
    """'' for every sender domain; else the domain, lower-cased and checked (`where`: the option or column)."""
    domain = (raw or "").strip().lower()
    if raw is not None and not domain:  # given, but empty: never read as "every sender domain"
        msg = f"{where}: empty (leave the option out to suppress for every sender domain)"
        raise SuppressionInputError(msg)
    if domain and store.address_key(f"x@{domain}") is None:
        msg = f"{where}: not a domain name: {shown(raw)}"
        raise SuppressionInputError(msg)
    return domain


async def add(redis: Redis, address: str, sender_domain: str | None, reason: str, now: float) -> tuple[Entry, bool]:
    """Put `address` on one sender domain's list, or on the all-domains list when none is given.

    An address on that list already keeps its entry (a complaint stays a complaint, with its date): that
    entry and True are returned; to give it another reason, remove it first.
    """
    entry = Entry(
        _address(address, "ADDRESS"), _sender_domain(sender_domain), reason[:MAX_REASON_CHARS], now, "operator"
    )
    there = await store.put_new(redis, entry, now)
    return (there, True) if there is not None else (entry, False)


async def remove(redis: Redis, address: str, sender_domain: str | None, now: float) -> bool:
    """Take `address` off one list; False when it was not on it (Tencent's blocklist: `blocklist release`)."""
    return await store.remove(redis, _address(address, "ADDRESS"), _sender_domain(sender_domain), now)


async def listing(redis: Redis, sender_domain: str | None, now: float) -> list[Entry]:
    """The entries of one sender domain's list (plus the all-domains list), or of every list."""
    if sender_domain is None:
        return await store.entries(redis, None, now)
    domain = _sender_domain(sender_domain)
    everywhere = await store.entries(redis, "", now) if domain else []
    return everywhere + await store.entries(redis, domain, now)


# --- import and export ---


def export_csv(entries: list[Entry]) -> str:
    """The entries as CSV (COLUMNS), every cell safe to open in a spreadsheet."""
    out = io.StringIO()
    # RFC 4180 line ends: the csv module quotes a cell holding a bare "\r" only when "\r" is part of
    # the line end; with "\n" alone such a cell was written unquoted and split its row in two.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow([neutralise(c) for c in (e.address, e.sender_domain, e.source, e.reason, repr(e.at))])
    return out.getvalue()


def export_json(entries: list[Entry]) -> str:
    return json_printable(json.dumps([e.as_json() for e in entries], ensure_ascii=False))


def read_import(path: Path, sender_domain: str | None, now: float) -> list[Entry]:
    """Every row of the file as an entry; raises with each bad row named by line, and writes nothing.

    The file is read with the recipient CSVs' reader. `--sender-domain` puts every row on that
    domain's list; otherwise a `sender_domain` column says where each row goes (empty: all domains).
    """
    default = _sender_domain(sender_domain)
    entries: list[Entry] = []
    errors: list[str] = []
    try:
        with open_recipients(Recipients(file=path)) as rows:
            col = {name: i for i, name in enumerate(rows.header) if name}
            twice = [c for c in COLUMNS if rows.header.count(c) > 1]
            if twice:  # which of the two to read is a guess: `validate` refuses it in a recipient file too
                msg = f"column {shown(twice[0])} appears twice in the header"
                raise RecipientFileError(path, rows.header_line, msg)
            if "email" not in col:
                raise RecipientFileError(path, rows.header_line, "no 'email' column in the first line")
            for line, cells in rows.records():
                if not any(c.strip() for c in cells):
                    continue
                try:
                    entries.append(_row(cells, col, default, sender_domain is not None, now))
                except SuppressionInputError as exc:
                    errors.append(f"{path}:{line}: {exc}")
    except RecipientFileError as exc:
        text = str(exc)
        if exc.setting is not None and exc.setting[0] == "recipients.encoding":  # no such key here
            text = text.replace(
                "set recipients.encoding (Korean lists: cp949?)", "save the file as UTF-8 and import it"
            )
        raise SuppressionInputError(text) from None
    if errors:
        more = f"\n(and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        head = f"{len(errors)} bad row(s), nothing imported:\n"
        raise SuppressionInputError(head + "\n".join(errors[:MAX_ERRORS_SHOWN]) + more)
    return entries


def _row(cells: list[str], col: dict[str, int], default: str, forced: bool, now: float) -> Entry:
    def cell(name: str) -> str:
        i = col.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""  # unguarded by the reader

    address = fold(_address(cell("email"), "email"))  # as the lists key it: `Kim@` and `kim@` are one entry
    domain = default if forced else _sender_domain(cell("sender_domain") or None, "sender_domain")  # empty: all
    at = _at(cell("at"), now)
    # An export imports back as it was: its source is kept when the list it goes on can hold it.
    source = cell("source") if cell("source") in (store.DOMAIN_SOURCES if domain else store.ALL_SOURCES) else "import"
    return Entry(address, domain, cell("reason")[:MAX_REASON_CHARS] or "imported", at, source)


def _at(text: str, now: float) -> float:
    """The `at` column: Unix seconds, kept when given, else now."""
    if not text:
        return now
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e11:
        msg = f"at: not a time in Unix seconds: {shown(text)}"
        raise SuppressionInputError(msg)
    return value


async def import_file(redis: Redis, path: Path, sender_domain: str | None, now: float) -> ImportReport:
    """Read the whole file first, then write every entry in one transaction: all or nothing."""
    rows = read_import(path, sender_domain, now)
    entries = list({(e.sender_domain, e.address): e for e in rows}.values())  # the last row of an address wins
    before = {(e.sender_domain, e.address) for e in await store.entries(redis, None, now)}
    await store.put(redis, entries, now)
    already = sum((e.sender_domain, e.address) in before for e in entries)
    known = await identities.sender_domains(redis)
    unknown = tuple(sorted({e.sender_domain for e in entries if e.sender_domain and e.sender_domain not in known}))
    return ImportReport(len(entries) - already, already, len(rows) - len(entries), unknown)
