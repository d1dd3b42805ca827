"""Hostile input files: non-finite numbers, YAML bombs, huge values, broken CSVs, all placed and bounded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.campaign_file import MAX_CAMPAIGN_FILE_BYTES, check_campaign, check_campaign_and_rows, load_campaign
from orchestrator.core.campaign import Campaign
from orchestrator.recipients import SWALLOWED, RecipientFileError, Row, scan_recipients
from tests.pipeline_helpers import write_campaign

# --- numbers --------------------------------------------------------------------------------

#: Every number of the file a user may write as a float, with the section it lives in.
NUMBER_FIELDS = [
    ("pool", "multiplier"),
    ("plan", "scale"),
    ("plan", "advance_min_fraction"),
    ("plan", "target_daily"),
    ("shaping", "max_domain_share"),
    ("retry", "base_delay_s"),
    ("retry", "max_delay_s"),
    ("simulation", "hard_bounce_rate"),
    ("simulation", "soft_bounce_rate"),
    ("simulation", "open_rate"),
    ("simulation", "click_rate"),
    ("simulation", "complaint_rate"),
    ("simulation", "unsubscribe_rate"),
    ("simulation", "transient_error_rate"),
    ("simulation", "temporary_block_rate"),
]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        pytest.param(section, key, value, id=f"{section}.{key}={name}")
        for section, key in NUMBER_FIELDS
        for value, name in ((float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"))
    ],
)
def test_campaign_number_refuses_non_finite_values(tmp_path: Path, section: str, key: str, value: float) -> None:
    """`.inf`, `-.inf` and `.nan` are refused with the file, line and field, wherever the file takes a number."""
    path = write_campaign(tmp_path, 2, extra={section: {key: value}})
    campaign, problems = check_campaign(path)
    assert campaign is None
    mine = [p for p in problems if p.field == f"{section}.{key}"]
    assert len(mine) == 1, problems
    assert mine[0].line is not None
    assert "finite number" in mine[0].message


def test_campaign_number_refuses_non_finite_per_domain_rates(tmp_path: Path) -> None:
    """A per-domain simulation rate of `.nan` is refused at its own place too."""
    path = write_campaign(tmp_path, 2, extra={"simulation": {"domains": {"gmail.com": {"open_rate": float("nan")}}}})
    _, problems = check_campaign(path)
    assert [(p.field, "finite number" in p.message) for p in problems] == [
        ("simulation.domains.gmail.com.open_rate", True)
    ]


# --- YAML -----------------------------------------------------------------------------------

BASE = """\
name: t
identities: [{id: a, from: "News <news@d0.example.com>"}]
template: {id: 1, subject: "Hi {{name}}", data: {name: {column: first_name}}}
recipients: {file: t.csv}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "t.csv").write_text("email,first_name\na@example.org,A\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _laughs(levels: int) -> str:
    lines = ["  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(BASE + "pool:\n" + _laughs(9), 10, "aliases expand the document past", id="billion-laughs"),
        pytest.param(BASE + "pool: " + "[" * 500 + "]" * 500 + "\n", 5, "nested deeper than 50", id="nesting-500"),
        pytest.param(BASE + "pool: &p {x: [*p]}\n", 5, "is inside the node it names", id="recursive-alias"),
    ],
)
def test_yaml_bomb_is_refused_fast_with_its_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    """Alias bombs, deep nesting and self-containing aliases are refused in well under 2 s, at their line."""
    path = _write(tmp_path, text)
    started = time.perf_counter()
    _, problems = check_campaign(path)
    assert time.perf_counter() - started < 2.0
    assert [(p.line, fragment in p.message) for p in problems] == [(line, True)], problems


def test_yaml_anchors_within_the_limits_still_work(tmp_path: Path) -> None:
    """Ordinary anchors and merge keys are read as before."""
    text = BASE + "simulation:\n  domains:\n    a.org: &d {open_rate: 0.5}\n    b.org: {<<: *d, click_rate: 0.1}\n"
    campaign = load_campaign(_write(tmp_path, text))
    domains = campaign.simulation.domains
    assert (domains["a.org"].open_rate, domains["b.org"].open_rate, domains["b.org"].click_rate) == (0.5, 0.5, 0.1)


HUGE = "x" * 200_000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(BASE.replace("name: t", f"name: {HUGE}"), id="name"),
        pytest.param(BASE.replace("news@d0.example.com", HUGE + "@d0.example.com"), id="from"),
        pytest.param(BASE + f"{HUGE}: 1\n", id="unknown-key"),
        pytest.param(BASE.replace("id: 1,", f"id: {HUGE},"), id="template-id"),
        pytest.param(BASE + f'sending_window: "{HUGE}"\n', id="window"),
        pytest.param(BASE + f"timezone: {HUGE}\n", id="timezone"),
        pytest.param(HUGE + "\n", id="top-level-scalar"),
        pytest.param(BASE + f"pool: {{multiplier: [{', '.join(['1'] * 20000)}]}}\n", id="long-list"),
    ],
)
def test_error_message_never_renders_a_huge_value(tmp_path: Path, text: str) -> None:
    """A 200,000-character value is cut in the message: no problem line is longer than a few hundred characters."""
    _, problems = check_campaign(_write(tmp_path, text))
    assert problems
    assert max(len(str(p)) for p in problems) < 700, [str(p)[:200] for p in problems]


