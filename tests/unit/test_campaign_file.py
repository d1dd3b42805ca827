"""Reading campaign files (orchestrator/campaign_file.py): the model, line numbers, the CSV header."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from orchestrator.campaign_file import (
    CampaignFileError,
    Problem,
    campaign_fingerprint,
    check_campaign,
    check_campaign_and_rows,
    count_recipients,
    load_campaign,
    read_csv_header,
)
from orchestrator.core.campaign import ColumnSource, ValueSource
from orchestrator.core.window import parse_window

EXAMPLE = Path(__file__).parents[2] / "campaigns" / "example.yaml"
CSV = "email,first_name\njiwoo@naver.com,Jiwoo\nalex@gmail.com,Alex\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding a copy of the example campaign and a two-recipient CSV."""
    (tmp_path / "spring.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "recipients.csv").write_text(CSV, encoding="utf-8")
    return tmp_path


def _edit(folder: Path, old: str, new: str) -> Path:
    path = folder / "spring.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_load_campaign_reads_the_example() -> None:
    """The shipped example loads, with its recipients file made absolute next to the YAML."""
    campaign = load_campaign(EXAMPLE)
    assert campaign.name == "spring-news"
    assert [i.id for i in campaign.identities] == ["news-a", "news-b"]
    assert campaign.recipients.file == (EXAMPLE.parent / "recipients.csv").resolve()
    assert campaign.template.data == {
        "name": ColumnSource(column="first_name"),
        "coupon": ValueSource(value="SPRING"),
    }


def test_recipients_file_is_relative_to_the_yaml_not_the_cwd(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative recipients.file is found next to the YAML whatever the working directory."""
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    campaign = load_campaign(str(folder / "spring.yaml"))
    assert campaign.recipients.file == (folder / "recipients.csv").resolve()
    assert campaign.recipients.file.is_absolute()


def test_read_csv_header_returns_the_first_row(folder: Path) -> None:
    """Only the header row is read, as a list of column names."""
    assert read_csv_header(load_campaign(folder / "spring.yaml")) == ["email", "first_name"]


def test_read_csv_header_honours_encoding_and_delimiter(folder: Path) -> None:
    """A cp949, semicolon-separated list is read with the campaign's encoding and delimiter."""
    (folder / "ko.csv").write_bytes("email;이름\nmin@naver.com;민수\n".encode("cp949"))
    path = _edit(
        folder,
        "recipients: {file: recipients.csv, email_column: email, shuffle_seed: 42}",
        "recipients: {file: ko.csv, email_column: email, delimiter: ';', encoding: cp949}\n"
        "# 이름 is the Korean given name",
    )
    path.write_text(path.read_text(encoding="utf-8").replace("column: first_name", "column: 이름"), encoding="utf-8")
    campaign = load_campaign(path)
    assert read_csv_header(campaign) == ["email", "이름"]
    assert count_recipients(campaign) == 1


def test_read_csv_header_of_a_missing_file_is_a_campaign_file_error(folder: Path) -> None:
    """A CSV removed after loading is reported as a problem naming the CSV, not an OSError."""
    campaign = load_campaign(folder / "spring.yaml")
    (folder / "recipients.csv").unlink()
    with pytest.raises(CampaignFileError, match=r"recipients\.csv: recipients\.file: no such file"):
        read_csv_header(campaign)


def test_count_recipients_counts_valid_addresses_only(folder: Path) -> None:
    """Rows with a bad, empty or absent address are not counted; the header is not a recipient."""
    rows = "email,first_name\na@x.example.com,A\nnot-an-address,B\n,C\n\nb@y.example.com,D\nlonely\n"
    (folder / "recipients.csv").write_text(rows, encoding="utf-8")
    assert count_recipients(load_campaign(folder / "spring.yaml")) == 2


def test_check_campaign_locates_a_bad_from_address(folder: Path) -> None:
    """The error of identities[1].from carries the line of that key and the address's reason."""
    path = _edit(folder, '"Acme News <news@b.example.com>"', "foo")
    campaign, problems = check_campaign(path)
    assert campaign is None
    assert problems == [Problem(str(path), 14, "identities[1].from", "not an e-mail address: 'foo' (bad syntax)")]
    assert str(problems[0]) == f"{path}:14: identities[1].from: not an e-mail address: 'foo' (bad syntax)"


def test_check_campaign_reports_every_problem_in_line_order(folder: Path) -> None:
    """Several mistakes are all reported at once, sorted by line."""
    _edit(folder, "timezone: Asia/Seoul", "timezone: Asia/Nowhere")
    path = _edit(folder, "    warmup_day: 1 ", "    warmup_day: 0 ")
    _campaign, problems = check_campaign(path)
    assert [(p.line, p.field) for p in problems] == [(5, "timezone"), (11, "identities[0].warmup_day")]
    assert problems[1].message == "Input should be greater than or equal to 1 (got 0)"


@pytest.mark.parametrize(
    ("written", "read"),
    [("007", "7"), ("01234", "668"), ("1.50", "1.5"), ("0x1F", "31"), ("yes", "True"), ("1.0e+3", "1000.0")],
)
def test_text_yaml_read_as_a_number_is_quoted_as_written(folder: Path, written: str, read: str) -> None:
    """A coupon `007` YAML read as 7 must be quoted as '007': quoting the number YAML made of it (7, or
    668 for the octal 01234) would change the code silently."""
    path = _edit(folder, "coupon: {value: SPRING}", f"coupon: {{value: {written}}}")
    _campaign, [problem] = check_campaign(path)
    assert problem.field == "template.data.coupon.value"
    assert problem.message == f"expected text, got {read}; put it in quotes: '{written}'"


def test_check_campaign_moves_a_path_in_the_message_into_the_field(folder: Path) -> None:
    """A model check that names a deeper field (identities[1].id) is placed on that field's line."""
    path = _edit(folder, "id: news-b", "id: news-a")
    _campaign, problems = check_campaign(path)
    assert problems == [Problem(str(path), 13, "identities[1].id", "'news-a' is used twice")]


def test_check_campaign_suggests_the_closest_known_key(folder: Path) -> None:
    """An unknown key is reported with the nearest known key and every key allowed there."""
    path = _edit(folder, "  after_table: double", "  after_tabel: double")
    _campaign, problems = check_campaign(path)
    assert len(problems) == 1
    assert problems[0].field == "plan.after_tabel"
    assert problems[0].message.startswith(
        "unknown key 'after_tabel'; did you mean 'after_table'? (allowed here: table,"
    )


def test_an_identitys_sender_is_written_from_and_nothing_else(folder: Path) -> None:
    """`from` is the key; the model's own name for it (`from_`) is an unknown key like any other."""
    path = _edit(folder, '    from: "Acme News <news@a.example.com>"', '    from_: "Acme News <news@a.example.com>"')
    _campaign, problems = check_campaign(path)
    assert [(p.line, p.field, p.message.split(";")[0]) for p in problems] == [
        (9, "identities[0].from", "required key is missing"),
        (10, "identities[0].from_", "unknown key 'from_'"),
    ]


def test_check_campaign_finds_duplicate_yaml_keys(folder: Path) -> None:
    """A key given twice is a problem on the second one's line, even though the model is valid."""
    path = _edit(folder, "  scale: 1.0\n", "  scale: 1.0\n  scale: 0.5\n")
    campaign, problems = check_campaign(path)
    assert campaign is not None
    assert problems == [
        Problem(str(path), 20, "plan.scale", "duplicate key (first on line 19); YAML would keep only the last")
    ]
    with pytest.raises(CampaignFileError):
        load_campaign(path)


def test_check_campaign_accepts_anchors_and_merge_keys(folder: Path) -> None:
    """YAML anchors and merge keys (<<) are ordinary YAML and are not duplicate keys."""
    path = _edit(folder, "  - id: news-a\n", "  - &first\n    id: news-a\n")
    path = _edit(
        folder,
        '  - id: news-b\n    from: "Acme News <news@b.example.com>"',
        '  - <<: *first\n    id: news-b\n    from: "Acme News <news@b.example.com>"',
    )
    campaign, problems = check_campaign(path)
    assert problems == []
    assert campaign is not None
    assert campaign.identities[1].daily_quota == 500


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        pytest.param(
            "email_column: email",
            "email_column: mail",
            "recipients.email_column",
            "no column 'mail' in the header of recipients.csv (columns: email, first_name)",
            id="email-column",
        ),
        pytest.param(
            "column: first_name",
            "column: given_name",
            "template.data.name.column",
            "no column 'given_name' in the header of recipients.csv (columns: email, first_name)",
            id="data-column",
        ),
        pytest.param(
            "file: recipients.csv",
            "file: missing.csv",
            "recipients.file",
            "no such file: ",
            id="missing-csv",
        ),
        pytest.param(
            "shuffle_seed: 42",
            "shuffle_seed: 42, encoding: klingon",
            "recipients.encoding",
            "unknown encoding 'klingon'",
            id="unknown-encoding",
        ),
    ],
)
def test_check_campaign_checks_the_csv_header(folder: Path, old: str, new: str, field: str, message: str) -> None:
    """The e-mail column and every {column: X} must be in the CSV header; the problem sits on the YAML key."""
    path = _edit(folder, old, new)
    campaign, problems = check_campaign(path)
    assert campaign is not None
    assert [(p.file, p.field) for p in problems] == [(str(path), field)]
    assert problems[0].message.startswith(message)
    assert problems[0].line is not None


