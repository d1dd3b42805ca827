"""Generated recipient CSVs, each with the split it must give, worked out from how it was built.

The oracle never calls the reader under test: every row is built as a known kind (a valid address,
one of the invalid kinds, a duplicate of an earlier row, a blank line, a row cut short) and its
verdict is decided here, from the rules in docs/campaign-file.md ("The recipient CSV"). A duplicate
is an earlier address with the case of its letters changed, in the domain, the local part or both:
the same mailbox (`mailbox` below).
"""

from __future__ import annotations

import csv
import io
import random
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Rows are bounded by this in every generated campaign; long but valid rows stay far below it.
MAX_ROW_BYTES = 8192
#: The default a blank name cell takes when the campaign gives one.
DEFAULT_NAME = "friend"
#: Characters of the atext a local part may use, formula starters (= + -) and pipes included.
LOCAL_CHARS = "abcXYZ019.!#$%&'*+/=?^_`{|}~-"
FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    '=HYPERLINK("http://evil.example","click")',
    "\t=1+1",
    "=1+1;",
]
#: Domains a spreadsheet export may hold in Unicode (IDN): the reader wants their xn-- form.
IDN_DOMAINS = ["bücher.de", "例え.jp", "пример.рф", "한국.kr", "xn--bcher-kva.de"]
#: Characters of a hostile name: controls (no NUL, no line break), bidi, BOM, quotes, delimiters.
HOSTILE_NAME_CHARS = "\x01\x07\x08\x0b\x0c\x1b\x1c\x7f\x85\u2028\u202e\u2066\ufeff\"',;|<>&"
KOREAN = "김이박최정가나다라마바사"
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def mailbox(address: str) -> str:
    """One mailbox, whatever the case of its letters: docs/campaign-file.md compares addresses "letters
    compared without case (the local part too)", and docs/operations.md keys them with their ASCII
    letters lower-cased."""
    return address.translate(_LOWER)


def recase(rng: random.Random, text: str) -> str:
    """`text` with the case of some of its ASCII letters swapped (at least one, if it has any)."""
    letters = [i for i, c in enumerate(text) if c in string.ascii_letters]
    if not letters:
        return text
    flip = set(rng.sample(letters, rng.randint(1, len(letters))))
    return "".join(c.swapcase() if i in flip else c for i, c in enumerate(text))


@dataclass(frozen=True, slots=True)
class Address:
    """A generated address cell and what the reader must make of it: the address, or the reason."""

    cell: str
    normal: str | None
    reason: str


@dataclass
class Expected:
    """What reading the whole file must give: the counts and rows, or the fatal problem and its line."""

    total: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    fatal: str | None = None  # a fragment of the message
    fatal_line: int | None = None


@dataclass(frozen=True)
class CsvCase:
    """A generated CSV's bytes, the campaign options it is read with, and what must come out."""

    data: bytes
    encoding: str
    default: str | None
    max_cell_chars: int
    expected: Expected

    def recipients(self, path: str) -> dict[str, Any]:
        return {
            "file": path,
            "encoding": self.encoding,
            "max_row_bytes": MAX_ROW_BYTES,
            "max_cell_chars": self.max_cell_chars,
            "shuffle_seed": 1,
        }

    def data_spec(self) -> dict[str, Any]:
        source: dict[str, Any] = {"column": "name"}
        if self.default is not None:
            source["default"] = self.default
        return {"name": source}