def test_campaign_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """A campaign file larger than 1 MiB is refused before it is parsed."""
    path = _write(tmp_path, BASE + "# " + "x" * MAX_CAMPAIGN_FILE_BYTES + "\n")
    _, problems = check_campaign(path)
    assert [p.message.split(";")[0] for p in problems] == ["the file is larger than 1 MiB"]


# --- the CSV --------------------------------------------------------------------------------


def _campaign(tmp_path: Path, csv_bytes: bytes, **recipients: object) -> Campaign:
    path = write_campaign(tmp_path, 1, extra={"recipients": {"file": "r.csv", "shuffle_seed": 1, **recipients}})
    (tmp_path / "r.csv").write_bytes(csv_bytes)
    return load_campaign(path)


def _error(tmp_path: Path, csv_bytes: bytes, **recipients: object) -> RecipientFileError:
    with pytest.raises(RecipientFileError) as info:
        scan_recipients(_campaign(tmp_path, csv_bytes, **recipients))
    return info.value


def _good_rows(n: int, start: int = 0) -> bytes:
    return b"".join(f"user{i}@example.org,Name{i}\n".encode() for i in range(start, start + n))


@pytest.mark.parametrize(
    ("csv_bytes", "line", "column", "fragment"),
    [
        pytest.param(
            b"email,first_name\n" + _good_rows(3) + b'a@example.org,"Kim\n' + _good_rows(5, 3),
            5,
            None,
            "a quote opened in this row is never closed",
            id="unterminated-quote",
        ),
        pytest.param(
            b"email,first_name\n" + _good_rows(698) + b"bad@example.org,J\xe9r\xf4me\n" + _good_rows(300, 700),
            700,
            None,
            "not utf-8-sig text (byte 0xe9)",
            id="bad-utf8-line-700",
        ),
        pytest.param(
            b"email,first_name\n" + _good_rows(2) + b"c@example.org,Ki\x00m\n",
            4,
            "first_name",
            "NUL character",
            id="nul-in-a-cell",
        ),
        pytest.param(
            b"email,first_name\n" + _good_rows(2) + b"c@example.org," + b"x" * 5000 + b"\n",
            4,
            None,
            "longer than 4,096 bytes (recipients.max_row_bytes",
            id="row-too-long",
        ),
        pytest.param(
            b"email,first_name\n" + _good_rows(2) + b"c@example.org,x" + b"y" * 50_000,
            4,
            None,
            "longer than 4,096 bytes",
            id="endless-line",
        ),
        pytest.param(
            b"email,first_name\n" + b'c@example.org,"' + b"a\n" * 3000 + b'"\n',
            2,
            None,
            "longer than 4,096 bytes",
            id="quoted-cell-over-many-lines",
        ),
        pytest.param(b"email,first_name\n", None, None, "a header but no recipient rows", id="header-only"),
        pytest.param(
            b"email,first_name\n\n  ,  \n", None, None, "a header but no recipient rows", id="blank-rows-only"
        ),
    ],
)
def test_csv_problem_is_placed_at_its_line_and_column(
    tmp_path: Path, csv_bytes: bytes, line: int | None, column: str | None, fragment: str
) -> None:
    """Each unreadable CSV is one RecipientFileError naming the real line (and column), never a merge or a guess."""
    err = _error(tmp_path, csv_bytes, max_row_bytes=4096)
    assert (err.line, err.column) == (line, column)
    assert fragment in err.message
    expected_place = f"{tmp_path / 'r.csv'}" + (f":{line}" if line else "") + (f": column {column}" if column else "")
    assert str(err).startswith(expected_place + ": ")


@pytest.mark.parametrize(
    ("csv_bytes", "line", "fragment"),
    [
        pytest.param(b"", None, "the file is empty: its first line must name the columns", id="empty"),
        pytest.param(b"\nemail,first_name\n", 1, "the first line is blank", id="blank-first-line"),
        pytest.param(b"email,first\x00name\n" + _good_rows(2), 1, "the header holds a NUL", id="nul-in-header"),
        pytest.param(b'"email,first_name\n' + _good_rows(2), 1, "a quote opened in this row", id="quote-in-header"),
    ],
)
def test_csv_header_problem_is_placed_in_the_csv(
    tmp_path: Path, csv_bytes: bytes, line: int | None, fragment: str
) -> None:
    """A header that cannot be read is one problem placed in the CSV (validate, and every command loading the file)."""
    path = write_campaign(tmp_path, 1, extra={"recipients": {"file": "r.csv"}})
    (tmp_path / "r.csv").write_bytes(csv_bytes)
    _, problems = check_campaign(path)
    assert [(p.file, p.line, fragment in p.message) for p in problems] == [(str(tmp_path / "r.csv"), line, True)]


