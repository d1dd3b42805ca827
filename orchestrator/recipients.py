"""The one reader of recipient CSVs: validate, check, plan, submit and simulate all count with it. It
streams the file (never the whole of it in memory), reads regular files only, keeps every row within
`recipients.max_row_bytes`, and places every problem as `file:line: column X: message`."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from orchestrator.core.addresses import fold, normalize_address, shown
from orchestrator.core.campaign import Campaign, ColumnSource, Recipients
from orchestrator.core.recipient_trace import Dropped
from orchestrator.core.spreadsheet import EXPORT_HEADERS, unneutralise
from orchestrator.input_files import describe_os_error, open_regular

_CHUNK_BYTES = 1 << 16
#: Text an encoding must write as these very ASCII bytes for the file to be split into lines as bytes.
_ASCII_PROBE = 'email,;\t|"\r\n'
_NUL_HINT = "a CSV cell may not hold it (is the file UTF-16? then set recipients.encoding: utf-16)"


class RecipientFileError(Exception):
    """The recipient file cannot be used; str() is one line: `file:line: column X: message`.

    `setting` is (recipients.* key, message) when the fix is that key of the campaign file
    (recipients.file, recipients.encoding): `validate` reports the problem there.
    """

    def __init__(
        self,
        file: Path | str,
        line: int | None,
        message: str,
        column: str | None = None,
        setting: tuple[str, str] | None = None,
    ) -> None:
        self.file = str(file)
        self.line = line
        self.message = message
        self.column = column
        self.setting = setting
        place = self.file if line is None else f"{self.file}:{line}"
        where = "" if column is None else f" column {column if len(column) <= 40 else column[:37] + '...'}:"
        super().__init__(f"{place}:{where} {message}")


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
    row: int = 0  # the data row's number: 1 for the first row after the header, blank lines not counted


class _RowTooLongError(Exception): ...


class _UndecodableError(Exception):
    """A byte the encoding cannot decode; or, with no byte, the codec's own complaint (`why`)."""

    def __init__(self, line: int, byte: bytes, why: str = "") -> None:
        super().__init__(line)
        self.line = line
        self.byte = byte
        self.why = why


class _Lines:
    """The file's decoded physical lines for csv.reader, counted, each row's length kept in check."""

    def __init__(self, fh: BinaryIO, spec: Recipients) -> None:
        self.line = 0  # physical lines handed out so far
        self.row_bytes = 0  # bytes of the row being read (the caller resets it per row)
        self.nul = False  # a NUL was seen in the row being read
        self._limit = spec.max_row_bytes
        self._encoding = spec.encoding
        self._fh = fh
        self._text: io.TextIOWrapper | None = None
        if _splits_as_bytes(spec.encoding):
            self._it = self._bytewise()
        else:
            self._text = io.TextIOWrapper(fh, encoding=spec.encoding, errors="strict", newline="")
            self._it = self._textwise(self._text)

    def close(self) -> None:
        """Let go of the file (its owner closes it)."""
        if self._text is not None:
            self._text.detach()
            self._text = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._it)

    def _take(self, text: str, size: int) -> str:
        self.row_bytes += size
        if self.row_bytes > self._limit:
            raise _RowTooLongError
        if "\x00" in text:
            self.nul = True
        return text

    def _bytewise(self) -> Iterator[str]:
        # Split on line breaks as bytes, then decode line by line: an undecodable byte is placed on
        # its real line (a text stream decodes 8 KiB at a time), and no line is ever read unbounded.
        decoder = codecs.getincrementaldecoder(self._encoding)("strict")
        for raw in self._raw_lines():
            self.line += 1
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                raise _UndecodableError(self.line, exc.object[exc.start : exc.start + 1]) from None
            except UnicodeError as exc:  # a codec that refuses the stream as a whole (UTF-16 without its BOM)
                raise _UndecodableError(self.line, b"", str(exc)) from None
            yield self._take(text, len(raw))
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _UndecodableError(max(self.line, 1), exc.object[exc.start : exc.start + 1]) from None
        except UnicodeError as exc:
            raise _UndecodableError(max(self.line, 1), b"", str(exc)) from None
        if tail:
            yield self._take(tail, 0)

    def _raw_lines(self) -> Iterator[bytes]:
        rest = b""
        while chunk := self._fh.read(_CHUNK_BYTES):
            lines = (rest + chunk).splitlines(keepends=True)
            rest = b"" if lines[-1].endswith(b"\n") else lines.pop()  # unfinished, or "\r" of a split "\r\n"
            yield from lines
            if len(rest) > self._limit:  # a line with no end in sight: let the row check refuse it
                yield rest
                rest = b""
        if rest:
            yield rest

    def _textwise(self, text: io.TextIOWrapper) -> Iterator[str]:
        # Encodings such as UTF-16 do not write line breaks as single bytes: read text lines, each
        # bounded (an undecodable byte is then placed on the line being read, not always its own).
        while True:
            try:
                line = text.readline(self._limit + 1)
            except UnicodeDecodeError as exc:
                raise _UndecodableError(self.line + 1, exc.object[exc.start : exc.start + 1]) from None
            except UnicodeError as exc:  # a codec that refuses the stream as a whole (UTF-16 without its BOM)
                raise _UndecodableError(self.line + 1, b"", str(exc)) from None
            if not line:
                return
            self.line += 1
            yield self._take(line, len(line))


