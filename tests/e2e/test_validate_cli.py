"""`orchestrate validate`: a summary for a good file, every problem with its place for a broken one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main

EXAMPLE = Path(__file__).parents[2] / "campaigns" / "example.yaml"
CSV = "email,first_name\njiwoo@naver.com,Jiwoo\nalex@gmail.com,Alex\n"
ROWS = "  rows:\n    - {days: 1-3, daily: 1000-2000, hourly: 200}\n    - {days: %s, daily: 3000, hourly: 400}\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding a copy of the example campaign (c.yaml) and a two-recipient CSV."""
    (tmp_path / "c.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "recipients.csv").write_text(CSV, encoding="utf-8")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.output


#: (old text of the example, new text, the place printed, a fragment of the message).
BROKEN_EDITS = [
    pytest.param("mode: warmup", "mode: [warmup", "{f}:5: ", "not valid YAML", id="malformed-yaml"),
    pytest.param("  id: 12345", "  id: twelve", "{f}:22: template.id: ", "valid integer", id="wrong-type"),
    pytest.param(
        "    warmup_day: 1 ",
        "    warmup_dya: 1 ",
        "{f}:11: identities[0].warmup_dya: ",
        "unknown key",
        id="unknown-key",
    ),
    pytest.param(
        "id: news-b", "id: news-a", "{f}:13: identities[1].id: ", "'news-a' is used twice", id="duplicate-identity"
    ),
    pytest.param(
        "timezone: Asia/Seoul",
        "timezone: Asia/Seoul\ntimezone: UTC",
        "{f}:6: timezone: ",
        "duplicate key",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "multiplier: 5", "multiplier: 6", "{f}:15: pool.multiplier: ", "6 is above 5", id="multiplier-above-5"
    ),
    pytest.param(
        "  table: default\n", ROWS % "3-5", "{f}:19: plan.rows[1]: ", "overlap the row before", id="rows-overlap"
    ),
    pytest.param(
        "  table: default\n", ROWS % "5", "{f}:19: plan.rows[1]: ", "leave a gap (day 4 has no row)", id="rows-gap"
    ),
    pytest.param(
        "Asia/Seoul", "Asia/Atlantis", "{f}:5: timezone: ", "unknown time zone 'Asia/Atlantis'", id="unknown-time-zone"
    ),
    pytest.param(
        '"08:00-22:00"', '"8am-10pm"', "{f}:7: sending_window: ", "must look like '08:00-22:00'", id="bad-window"
    ),
    pytest.param(
        "file: recipients.csv", "file: gone.csv", "{f}:27: recipients.file: ", "no such file", id="missing-recipients"
    ),
    pytest.param(
        "email_column: email",
        "email_column: mail",
        "{f}:27: recipients.email_column: ",
        "no column 'mail'",
        id="no-email-column",
    ),
    pytest.param(
        "column: first_name",
        "column: nickname",
        "{f}:25: template.data.name.column: ",
        "no column 'nickname'",
        id="no-data-column",
    ),
    pytest.param(
        "{{name}}",
        "{{name}} {{city}}",
        "{f}:23: template.subject: ",
        "uses {{city}} but template.data",
        id="subject-without-data",
    ),
    pytest.param(
        '"Acme News <news@b.example.com>"',
        "foo",
        "{f}:14: identities[1].from: ",
        "not an e-mail address: 'foo' (bad syntax)",
        id="bad-from",
    ),
    pytest.param(
        "mode: warmup ",
        "mode: skip-warmup ",
        "{f}:4: mode: ",
        "skip-warmup is allowed only at or under 10,000",
        id="skip-warmup-too-big",
    ),
    pytest.param(
        "shuffle_seed: 42",
        "shuffle_seed: 42, encoding: martian",
        "{f}:27: recipients.encoding: ",
        "unknown encoding",
        id="unknown-encoding",
    ),
    pytest.param("start: 2026-12-01", "start: 2026-02-30", "{f}:6: start: ", "valid date", id="impossible-date"),
    pytest.param(
        "shaping: {max_domain_share: 0.3",
        "shaping: {max_domain_share: 3",
        "{f}:28: shaping.max_domain_share: ",
        "less than or equal to 1",
        id="share-above-one",
    ),
    pytest.param(
        "shaping: {max_domain_share: 0.3",
        "shaping: {deferral_window_s: 90, max_domain_share: 0.3",
        "{f}:28: shaping.deferral_window_s: ",
        "multiple of 60",
        id="deferral-window-not-whole-minutes",
    ),
    pytest.param(
        "shaping: {max_domain_share: 0.3",
        "shaping: {deferral_burst: 0, max_domain_share: 0.3",
        "{f}:28: shaping.deferral_burst: ",
        "greater than or equal to 1",
        id="deferral-burst-zero",
    ),
]


@pytest.mark.parametrize(("old", "new", "place", "fragment"), BROKEN_EDITS)
def test_validate_broken_campaign_exits_2_and_names_the_place(
    folder: Path, old: str, new: str, place: str, fragment: str
) -> None:
    """Each broken campaign exits 2 with a message naming file, line and field, and no traceback."""
    path = folder / "c.yaml"
    if "skip-warmup" in new:
        _edit(path, "target_daily: null", "target_daily: 20000")
        _edit(
            path, "start: 2026-12-01", "start: 2026-12-01\ncontent: signup"
        )  # below the mode line: it keeps its number
    _edit(path, old, new)
    code, output = _validate(str(path))
    assert code == 2
    line = next((ln for ln in output.splitlines() if ln.startswith(place.format(f=path))), None)
    assert line is not None, output
    assert fragment in line
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("content", "place", "fragment"),
    [
        pytest.param(None, "{f}: ", "no such file", id="missing-file"),
        pytest.param(b"", "{f}: ", "the file is empty", id="empty-file"),
        pytest.param(b"- name: x\n", "{f}:1: ", "the top level must be a mapping", id="not-a-mapping"),
        pytest.param(b"name: caf\xe9\n", "{f}:1: ", "not UTF-8 text", id="bad-encoding"),
        pytest.param(b"name: x\n\tmode: warmup\n", "{f}:2: ", "indent with spaces, not tabs", id="tab-indent"),
    ],
)
def test_validate_unreadable_file_exits_2(tmp_path: Path, content: bytes | None, place: str, fragment: str) -> None:
    """A missing, empty, non-mapping or non-UTF-8 file exits 2 with one message naming the file."""
    path = tmp_path / "c.yaml"
    if content is not None:
        path.write_bytes(content)
    code, output = _validate(str(path))
    assert code == 2
    assert output.startswith(place.format(f=path))
    assert fragment in output.splitlines()[0]
    assert "Traceback" not in output