def test_csv_limits_are_settings(tmp_path: Path) -> None:
    """A row over the default limit and a long cell are accepted once max_row_bytes and max_cell_chars are raised."""
    long_name = "N" * 1500
    csv_bytes = (
        b"email,first_name,notes\n" + f"a@example.org,{long_name}\n".encode() + b"b@example.org,B," + b"z" * 1_100_000
    )
    assert "longer than 1,048,576 bytes" in _error(tmp_path, csv_bytes).message
    stats = scan_recipients(_campaign(tmp_path, csv_bytes, max_row_bytes=2_000_000))
    assert (stats.valid, dict(stats.invalid_reasons)) == (1, {"first_name too long": 1})
    rows: list[Row] = []
    stats = scan_recipients(_campaign(tmp_path, csv_bytes, max_row_bytes=2_000_000, max_cell_chars=2000), rows.append)
    assert [r.values for r in rows] == [[long_name], ["B"]]


@pytest.mark.parametrize(
    ("csv_bytes", "encoding", "expected"),
    [
        pytest.param(
            b'email,first_name\r\na@example.org,"two\r\nlines"\r\n\r\nb@example.org,B\r\n',
            "utf-8-sig",
            [(2, "a@example.org", ["two\r\nlines"]), (5, "b@example.org", ["B"])],
            id="crlf-and-quoted-line-break",
        ),
        pytest.param(
            b"email,first_name\ra@example.org,A\rb@example.org,B\r",
            "utf-8-sig",
            [(2, "a@example.org", ["A"]), (3, "b@example.org", ["B"])],
            id="cr-only-line-ends",
        ),
        pytest.param(
            "email\tfirst_name\r\nmin@naver.com\t민수\r\nb@example.org\tB\r\n".encode("utf-16"),
            "utf-16",
            [(2, "min@naver.com", ["민수"]), (3, "b@example.org", ["B"])],
            id="utf-16",
        ),
        pytest.param(
            "email,first_name\nmin@naver.com,민수\n".encode("cp949"),
            "cp949",
            [(2, "min@naver.com", ["민수"])],
            id="cp949",
        ),
    ],
)
def test_csv_rows_keep_their_start_line(
    tmp_path: Path, csv_bytes: bytes, encoding: str, expected: list[tuple[int, str, list[str]]]
) -> None:
    """Line ends of every kind, quoted line breaks and other encodings read as the rows they are, at their lines."""
    delimiter = "\t" if encoding == "utf-16" else ","
    rows: list[Row] = []
    scan_recipients(_campaign(tmp_path, csv_bytes, encoding=encoding, delimiter=delimiter), rows.append)
    assert [(r.line, r.address, r.values) for r in rows] == expected


def test_validate_counts_rows_and_places_a_broken_quote(tmp_path: Path) -> None:
    """check_campaign_and_rows gives submit's counts for a good CSV, and the CSV's place for a broken one."""
    campaign = _campaign(tmp_path, b"email,first_name\n" + _good_rows(4) + b"bad,X\nuser1@example.org,Again\n")
    del campaign
    _, stats, problems = check_campaign_and_rows(tmp_path / "t.yaml")
    assert problems == []
    assert stats is not None
    assert (stats.total, stats.valid, stats.invalid, stats.duplicates) == (6, 4, 1, 1)
    (tmp_path / "r.csv").write_bytes(
        b"email,first_name\n" + _good_rows(2) + b'x@example.org,"open\n' + _good_rows(2, 5)
    )
    _, stats, problems = check_campaign_and_rows(tmp_path / "t.yaml")
    assert stats is None
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'r.csv'}:4: cannot read this line: a quote opened in this row is never closed"
    ]


@pytest.mark.parametrize(
    ("csv_bytes", "valid", "invalid"),
    [
        pytest.param(
            b'email,first_name\na@x.com,"Al\nb@x.com,Bo\nc@x.com,Cy"\nd@x.com,Di\n', ["d@x.com"], 1, id="stray-quote"
        ),
        pytest.param(
            b'email,first_name\na@x.com,"Kim\nJiwoo"\nd@x.com,Di\n', ["a@x.com", "d@x.com"], 0, id="two-line-name"
        ),
        pytest.param(
            b'email,first_name\na@x.com,"Kim, Jiwoo\nSeoul, Korea"\n', ["a@x.com"], 0, id="two-line-cell-with-commas"
        ),
    ],
)
def test_csv_quoted_cell_that_swallowed_rows_is_reported(
    tmp_path: Path, csv_bytes: bytes, valid: list[str], invalid: int
) -> None:
    """A stray quote that merges the next rows into one cell makes that row invalid, with its line: never silent."""
    rows: list[Row] = []
    stats = scan_recipients(_campaign(tmp_path, csv_bytes), rows.append)
    assert [r.address for r in rows] == valid
    assert stats.invalid == invalid
    if invalid:
        assert stats.invalid_examples == ["line 2: " + SWALLOWED]