def _text(rng: random.Random, chars: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def valid_address(rng: random.Random) -> tuple[str, str]:
    """(local part, domain) of a valid address: formula characters and mixed case included."""
    atext = LOCAL_CHARS.replace(".", "")
    local = ".".join(_text(rng, atext, 1, 8) for _ in range(rng.randint(1, 3)))
    alnum = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789"
    labels = [rng.choice(alnum) + _text(rng, alnum + "-", 0, 10).rstrip("-") for _ in range(rng.randint(1, 3))]
    return local, ".".join([*labels, _text(rng, "abcdefghijklmnopqrstuvwxyzKR", 2, 6)])


ADDRESS_KINDS = ["valid"] * 6 + ["dup", "empty", "no-at", "two-at", "idn", "space", "formula", "long", "long-local"]


def address(rng: random.Random, earlier: list[str], encoding: str) -> Address:
    """An address cell of a random kind, with its verdict."""
    local, domain = valid_address(rng)
    pad = rng.choice(["", " ", "  "])
    kind = rng.choice(ADDRESS_KINDS if encoding == "cp949" else [*ADDRESS_KINDS, "bom"])
    if kind == "dup" and earlier:  # an earlier address, its case changed in the domain, the local part or both
        loc, _, dom = rng.choice(earlier).rpartition("@")
        part = rng.choice(["domain", "local", "both"])
        loc = recase(rng, loc) if part != "domain" else loc
        written = recase(rng, dom) if part != "local" else dom
        return Address(f"{pad}{loc}@{written}{pad}", f"{loc}@{dom}", "")
    if kind in ("valid", "dup"):
        return Address(f"{pad}{local}@{domain}{pad}", f"{local}@{domain.lower()}", "")
    if kind == "empty":
        return Address(pad, None, "empty")
    if kind == "long":  # valid syntax, longer than 254 characters
        labels = ".".join(["a" * 60] * 5)
        return Address(f"{local.replace('.', '')[:60]}@{labels}.{domain}", None, "too long")
    if kind == "long-local":
        return Address(f"{'l' * 65}{local.replace('.', '')[:20]}@{domain}", None, "local part too long")
    idn = IDN_DOMAINS[:-1] if encoding != "cp949" else ["한국.kr"]
    bad = {
        "no-at": f"{local}{domain}",
        "two-at": f"{local}@@{domain}",
        "idn": f"{local}@{rng.choice(idn)}",
        "space": f"{local} x@{domain}",
        "bom": f"\ufeff{local}@{domain}",
        "formula": rng.choice(FORMULAS[:2] + FORMULAS[4:5]),
    }[kind]
    return Address(f"{pad}{bad}{pad}", None, "bad syntax")


def _any_char(rng: random.Random) -> str:
    """Any character but a surrogate, NUL or a line break; small code points most often."""
    while True:
        c = chr(rng.choice([rng.randrange(0x20, 0x80), rng.randrange(0x80, 0x3000), rng.randrange(0x3000, 0x110000)]))
        if not ("\ud800" <= c <= "\udfff" or c in "\x00\r\n"):
            return c


def name_text(rng: random.Random, encoding: str) -> str:
    """A name cell: any text the file's encoding can hold (no NUL, no line break), formulas, long runs."""
    pick = rng.randrange(8)
    if pick == 0:
        return rng.choice(FORMULAS)
    if pick == 1:
        return rng.choice(["", " ", "  "])
    if pick == 2:
        return rng.choice(["a", "가"] if encoding == "cp949" else ["a", "é", "가"]) * rng.randint(900, 1200)
    if encoding == "cp949":
        return _text(rng, "abc XYZ,\"'=+-@|" + KOREAN, 0, 12)
    hostile = HOSTILE_NAME_CHARS + KOREAN
    return "".join(rng.choice(hostile) if rng.random() < 0.4 else _any_char(rng) for _ in range(rng.randint(0, 12)))


def notes_text(rng: random.Random) -> str:
    """A notes cell: may run over several lines; a later line with a comma and an '@' looks like swallowed rows."""
    pick = rng.randrange(4)
    if pick < 2:
        return ["", "note"][pick]
    return "\n".join(_text(rng, "ab x,@.;=", 0, 10) for _ in range(rng.randint(1, 3)))


def write_rows(rows: list[list[str]], terminator: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=terminator).writerows(rows)
    return buf.getvalue()


@dataclass
class _Oracle:
    """Walks the rows as they were built, keeping the physical line and the expected counts."""

    header: list[str]
    default: str | None
    max_cell_chars: int
    line: int = 1  # the header's line
    seen: set[str] = field(default_factory=set)
    expected: Expected = field(default_factory=Expected)

    def row(self, cells: list[str], addr: Address) -> None:
        """Account for one data row (already written) that starts on the next line."""
        self.line += 1 + sum(c.count("\n") for c in cells)
        if not "".join(cells).strip():
            return
        e = self.expected
        e.total += 1
        reason, value = self._verdict(cells, addr)
        if reason:
            e.invalid += 1
            e.reasons[reason] += 1
        elif addr.normal is not None and mailbox(addr.normal) in self.seen:
            e.duplicates += 1
        else:
            assert addr.normal is not None
            self.seen.add(mailbox(addr.normal))
            e.valid += 1
            e.rows.append((addr.normal, [value]))

    def _verdict(self, cells: list[str], addr: Address) -> tuple[str, str]:
        need = max(self.header.index("email"), self.header.index("name"))
        if len(cells) <= need:
            return "missing cells", ""
        if addr.normal is None:
            return addr.reason, ""
        value = cells[self.header.index("name")].strip() or (self.default or "")
        if not value:
            return "empty name", ""
        if len(value) > self.max_cell_chars:
            return "name too long", ""
        if any(c.strip() for c in cells[len(self.header) :]):  # an unquoted comma split a cell
            return "extra", ""
        if any("," in ln and "@" in ln for c in cells if "\n" in c for ln in c.split("\n")[1:]):
            return "swallowed", ""
        return "", value

    def fatal(self, message: str, extra_lines: int = 0) -> None:
        """The next row stops the reading: its problem, placed on its line (plus `extra_lines`)."""
        self.expected.fatal = message
        self.expected.fatal_line = self.line + 1 + extra_lines


#: The fatal kinds a file may end with, and the fragment of the message each must give.
FATAL_KINDS = ["nul", "undecodable", "unclosed", "too-long"]


def csv_case(seed: int) -> CsvCase:
    """A whole recipient CSV: encoding, BOM, line ends, column order, rows of every kind, maybe a fatal row."""
    rng = random.Random(seed)
    encoding = rng.choice(["utf-8-sig", "utf-8-sig", "utf-8-sig", "cp949", "utf-16"])
    bom = encoding == "utf-8-sig" and rng.random() < 0.5
    term = rng.choice(["\n", "\r\n"])
    header = rng.sample(["email", "name", "notes"], 3)
    default = rng.choice([None, DEFAULT_NAME])
    oracle = _Oracle(header, default, rng.choice([5, 40, 1000]))
    parts = [write_rows([header], term)]
    earlier: list[str] = []
    for _ in range(rng.randint(0, 25)):
        kind = rng.choice(["row"] * 8 + ["blank", "short", "long"])
        addr = address(rng, earlier, encoding)
        by_column = {"email": addr.cell, "name": name_text(rng, encoding), "notes": notes_text(rng)}
        cells = [by_column[h] for h in header]
        if kind == "blank":
            cells = rng.choice([[], [""], ["", "", ""], [" ", "", " "]])
        elif kind == "short":
            cells = cells[: rng.randint(0, 2)]
        elif kind == "long":  # trailing cells: empty ones (a spreadsheet's blank columns) or a split cell
            cells = cells + rng.choice([[""], ["", " "], ["Jiwoo"], ["", "x"]])
        parts.append(write_rows([cells], term) if cells else term)
        oracle.row(cells, addr)
        if addr.normal is not None:
            earlier.append(addr.normal)
    text = "".join(parts)
    data = (("\ufeff" if bom else "") + text).encode("utf-8" if encoding == "utf-8-sig" else encoding)
    if encoding != "utf-16" and rng.randrange(4) == 0:
        data += _fatal_row(rng, oracle, header, term, encoding)
    elif encoding != "utf-16" and rng.random() < 0.5:
        data = data[: -len(term)]  # the last row without its line end
    if oracle.expected.fatal is None and oracle.expected.total == 0:
        oracle.expected.fatal = "no recipient rows"
    return CsvCase(data, encoding, default, oracle.max_cell_chars, oracle.expected)


def _fatal_row(rng: random.Random, oracle: _Oracle, header: list[str], term: str, encoding: str) -> bytes:
    """A row that stops the reading (NUL, a byte of another encoding, an unclosed quote, too long)."""
    kind = rng.choice(FATAL_KINDS if encoding != "cp949" else ["nul", "unclosed", "too-long"])
    local, domain = valid_address(rng)
    cells = {"email": f"{local}@{domain}", "name": "x", "notes": notes_text(rng)}
    if kind == "nul":
        cells[rng.choice(["name", "notes"])] += "\x00"
        oracle.fatal("NUL")
    elif kind == "undecodable":
        cells["name"] = "\udcb0"  # stands for a cp949 byte, written below
        extra = sum(cells[h].count("\n") for h in header[: header.index("name")])
        oracle.fatal("not utf-8-sig text (byte 0xb0)", extra)
    elif kind == "too-long":
        cells["notes"] = "n" * (MAX_ROW_BYTES + 10)
        oracle.fatal(f"longer than {MAX_ROW_BYTES:,} bytes")
    text = write_rows([[cells[h] for h in header]], term)
    if kind == "unclosed":
        text = text.rstrip("\r\n") + ',"an open quote' + term + "and more" + term
        oracle.fatal("never closed")
    enc = "utf-8" if encoding == "utf-8-sig" else encoding
    return text.encode(enc, errors="surrogateescape")