def test_check_campaign_reports_a_csv_in_another_encoding(folder: Path) -> None:
    """A Latin-1 list read as UTF-8 is a problem on recipients.encoding naming the line, not a UnicodeDecodeError."""
    (folder / "recipients.csv").write_bytes("email,first_name\nj@x.example.com,J\xe9r\xf4me\n".encode("latin-1"))
    _campaign, _stats, problems = check_campaign_and_rows(folder / "spring.yaml")
    assert [p.field for p in problems] == ["recipients.encoding"]
    assert "recipients.csv is not utf-8-sig text (byte 0xe9 on line 2)" in problems[0].message


@pytest.mark.parametrize(
    ("encoding", "why"),
    [
        pytest.param("utf-16", "UTF-16 stream does not start with BOM", id="utf-16-without-its-bom"),
        pytest.param("punycode", "", id="a-codec-for-domain-labels"),
    ],
)
def test_a_codec_that_refuses_the_whole_file_is_a_placed_problem(folder: Path, encoding: str, why: str) -> None:
    """UTF-16 named for a UTF-8 file (Excel's "Unicode text" has a BOM; this one has none): a line, no traceback."""
    path = _edit(
        folder, "recipients: {file: recipients.csv,", f"recipients: {{file: recipients.csv, encoding: {encoding},"
    )
    _campaign, _stats, problems = check_campaign_and_rows(path)
    assert [p.field for p in problems] == ["recipients.encoding"]
    assert f"recipients.csv is not {encoding} text ({why}" in problems[0].message
    assert problems[0].line is not None


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        pytest.param(b"", None, "the file is empty", id="empty"),
        pytest.param(b"# only a comment\n", None, "the file is empty", id="comment-only"),
        pytest.param(b"- a\n- b\n", 1, "the top level must be a mapping", id="a-list"),
        pytest.param(b"just words\n", 1, "the top level must be a mapping", id="a-string"),
        pytest.param(b"name: [a\nmode: b\n", 2, "not valid YAML: while parsing a flow sequence", id="bad-yaml"),
        pytest.param(b"name: a\n\tmode: b\n", 2, "not valid YAML", id="tab"),
        pytest.param(b"name: caf\xe9\n", 1, "not UTF-8 text (byte 0xe9)", id="latin-1"),
        pytest.param(b"name: a\x00b\n", 1, "not valid YAML: character #x0000 is not allowed", id="nul"),
        pytest.param(b"name: a\n---\nname: b\n", 2, "expected a single document", id="two-documents"),
    ],
)
def test_check_campaign_reports_unreadable_files(
    tmp_path: Path, content: bytes, line: int | None, message: str
) -> None:
    """A file that is not a YAML mapping is one problem with its line, never an exception."""
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    campaign, problems = check_campaign(path)
    assert campaign is None
    assert len(problems) == 1
    assert (problems[0].line, problems[0].field) == (line, "")
    assert message in problems[0].message