def _splits_as_bytes(encoding: str) -> bool:
    try:
        encoded = _ASCII_PROBE.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return encoded.removeprefix(codecs.BOM_UTF8) == _ASCII_PROBE.encode("ascii")


class CsvRows:
    """An open recipient CSV: its header and its records, each with the line it starts on."""

    def __init__(self, fh: BinaryIO, spec: Recipients) -> None:
        self.file = spec.file
        self._spec = spec
        self._lines = _Lines(fh, spec)
        # Rows are bounded by max_row_bytes before the csv module sees them: its own cell limit must not bind first.
        csv.field_size_limit(max(csv.field_size_limit(), spec.max_row_bytes + 1))
        self._reader = csv.reader(self._lines, delimiter=spec.delimiter, strict=True)
        try:
            self._read_header()
        except BaseException:
            self._lines.close()
            raise

    def close(self) -> None:
        self._lines.close()

    def _read_header(self) -> None:
        first = next(self._next(), None)
        if first is None:
            raise RecipientFileError(self.file, None, "the file is empty: its first line must name the columns")
        self.header_line, self.header_cells = first
        self.header = [h.strip() for h in self.header_cells]
        if not any(self.header):
            msg = "the first line is blank: it must name the columns"
            raise RecipientFileError(self.file, self.header_line, msg)

    def records(self, raw: bool = False) -> Iterator[tuple[int, list[str]]]:
        """(line the row starts on, cells) of every row after the header, blank lines included as [].

        A file with one of our exports' headers loses its spreadsheet guard (`'-x@y` was `-x@y`, so an
        export submitted again mails the addresses it lists); not with `raw` (a copy of the file)."""
        if not raw and tuple(self.header) in EXPORT_HEADERS:
            return ((line, [unneutralise(c) for c in cells]) for line, cells in self._next())
        return self._next()

    def column_name(self, index: int) -> str:
        return self.header[index] if index < len(self.header) and self.header[index] else f"#{index + 1}"

    def _next(self) -> Iterator[tuple[int, list[str]]]:
        lines = self._lines
        while True:
            start = lines.line + 1
            lines.row_bytes = 0
            lines.nul = False
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    msg = "cannot read this line: a quote opened in this row is never closed"
                    raise RecipientFileError(self.file, start, msg) from None
                raise RecipientFileError(self.file, lines.line, f"cannot read this line: {exc}") from None
            except _RowTooLongError:
                msg = (
                    f"cannot read this line: the row is longer than {self._spec.max_row_bytes:,} bytes "
                    "(recipients.max_row_bytes; a quote never closed?)"
                )
                raise RecipientFileError(self.file, start, msg) from None
            except _UndecodableError as exc:
                enc = self._spec.encoding
                what = f"byte 0x{exc.byte.hex()}" if exc.byte else exc.why[:60]
                fix = "set recipients.encoding (Korean lists: cp949?)"
                msg = f"cannot read this line: not {enc} text ({what}); {fix}"
                at_key = f"{self.file.name} is not {enc} text ({what} on line {exc.line}); {fix}"
                raise RecipientFileError(self.file, exc.line, msg, setting=("recipients.encoding", at_key)) from None
            if lines.nul:
                index = next(i for i, c in enumerate(cells) if "\x00" in c)
                column = None if start == 1 else self.column_name(index)
                where = "the header" if column is None else "the cell"
                msg = f"{where} holds a NUL character (U+0000): {_NUL_HINT}"
                raise RecipientFileError(self.file, start, msg, column=column)
            yield start, cells


@contextmanager
def open_recipients(spec: Recipients) -> Iterator[CsvRows]:
    """The CSV of `spec`, open. Raises RecipientFileError for every problem, now or while reading."""
    try:
        codecs.lookup(spec.encoding)
        "email".encode(spec.encoding)  # a bytes-to-bytes codec (base64, zlib...) is not a text encoding
    except LookupError:
        msg = f"unknown encoding {shown(spec.encoding)}"
        raise RecipientFileError(spec.file, None, msg, setting=("recipients.encoding", msg)) from None
    try:
        fh = open_regular(spec.file)
    except OSError as exc:
        reason = describe_os_error(exc)
        setting = ("recipients.file", f"{reason}: {spec.file}")
        raise RecipientFileError(spec.file, None, reason, setting=setting) from None
    with fh:
        rows = CsvRows(fh, spec)
        try:
            yield rows
        finally:
            rows.close()


