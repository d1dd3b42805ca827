"""Everything written back out is safe with generated hostile text in it: the suppression export (formula
injection), the live page and the simulation report (HTML injection), terminal lines (escape sequences).

The safety oracles are independent of the code: a spreadsheet's formula characters, the tags and
attributes an HTML parser finds, the Unicode categories a terminal acts on.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.commands.logs import event_line
from orchestrator.core.addresses import fold
from orchestrator.core.text import json_printable, printable, printable_lines
from orchestrator.simulation.report import render_report
from orchestrator.store.events import Event
from orchestrator.store.suppression import Entry
from orchestrator.suppression import export_csv, read_import
from orchestrator.web.page import PageData, render_page
from tests.property.conftest import EXAMPLES, HOSTILE, SEEDED
from tests.property.csv_cases import valid_address
from tests.report_helpers import synthetic_report
from tests.unit.test_web_page import _status

#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection"), tab and CR included.
FORMULA = ("=", "+", "-", "@", "\t", "\r")
#: Markup that must never become a tag or an attribute when it comes from data.
MARKUP = [
    "<x-inj>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><x-inj onclick=1>',
    "'><x-inj>",
    "</style><x-inj>",
    "</title><x-inj>",
    "<!--",
    "-->",
    "]]>",
    "&lt;x-inj&gt;",
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
]
TERMINAL = ["\x1b[2J", "\x1b]0;owned\x07", "\x9b31m", "\u202e", "\u2066", "\r", "\n", "\x00", "\ud800", "\u2028"]


def hostile_text(rng: random.Random, limit: int = 6) -> str:
    """Text mixing markup, formulas, terminal escapes, Korean and any other character."""
    parts = [*MARKUP, *TERMINAL, "=cmd|' /C calc'!A0", "+1", "-1", "@x", "'", '"', "&", "한국", "\U0001f4e7"]
    out = [rng.choice(parts) if rng.random() < 0.6 else chr(rng.randrange(0x20, 0x3000)) for _ in range(limit)]
    return "".join(out)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def tags_of(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def assert_no_injection(html: str, baseline: _Tags) -> None:
    """No tag or attribute beyond what the same page has with harmless text; no script at all."""
    found = tags_of(html)
    assert found.tags <= baseline.tags, found.tags - baseline.tags
    assert found.attrs <= baseline.attrs, found.attrs - baseline.attrs
    assert "<script" not in html.lower()


# --- the suppression export -----------------------------------------------------------------


def _entries(seed: int) -> list[Entry]:
    rng = random.Random(seed)
    out = []
    for i in range(rng.randint(1, 8)):
        local, domain = valid_address(rng)
        local = rng.choice(["", "=", "+", "-", "'", "'=", "''"]) + local
        reason = hostile_text(rng).replace("\x00", "").replace("\ud800", "").strip() or "x"
        out.append(Entry(f"{local}@{domain.lower()}", "", reason, float(1_700_000_000 + i), "import"))
    return out


@HOSTILE
@SEEDED
@given(entries=st.integers(0, 2**64).map(_entries))
@example(entries=[Entry("'=x@example.com", "", "'-1", 1.0, "import")]).via(
    "a quote before a formula: came back without it"
)
@example(entries=[Entry("cr@example.com", "", "a\rb", 1.0, "import")]).via("a bare CR was written unquoted")
def test_suppression_export_is_formula_free_and_round_trips(tmp_path: Path, entries: list[Entry]) -> None:
    """No exported cell starts a formula; importing the export gives back every entry unchanged, its
    address folded as every list keys it (an entry an older release kept with capitals comes back folded)."""
    text = export_csv(entries)
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(FORMULA), cell
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    assert read_import(path, None, 0.0) == [dataclasses.replace(e, address=fold(e.address)) for e in entries]


# --- HTML: the live page and the report ----------------------------------------------------

PAGE_BASELINE = tags_of(render_page(PageData([_status()], [], 1_800_000_000.0, 1.0)))


@HOSTILE
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_live_page_shows_hostile_text_as_text(seed: int) -> None:
    """Hostile names, reasons, identities and events add no tag and no attribute to the live page."""
    rng = random.Random(seed)
    status = _status(name=hostile_text(rng), reason=hostile_text(rng), paused_by=hostile_text(rng))
    status["identities"][0] = {**status["identities"][0], "id": hostile_text(rng), "from_address": hostile_text(rng)}
    data = {hostile_text(rng, 2): hostile_text(rng) for _ in range(3)}
    event = Event("1-0", 1_800_000_000.0, hostile_text(rng, 3), hostile_text(rng), hostile_text(rng), data)
    html = render_page(PageData([status], [event], 1_800_000_000.0, 1.0))
    assert_no_injection(html, PAGE_BASELINE)


REPORT_BASELINE = tags_of(render_report(synthetic_report(days=2, identities=1, note="a note")))


@settings(HOSTILE, max_examples=max(50, EXAMPLES // 10))
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_report_shows_hostile_text_as_text(seed: int) -> None:
    """Hostile campaign, note, identity and event text adds no tag and no attribute to the report."""
    rng = random.Random(seed)
    data = synthetic_report(days=2, identities=1, note=hostile_text(rng), campaign=hostile_text(rng))
    ident = hostile_text(rng)
    data["identities"] = [ident]
    for row in data["days"] + data["hours"]:
        row["identity"] = ident
    data["events"].append({"t": hostile_text(rng), "type": hostile_text(rng), "identity": ident, "detail": "x"})
    assert_no_injection(render_report(data), REPORT_BASELINE)


# --- terminal lines ----------------------------------------------------------------------------

#: Bidi controls and separators a terminal or an editor acts on although they are not Cc.
ACTING = {
    "\u061c",
    "\u200e",
    "\u200f",
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *"\u2066\u2067\u2068\u2069",
}


def assert_inert(line: str) -> None:
    """Nothing a terminal would act on: no control character (C0, C1, DEL), no bidi control, no surrogate."""
    for c in line:
        assert unicodedata.category(c) not in ("Cc", "Cs"), repr(c)
        assert c not in ACTING, repr(c)


@HOSTILE
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_terminal_lines_are_inert(seed: int) -> None:
    """`printable` and the `logs` line leave nothing a terminal acts on, and keep every other character."""
    rng = random.Random(seed)
    text = hostile_text(rng, 12)
    shown = printable(text)
    assert_inert(shown)
    kept = [c for c in text if unicodedata.category(c) not in ("Cc", "Cs") and c not in ACTING]
    assert [c for c in shown if not c.isascii() or c not in "\\xu0123456789abcdef"] == [
        c for c in kept if not c.isascii() or c not in "\\xu0123456789abcdef"
    ]
    data = {hostile_text(rng, 2): hostile_text(rng) for _ in range(2)}
    assert_inert(event_line(Event("1-0", 1_800_000_000.0, text, "c", hostile_text(rng), data)))


@HOSTILE
@SEEDED
@given(seed=st.integers(0, 2**64))
def test_json_and_data_lines_are_inert_and_exact(seed: int) -> None:
    """JSON written for a terminal (`json_printable`) parses back to the exact value with nothing a terminal
    acts on in it, indented or not; CSV or JSON lines on a terminal (`printable_lines`) keep their line
    breaks and nothing else a terminal acts on."""
    rng = random.Random(seed)
    value = {hostile_text(rng, 2): [hostile_text(rng), rng.random()] for _ in range(3)}
    for indent in (None, 2):
        text = json_printable(json.dumps(value, ensure_ascii=False, indent=indent))
        assert json.loads(text) == value
        for line in text.split("\n"):
            assert_inert(line)
    lines = [hostile_text(rng) for _ in range(3)]
    written = "\r\n".join(lines) + "\r\n"
    shown = printable_lines(written)
    assert shown.count("\n") == written.replace("\r\n", "\n").count("\n")  # a line break in a cell stays one
    for line in shown.split("\n"):
        assert_inert(line)