def test_check_campaign_reports_a_missing_file(tmp_path: Path) -> None:
    """A path that does not exist, or is a folder, is a problem without a line."""
    assert check_campaign(tmp_path / "nope.yaml")[1] == [Problem(str(tmp_path / "nope.yaml"), None, "", "no such file")]
    assert check_campaign(tmp_path)[1] == [Problem(str(tmp_path), None, "", "is a directory, not a campaign file")]


def test_check_campaign_keeps_an_impossible_date_for_the_model(folder: Path) -> None:
    """A date YAML cannot build (month 13) is reported by the model on its field, not as a crash."""
    path = _edit(folder, "start: 2026-12-01", "start: 2026-13-01")
    _campaign, problems = check_campaign(path)
    assert [(p.line, p.field) for p in problems] == [(6, "start")]
    assert "month value is outside expected range" in problems[0].message


def test_campaign_file_error_prints_one_line_per_problem() -> None:
    """str() of the error is the printable problems, one per line."""
    error = CampaignFileError([Problem("c.yaml", 3, "name", "bad"), Problem("c.yaml", None, "", "the file is empty")])
    assert str(error) == "c.yaml:3: name: bad\nc.yaml: the file is empty"
    assert len(error.problems) == 2


def test_fingerprint_is_stable_and_follows_both_files(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Same YAML and CSV bytes give the same fingerprint anywhere; a change to either file changes it."""
    first = campaign_fingerprint(folder / "spring.yaml")
    copy = tmp_path_factory.mktemp("copy")
    for name in ("spring.yaml", "recipients.csv"):
        (copy / name).write_bytes((folder / name).read_bytes())
    assert campaign_fingerprint(copy / "spring.yaml") == first
    assert len(first) == 64
    (copy / "recipients.csv").write_text(CSV + "new@z.example.com,New\n", encoding="utf-8")
    assert campaign_fingerprint(copy / "spring.yaml") != first
    _edit(folder, "shuffle_seed: 42", "shuffle_seed: 43")
    assert campaign_fingerprint(folder / "spring.yaml") != first


def test_fingerprint_of_an_invalid_file_raises(folder: Path) -> None:
    """An invalid campaign has no fingerprint: CampaignFileError says why."""
    path = _edit(folder, "name: spring-news", "name: Spring News!")
    with pytest.raises(CampaignFileError, match=r"spring\.yaml:3: name: "):
        campaign_fingerprint(path)


def test_check_campaign_checks_the_csv_even_when_the_model_fails(folder: Path) -> None:
    """A model error elsewhere does not hide the CSV header problems: both are reported."""
    _edit(folder, "{{name}}", "{{name}} {{city}}")
    path = _edit(folder, "column: first_name", "column: nickname")
    campaign, problems = check_campaign(path)
    assert campaign is None
    assert [(p.line, p.field) for p in problems] == [(23, "template.subject"), (25, "template.data.name.column")]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param("08:00-22:00", (dt.time(8), dt.time(22)), id="day"),
        pytest.param(" 22:30 - 06:00 ", (dt.time(22, 30), dt.time(6)), id="wraps-midnight-with-blanks"),
        pytest.param("08:00-24:00", (dt.time(8), dt.time(0)), id="until-midnight"),
        pytest.param("08:00-24:30", None, id="past-24"),
        pytest.param("08:00-08:00", None, id="empty"),
        pytest.param("8am-10pm", None, id="not-hh-mm"),
        pytest.param("08:60-10:00", None, id="minute-60"),
    ],
)
def test_parse_window(window: str, expected: tuple[dt.time, dt.time] | None) -> None:
    """A sending window is 'HH:MM-HH:MM' (24:00 is midnight); anything else is a ValueError."""
    if expected is None:
        with pytest.raises(ValueError, match="sending_window"):
            parse_window(window)
    else:
        assert parse_window(window) == expected


@pytest.mark.parametrize("window", ["00:00-24:00", " 0:00 - 24:00 "])
def test_a_window_from_the_days_start_to_its_end_is_no_window(folder: Path, window: str) -> None:
    """'00:00-24:00' is what a person writes for all day: the campaign sends around the clock (it was refused
    as an empty window); '09:00-09:00' stays an error naming the key."""
    campaign, problems = check_campaign(_edit(folder, 'sending_window: "08:00-22:00"', f'sending_window: "{window}"'))
    assert problems == []
    assert campaign is not None
    assert campaign.sending_window is None
    assert campaign.window is None
    _, problems = check_campaign(_edit(folder, f'sending_window: "{window}"', 'sending_window: "09:00-09:00"'))
    assert [p.field for p in problems] == ["sending_window"]
    assert "is empty" in problems[0].message


SIM_BLOCK = "simulation:               # what `orchestrate simulate` assumes; real sends ignore it\n"


def test_check_campaign_reads_per_identity_simulation_rates(folder: Path) -> None:
    """`simulation.identities` keeps each identity's rates and leaves the others unset."""
    path = _edit(folder, SIM_BLOCK, SIM_BLOCK + "  identities:\n    news-b: {hard_bounce_rate: 0.07}\n")
    campaign, problems = check_campaign(path)
    assert problems == []
    assert campaign is not None
    rates = campaign.simulation.identities["news-b"]
    assert (rates.hard_bounce_rate, rates.open_rate) == (0.07, None)


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        pytest.param(
            "    news-x: {open_rate: 0.2}\n",
            "simulation.identities.news-x",
            "no identity has the id 'news-x' (the identities: news-a, news-b)",
            id="unknown-id",
        ),
        pytest.param(
            "    news-a: {open_rate: 2}\n",
            "simulation.identities.news-a.open_rate",
            "Input should be less than or equal to 1 (got 2)",
            id="rate-above-one",
        ),
        pytest.param(
            "    news-a: {temporary_block_rate: 0.1}\n",
            "simulation.identities.news-a.temporary_block_rate",
            "unknown key 'temporary_block_rate'",
            id="domain-only-key",
        ),
    ],
)
def test_check_campaign_places_bad_simulation_identities(folder: Path, block: str, field: str, message: str) -> None:
    """A bad per-identity rate or an unknown identity id is placed on its own line, with the field's path."""
    path = _edit(folder, SIM_BLOCK, SIM_BLOCK + "  identities:\n" + block)
    line = path.read_text(encoding="utf-8").splitlines().index(block.rstrip("\n")) + 1
    _campaign, problems = check_campaign(path)
    assert [(p.line, p.field) for p in problems] == [(line, field)]
    assert problems[0].message.startswith(message)