def read_header(spec: Recipients) -> list[str]:
    """The column names of the CSV's first line, trimmed."""
    with open_recipients(spec) as rows:
        return rows.header


def _digest(address: str) -> int:
    return int.from_bytes(hashlib.blake2b(address.encode(), digest_size=8).digest(), "little")


def iter_recipients(campaign: Campaign, stats: LoadStats, path: Path | None = None) -> Iterator[Row]:
    """Valid, first-seen recipients in file order, the rest counted into `stats`; RecipientFileError when
    the file cannot be read, and at the end when it has no data row."""
    return (r for r in iter_rows(campaign, stats, path) if isinstance(r, Row))


def iter_rows(campaign: Campaign, stats: LoadStats, path: Path | None = None) -> Iterator[Row | Dropped]:
    """Every data row in file order: a valid, first-seen recipient, or why it is dropped (invalid, duplicate)."""
    spec = campaign.recipients if path is None else campaign.recipients.model_copy(update={"file": path})
    columns = campaign.template.columns
    defaults = [s.default for s in campaign.template.data.values() if isinstance(s, ColumnSource)]
    seen: set[int] = set()
    with open_recipients(spec) as rows:
        header = rows.header
        missing = [c for c in [spec.email_column, *columns] if c not in header]
        if missing:
            msg = f"the header has no column {', '.join(map(shown, missing))} (it has {shown(header, 200)})"
            raise RecipientFileError(spec.file, rows.header_line, msg)
        email_i = header.index(spec.email_column)
        col_i = [header.index(c) for c in columns]
        last_i = max([email_i, *col_i])
        for line, cells in rows.records():
            if not cells or not "".join(cells).strip():  # blank: every cell is whitespace
                continue
            stats.total += 1
            address, values, reason = _parse_row(cells, email_i, last_i, col_i, columns, defaults, spec.max_cell_chars)
            if address is not None and (why := _suspect(cells, len(header), spec.delimiter)):
                address, values, reason = None, [], why
            if address is None:
                stats.invalid += 1
                stats.invalid_reasons[reason] += 1
                if len(stats.invalid_examples) < 10:
                    stats.invalid_examples.append(f"line {line}: {reason}")
                cell = cells[email_i].strip() if email_i < len(cells) else ""
                yield Dropped(stats.total, cell[:MAX_KEPT_CELL], "invalid", reason)
                continue
            d = _digest(fold(address))  # one mailbox whatever the case of its letters (core/addresses.fold)
            if d in seen:
                stats.duplicates += 1
                yield Dropped(stats.total, address, "duplicate")
                continue
            seen.add(d)
            yield Row(line, address, values, stats.total)
    if stats.total == 0:
        raise RecipientFileError(spec.file, None, "the file has a header but no recipient rows: nothing to send")


#: How much of an invalid row's address cell is kept for `trace` and `export`.
MAX_KEPT_CELL = 320
#: The reason of a row whose quoted cell runs on over lines that read like more rows.
SWALLOWED = "a quoted cell runs over several lines that look like more rows (a stray quote on this line?)"
EXTRA_CELLS = "more cells than the header has columns (a delimiter in a cell that is not quoted?)"


def _suspect(cells: list[str], width: int, delimiter: str) -> str:
    """Why a row that parsed is refused all the same ("" when it is not): a cell past the header's (an
    unquoted delimiter split a cell); or a cell quoted over several lines whose later lines hold a delimiter
    and an address (rows lost to a stray quote: legal CSV, but no note or address block looks like that)."""
    if any(c.strip() for c in cells[width:]):
        return EXTRA_CELLS
    lines = (line for cell in cells if "\n" in cell for line in cell.splitlines()[1:])
    return SWALLOWED if any(delimiter in line and "@" in line for line in lines) else ""


def scan_recipients(campaign: Campaign, on_row: Callable[[Row], None] | None = None) -> LoadStats:
    """Read the whole CSV as submit would: the counts (`valid` = rows submit would load before suppression)."""
    stats = LoadStats()
    for row in iter_recipients(campaign, stats):
        stats.valid += 1
        if on_row is not None:
            on_row(row)
    return stats


def _parse_row(
    cells: list[str],
    email_i: int,
    last_i: int,
    col_i: list[int],
    columns: list[str],
    defaults: list[str | None],
    max_cell_chars: int,
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
        if len(cell) > max_cell_chars:
            return None, [], f"{col} too long"
        values.append(cell)
    return address, values, ""