def test_validate_reports_a_csv_in_another_encoding(folder: Path) -> None:
    """A Latin-1 recipient list read as UTF-8 is reported on recipients.encoding."""
    (folder / "recipients.csv").write_bytes("email,first_name\nj@x.example.com,J\xe9r\xf4me\n".encode("latin-1"))
    code, output = _validate(str(folder / "c.yaml"))
    assert code == 2
    assert f"{folder / 'c.yaml'}:27: recipients.encoding: recipients.csv is not utf-8-sig text" in output


def test_validate_prints_every_problem_and_a_count(folder: Path) -> None:
    """Two mistakes give two lines, in file order, then the count."""
    path = folder / "c.yaml"
    _edit(path, "Asia/Seoul", "Asia/Atlantis")
    _edit(path, "email_column: email", "email_column: mail")
    code, output = _validate(str(path))
    assert code == 2
    lines = output.splitlines()
    assert [ln.split(": ", 2)[:2] for ln in lines[:2]] == [
        [f"{path}:5", "timezone"],
        [f"{path}:27", "recipients.email_column"],
    ]
    assert lines[2] == f"{path}: 2 problems"


def test_validate_good_campaign_prints_a_summary(folder: Path) -> None:
    """A valid file exits 0 with its name, mode, identities, first plan days and CSV columns."""
    code, output = _validate(str(folder / "c.yaml"))
    assert code == 0, output
    assert output.startswith(f"{folder / 'c.yaml'}: valid\n")
    for fragment in (
        "spring-news (mode warmup, time zone Asia/Seoul, start 2026-12-01, window 08:00-22:00)",
        "news-a  Acme News <news@a.example.com>  from warm-up day 1",
        "d1 1,000/200  d2 1,500/200  d3 2,000/400",
        f"{folder / 'recipients.csv'} (columns: email, first_name; e-mail in 'email')",
        # the suppression lists are in Redis, which validate never reaches: its valid count is before them
        "duplicates 0  (suppressed addresses not counted: submit drops them)",
    ):
        assert fragment in output