@pytest.mark.parametrize(
    ("old", "new", "place", "words"),
    [
        ("daily_quota: 500", "daily_quota: yes", "identities[0].daily_quota", "expected a number, got true"),
        ("pool: {multiplier: 5}", "pool: {multiplier: on}", "pool.multiplier", "expected a number, got true"),
        ("max_domain_share: 0.3", "max_domain_share: true", "shaping.max_domain_share", "expected a number"),
        ("shuffle_seed: 42", "shuffle_seed: no", "recipients.shuffle_seed", "expected a number, got false"),
        ("max_attempts: 8", "max_attempts: on", "retry.max_attempts", "expected a number, got true"),
        ("pool: {multiplier: 5}", "pool: {multiplier: 6, allow_above_5x: 1}", "pool.allow_above_5x", "true or false"),
    ],
)
def test_a_yes_no_value_is_never_read_as_a_number(folder: Path, old: str, new: str, place: str, words: str) -> None:
    """YAML reads yes/on/true as true, which pydantic would take for 1 (a daily quota of 1, a domain share
    of 1.0 that lifts the share limit): refused with the field and line named; and 1 is not `true`."""
    path = _edit(folder, old, new)
    with pytest.raises(CampaignFileError) as info:
        load_campaign(path)
    (problem,) = info.value.problems
    assert problem.field == place
    assert words in problem.message
    assert problem.line is not None


def test_a_csv_without_one_valid_row_is_refused_at_validate_with_why(folder: Path) -> None:
    """submit would refuse it ("no recipient left"): validate says so first, at recipients.file, with the reasons."""
    (folder / "recipients.csv").write_text("email,first_name\nnot-an-address,A\nbad@,B\n", encoding="utf-8")
    _campaign, stats, problems = check_campaign_and_rows(folder / "spring.yaml")
    assert stats is not None
    assert (stats.total, stats.valid) == (2, 0)
    (problem,) = problems
    assert problem.field == "recipients.file"
    assert problem.line is not None
    assert "none of its 2 rows is a valid recipient (bad syntax: 2; line 2: bad syntax)" in problem.message


def test_validate_names_the_invalid_rows(folder: Path) -> None:
    """One bad row among good ones: valid, and the summary says which line and why."""
    from orchestrator.campaign_summary import summarize

    (folder / "recipients.csv").write_text("email,first_name\njiwoo@naver.com,J\nbad@,B\n", encoding="utf-8")
    campaign, stats, problems = check_campaign_and_rows(folder / "spring.yaml")
    assert not problems
    assert campaign is not None
    r = summarize(campaign, ["email", "first_name"], stats)["recipients"]
    assert (r["valid"], r["invalid"], r["invalid_reasons"], r["invalid_examples"]) == (
        1,
        1,
        {"bad syntax": 1},
        ["line 3: bad syntax"],
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "hint"),
    [
        ("name: spring-news", 'name: "spring-news', None, "a quote opened on line 3 is not closed on that line"),
        ("name: spring-news", "name: spring: news", 3, 'a value holding ": " must be in quotes'),
        ("\nidentities:", "\nidentities:\n   - x: 1\n  bad: 2", 10, "check the indentation"),
    ],
)
def test_broken_yaml_says_in_plain_words_where_and_why(
    folder: Path, old: str, new: str, line: int | None, hint: str
) -> None:
    """PyYAML's words stay (they name the token), with the likely cause added; a missing quote is found
    on the line that opened it, not where the parser gave up further down."""
    path = _edit(folder, old, new)
    with pytest.raises(CampaignFileError) as info:
        load_campaign(path)
    (problem,) = info.value.problems
    assert problem.message.startswith("not valid YAML: ")
    assert hint in problem.message
    if line is not None:
        assert problem.line == line