def test_validate_json_for_a_good_file(folder: Path) -> None:
    """--json prints valid true, no errors and the summary."""
    code, output = _validate("--json", str(folder / "c.yaml"))
    assert code == 0
    report = json.loads(output)
    assert (report["valid"], report["errors"]) == (True, [])
    summary = report["summary"]
    assert (summary["name"], summary["mode"]) == ("spring-news", "warmup")
    assert [i["id"] for i in summary["identities"]] == ["news-a", "news-b"]
    assert summary["plan_first_days"][0] == {"warmup_day": 1, "daily_cap": 1000, "hourly_cap": 200}
    assert summary["recipients"]["columns"] == ["email", "first_name"]


def test_validate_json_for_a_broken_file(folder: Path) -> None:
    """--json prints valid false and each error as {file, line, field, message}, exit 2."""
    path = folder / "c.yaml"
    _edit(path, '"Acme News <news@b.example.com>"', "foo")
    code, output = _validate("--json", str(path))
    assert code == 2
    assert json.loads(output) == {
        "valid": False,
        "errors": [
            {
                "file": str(path),
                "line": 14,
                "field": "identities[1].from",
                "message": "not an e-mail address: 'foo' (bad syntax)",
            }
        ],
        "summary": None,
    }


def test_validate_warns_about_skip_warmup(folder: Path) -> None:
    """A valid skip-warmup campaign (sign-up mail) is accepted with a loud warning."""
    _edit(folder / "c.yaml", "mode: warmup ", "mode: skip-warmup ")
    _edit(folder / "c.yaml", "start: 2026-12-01", "start: 2026-12-01\ncontent: signup")
    code, output = _validate(str(folder / "c.yaml"))
    assert code == 0
    assert "warning: mode skip-warmup sends without a ramp: not recommended" in output
    assert "pool        at most 10,000 a day for all its identities together" in output


def test_validate_refuses_skip_warmup_for_marketing_mail(folder: Path) -> None:
    """skip-warmup with the default content (marketing) exits 2 on the mode line."""
    _edit(folder / "c.yaml", "mode: warmup ", "mode: skip-warmup ")
    code, output = _validate(str(folder / "c.yaml"))
    assert code == 2
    assert f"{folder / 'c.yaml'}:4: mode: skip-warmup is allowed only for high-open sign-up mail" in output


@pytest.mark.slow
def test_validate_as_a_real_command(folder: Path) -> None:
    """The installed `orchestrate validate` exits 2 with the place for a broken file, 0 for the example."""
    orchestrate = Path(sys.executable).parent / "orchestrate"
    path = folder / "c.yaml"
    _edit(path, "multiplier: 5", "multiplier: 7.5")
    broken = subprocess.run(
        [str(orchestrate), "validate", str(path)], capture_output=True, text=True, cwd=folder, check=False
    )
    assert broken.returncode == 2
    assert broken.stdout.startswith(f"{path}:15: pool.multiplier: 7.5 is above 5")
    assert "Traceback" not in broken.stdout + broken.stderr
    good = subprocess.run(
        [str(orchestrate), "validate", str(EXAMPLE)], capture_output=True, text=True, cwd=folder, check=False
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "spring-news" in good.stdout