@pytest.mark.parametrize(("separator", "written"), [(";", '";"'), ("\t", '"\\t"')])
def test_a_csv_with_another_separator_gets_the_delimiter_to_set(folder: Path, separator: str, written: str) -> None:
    (folder / "recipients.csv").write_text(
        f"email{separator}first_name\njiwoo@naver.com{separator}J\n", encoding="utf-8"
    )
    _, _, problems = check_campaign_and_rows(folder / "spring.yaml")
    assert problems
    assert all(f"set recipients.delimiter: {written}" in p.message for p in problems)
    path = _edit(
        folder, "recipients: {file: recipients.csv,", f"recipients: {{file: recipients.csv, delimiter: {written},"
    )
    assert check_campaign_and_rows(path)[2] == []  # the hint, followed, works


def test_an_idle_grace_as_long_as_the_reset_is_refused(folder: Path) -> None:
    """A grace of idle days at least as long as the reset would make the grace rule dead: refused, at plan."""
    path = _edit(folder, "  table: default\n", "  table: default\n  idle_grace_days: 30\n  idle_reset_days: 30\n")
    with pytest.raises(CampaignFileError, match=r"idle_grace_days \(30\) must be below idle_reset_days \(30\)"):
        load_campaign(path)


@pytest.mark.parametrize(
    ("new_from", "refused"),
    [
        ('"Acme News <other@A.example.com>"', True),
        ('"Acme News <news@b.example.com>"\n    account: marketing', False),
    ],
    ids=["same-domain-same-account", "same-address-other-account"],
)
def test_two_identities_on_one_sender_domain_are_refused(folder: Path, new_from: str, refused: bool) -> None:
    """Tencent's quota and reputation are per sender domain (of an account): one identity per domain."""
    path = _edit(folder, '"Acme News <news@b.example.com>"', new_from)
    if not refused:  # the same domain as news-a, but in another Tencent account: its own quota
        path = _edit(folder, '"Acme News <news@a.example.com>"', '"Acme News <news@b.example.com>"')
    _campaign, problems = check_campaign(path)
    if refused:
        assert [(p.field, p.message.split(";")[0]) for p in problems] == [
            ("identities[1].from", "the sender domain a.example.com is identity news-a's too")
        ]
        assert problems[0].line is not None
    else:
        assert problems == []


def test_a_stored_campaign_with_two_identities_on_one_domain_stays_readable(folder: Path) -> None:
    """Submitted before the rule: read back from Redis it still parses (the pacer keeps running it)."""
    from orchestrator.core.campaign import Campaign
    from orchestrator.store.campaigns import parse_spec

    campaign, problems = check_campaign(folder / "spring.yaml")
    assert campaign is not None
    assert problems == []
    stored = json.loads(campaign.model_dump_json(by_alias=True))
    stored["identities"][1]["from"] = stored["identities"][0]["from"]
    raw = json.dumps(stored)
    with pytest.raises(ValueError, match="one identity per domain"):
        Campaign.model_validate_json(raw)  # as a campaign file: refused
    spec = parse_spec("old-campaign", raw)
    assert isinstance(spec, Campaign)
    assert spec.identities[0].domain == spec.identities[1].domain


@pytest.mark.parametrize(
    ("old", "new", "field", "refused"),
    [
        ("warmup_day: 1 ", "warmup_day: 100001 ", "identities[0].warmup_day", True),
        ("warmup_day: 1 ", "warmup_day: 100000 ", "identities[0].warmup_day", False),
        ("daily_quota: 500 ", "daily_quota: 1000000001 ", "identities[0].daily_quota", True),
        ("daily_quota: 500 ", "daily_quota: 1000000000 ", "identities[0].daily_quota", False),
        ("shuffle_seed: 42", f"shuffle_seed: {2**64}", "recipients.shuffle_seed", True),
        ("shuffle_seed: 42", f"shuffle_seed: {-(2**64)}", "recipients.shuffle_seed", True),
        ("shuffle_seed: 42", f"shuffle_seed: {2**64 - 1}", "recipients.shuffle_seed", False),
        ("per_domain_from_day: 6", "per_domain_from_day: 100001", "shaping.per_domain_from_day", True),
        ("per_domain_from_day: 6", "per_domain_from_day: 100000", "shaping.per_domain_from_day", False),
        ("per_domain_from_daily: 5000", "per_domain_from_daily: 1000000001", "shaping.per_domain_from_daily", True),
        ("per_domain_from_daily: 5000", "per_domain_from_daily: 1000000000", "shaping.per_domain_from_daily", False),
    ],
)
def test_values_the_store_could_not_read_back_are_refused(
    folder: Path, old: str, new: str, field: str, refused: bool
) -> None:
    """A warm-up day, a quota or a seed beyond what the stored state is read within is refused at validate,
    placed, instead of being submitted and leaving the identity (shared with other campaigns) unreadable."""
    _campaign, problems = check_campaign(_edit(folder, old, new))
    if refused:
        assert [p.field for p in problems] == [field]
        assert problems[0].line is not None
    else:
        assert problems == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param(
            "[{days: 1, daily: 1000000000000000000000000000000, hourly: 100}]",
            "daily 1000000000000000000000000000000: at most 1,000,000,000",
            id="daily-beyond-any-identity",
        ),
        pytest.param(
            "[{days: 1, daily: 500, hourly: '100-99999999999'}]",
            "hourly '100-99999999999': at most 1,000,000,000",
            id="hourly-range-beyond",
        ),
        pytest.param(
            "[{days: 1-5000000, daily: 500, hourly: 100}]",
            "days '1-5000000': a plan's rows end by day 1000",
            id="days-beyond-the-table",
        ),
    ],
)
def test_a_plan_row_beyond_its_bounds_is_refused_at_once(folder: Path, rows: str, message: str) -> None:
    """A cap no identity could send (it would be stored and read back as out of range, leaving the identity
    unreadable) or a row of millions of days (built day by day by every process) is refused by validate."""
    path = _edit(folder, "  table: default", f"  rows: {rows}")
    _campaign, [problem] = check_campaign(path)
    assert problem.field.startswith("plan.rows[0]")
    assert message in problem.message


def test_a_plan_row_that_goes_down_is_raised_and_validate_says_so(folder: Path) -> None:
    """Day 2 written below day 1 is sent at day 1's caps (a day is never below the day before): validate
    warns, naming the row, the day and both figures, so the file can say what will happen."""
    from orchestrator.campaign_summary import summarize

    rows = "[{days: 1, daily: 500, hourly: 100}, {days: 2-3, daily: 300-600, hourly: 50}]"
    campaign = load_campaign(_edit(folder, "  table: default", f"  rows: {rows}"))
    assert [campaign.build_plan().caps(d).daily for d in (1, 2, 3)] == [500, 500, 600]
    [warning] = summarize(campaign, ["email"])["warnings"]
    assert warning.startswith("plan.rows[1]: day 2's daily cap 300 is below the day before, so it is raised to 500")
    assert "(and 2 more cap(s) of the row)" in warning  # day 2's and day 3's hourly 50 under 100
    default = load_campaign(EXAMPLE)
    assert summarize(default, ["email"])["warnings"] == []  # the default table's hourly dips are its own


@pytest.mark.parametrize(
    ("file", "message"),
    [
        pytest.param("loop.csv", "cannot be read: Too many levels of symbolic links", id="symlink-loop"),
        pytest.param('"r\\0.csv"', "a file path cannot hold a NUL character", id="nul"),
        pytest.param("~no-such-user-here/r.csv", "no such file: ", id="unknown-home"),
    ],
)
def test_a_recipient_path_that_cannot_be_resolved_is_a_placed_problem(folder: Path, file: str, message: str) -> None:
    """A symlink loop, a NUL in the path or the home of an unknown user: one problem at recipients.file,
    never a traceback (expanduser and resolve raise on these)."""
    (folder / "loop.csv").symlink_to(folder / "loop2.csv")
    (folder / "loop2.csv").symlink_to(folder / "loop.csv")
    path = _edit(folder, "{file: recipients.csv,", f"{{file: {file},")
    _campaign, [problem] = check_campaign(path)
    assert (problem.field, problem.line) == ("recipients.file", 27)
    assert message in problem.message


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ('"Acme News<news@b.example.com>"', "Acme News <news@b.example.com>"),
        ('"  Acme News   <news@b.example.com>  "', "Acme News <news@b.example.com>"),
        ('" news@B.Example.com "', "news@b.example.com"),
    ],
)
def test_a_sender_is_kept_as_tencent_takes_it(folder: Path, written: str, sent: str) -> None:
    """Tencent refuses a FromEmailAddress without exactly one space between alias and <address>: the file's
    spacing is accepted and the sender kept (and sent) in that one form."""
    campaign, problems = check_campaign(_edit(folder, '"Acme News <news@b.example.com>"', written))
    assert problems == []
    assert campaign is not None
    assert campaign.identities[1].from_ == sent


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("2", True), ("12", True), ("13", False), ("en", False)])
def test_unsubscribe_takes_only_tencents_codes(folder: Path, value: str, ok: bool) -> None:
    """template.unsubscribe is Tencent's code "0" to "12": a language name or another number is refused
    at validate (Tencent would refuse every send), placed at its line."""
    path = _edit(folder, "  subject:", f'  unsubscribe: "{value}"\n  subject:')
    campaign, problems = check_campaign(path)
    if ok:
        assert problems == []
        assert campaign is not None
        assert campaign.template.unsubscribe == value
        return
    [problem] = problems
    assert (problem.line, problem.field) == (23, "template.unsubscribe")
    assert '"0" (no link) to "12"' in problem.message


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        # a number was read as seconds since 1970; 9999-12-31 passed and crashed plan, simulate and status
        ("start: 2026-12-01", "start: 0", 6, "start", "write the date as YYYY-MM-DD, not the number 0"),
        ("start: 2026-12-01", "start: 20261201", 6, "start", "write the date as YYYY-MM-DD"),
        ("start: 2026-12-01", 'start: "1796083200"', 6, "start", "write the date as YYYY-MM-DD"),
        ("start: 2026-12-01", "start: 9999-12-31", 6, "start", "after 2999-12-31"),
        # the host's clock or a placeholder, not a place: the day boundary would follow the machine
        ("timezone: Asia/Seoul", "timezone: localtime", 5, "timezone", "unknown time zone 'localtime'"),
        ("timezone: Asia/Seoul", "timezone: Factory", 5, "timezone", "unknown time zone 'Factory'"),
        # a simulation that starts before the campaign sent nothing and said nothing
        ("  hard_bounce_rate: 0.01", "  start: 2026-11-20\n  hard_bounce_rate: 0.01", 31, "simulation.start", "before"),
        # a typo in seconds parked recipients for thousands of years
        ("max_delay_s: 3600}", "max_delay_s: 1e12}", 29, "retry.max_delay_s", "at most 86,400 s (a day)"),
        # a pool whose hourly ceiling rounds to 0 validated and then sent nothing, ever
        ("pool: {multiplier: 5}", "pool: {multiplier: 0.001}", 15, "pool.multiplier", "leaves the pool 0 an hour"),
    ],
)
def test_values_a_campaign_cannot_run_on_are_refused_at_their_line(
    folder: Path, old: str, new: str, line: int, field: str, words: str
) -> None:
    campaign, problems = check_campaign(_edit(folder, old, new))
    assert campaign is None
    [problem] = problems
    assert (problem.line, problem.field) == (line, field)
    assert words in problem.message
