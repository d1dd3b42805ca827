"""`orchestrate simulate` leaves no empty or half-filled output folder behind when it does not finish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import main

EXAMPLE = Path(__file__).parents[2] / "campaigns" / "example.yaml"


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "c.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "recipients.csv").write_text("email,first_name\njiwoo@naver.com,Jiwoo\n", encoding="utf-8")
    return tmp_path / "c.yaml"


def test_a_csv_without_a_valid_row_is_refused_before_any_folder(campaign: Path) -> None:
    campaign.with_name("recipients.csv").write_text("email,first_name\nnot-an-address,A\n", encoding="utf-8")
    out = campaign.parent / "out"
    result = CliRunner().invoke(main, ["simulate", str(campaign), "--out", str(out)])
    assert result.exit_code == 2
    # the CSV by its whole path (its name alone did not say which folder's recipients.csv)
    csv = campaign.with_name("recipients.csv").resolve()
    assert f"recipients.file: {csv}: none of its 1 rows is a valid recipient" in result.output
    assert not out.exists()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_a_run_that_does_not_finish_removes_the_folder_it_made(
    campaign: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    """Ctrl-C or an error mid-run: the folder this run made goes (with a sampled CSV already in it); a
    folder that was there before stays, with what it held."""
    from orchestrator.simulation import run

    async def stopped(spec: Any, out: Path, **kwargs: Any) -> None:
        (out / "recipients.sample.csv").write_text("email\n", encoding="utf-8")  # as --sample writes first
        raise interrupt

    monkeypatch.setattr(run, "run_simulation", stopped)
    made = campaign.parent / "new"
    result = CliRunner().invoke(main, ["simulate", str(campaign), "--out", str(made)])
    assert result.exit_code != 0
    assert not made.exists()

    kept = campaign.parent / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", str(campaign), "--out", str(kept)])
    assert result.exit_code != 0
    assert (kept / "mine.txt").read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_a_sample_that_keeps_no_recipient_names_the_option(campaign: Path, existing: bool) -> None:
    """--sample so small it keeps no row is refused in the option's words, not as the empty copy it made
    (a file the user never named, removed by then); a folder that was there stays, without that copy."""
    rows = "".join(f"u{n}@naver.com,U{n}\n" for n in range(3))
    campaign.with_name("recipients.csv").write_text("email,first_name\n" + rows, encoding="utf-8")
    out = campaign.parent / "out"
    if existing:
        out.mkdir()
    result = CliRunner().invoke(main, ["simulate", str(campaign), "--sample", "1e-9", "--days", "2", "--out", str(out)])
    assert result.exit_code == 2
    assert "error: --sample 1e-09 keeps none of the 3 recipients: use a larger fraction" in result.output
    assert "recipients.sampled.csv" not in result.output
    assert out.exists() is existing
    assert not (out / "recipients.sampled.csv").exists()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_a_run_that_does_not_finish_removes_its_sample_from_an_existing_folder(
    campaign: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    """Ctrl-C or an error mid-run in a folder that was there before: the folder stays with what it held, the
    sampled recipients this run wrote go, and the stop message says so (it made no folder to remove)."""
    from orchestrator.simulation import run
    from orchestrator.simulation.sample import sample_campaign

    async def stopped(spec: Any, out: Path, **kwargs: Any) -> None:
        sample_campaign(spec, kwargs["sample"], out)
        assert (out / "recipients.sampled.csv").exists()
        raise interrupt

    monkeypatch.setattr(run, "run_simulation", stopped)
    kept = campaign.parent / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", str(campaign), "--sample", "0.999", "--out", str(kept)])
    assert result.exit_code != 0
    assert (kept / "mine.txt").read_text(encoding="utf-8") == "x"
    assert not (kept / "recipients.sampled.csv").exists()
    assert "the output folder it made removed" not in result.output
    if interrupt is KeyboardInterrupt:
        assert f"{kept}/ (there before) kept, the recipients.sampled.csv it wrote there removed" in result.output


def test_a_sample_of_an_export_keeps_its_cells_as_written(campaign: Path) -> None:
    """`simulate --sample` copies the rows as written: a recipient file that is one of export's files has its
    guard taken off once, when the copy is read, never twice (`''-x` stays `'-x`)."""
    from orchestrator.campaign_file import load_campaign
    from orchestrator.core.campaign import Recipients
    from orchestrator.core.spreadsheet import EXPORT_COLUMNS
    from orchestrator.recipients import open_recipients
    from orchestrator.simulation.sample import sample_campaign

    source = campaign.parent / "export.csv"
    rows = [",".join(EXPORT_COLUMNS)] + [f"{n},'-u{n}@x.example,accepted,''-note,1,,,," for n in range(1, 40)]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = load_campaign(campaign).model_copy(update={"recipients": Recipients(file=source)})
    sampled = sample_campaign(spec, 1.0, campaign.parent)
    with open_recipients(sampled.recipients) as read:
        cells = [c for _, c in read.records()]
    assert [c[1] for c in cells] == [f"-u{n}@x.example" for n in range(1, 40)]
    assert {c[3] for c in cells} == {"'-note"}


def test_a_sample_scales_the_guardrails_minimum_samples_with_the_sends(campaign: Path) -> None:
    """At --sample 0.25 a line is judged from a quarter of its minimum sample (the file's own or the default),
    so a guardrail that holds the full run is not silenced by a sample that never reaches it."""
    from orchestrator.campaign_file import load_campaign
    from orchestrator.core.guardrails import CeilingSpec
    from orchestrator.simulation.sample import sample_campaign

    spec = load_campaign(campaign)
    spec = spec.model_copy(
        update={"guardrails": spec.guardrails.model_copy(update={"complaint": CeilingSpec(min_sample=1000)})}
    )
    lines = {line.metric: line for line in sample_campaign(spec, 0.25, campaign.parent).guardrails.lines("marketing")}
    full = {line.metric: line for line in spec.guardrails.lines("marketing")}
    assert {m: line.min_sample for m, line in lines.items()} == {
        "hard_bounce": full["hard_bounce"].min_sample // 4,
        "complaint": 250,
        "open": full["open"].min_sample // 4,
    }
    assert lines["complaint"].pause == full["complaint"].pause


@pytest.mark.parametrize(("mode", "caps_scaled"), [("warmup", True), ("shared", False), ("skip-warmup", False)])
def test_the_sample_note_says_a_mode_without_a_ramp_keeps_its_caps(mode: str, caps_scaled: bool) -> None:
    """Only a ramped mode's caps scale with --sample: the note printed and written must not claim more."""
    from orchestrator.core.plan import Mode
    from orchestrator.simulation.sample import sample_note

    note = sample_note(0.05, Mode(mode))
    assert ("recipients, caps and" in note) is caps_scaled
    assert ("not the caps" in note) is not caps_scaled
    assert "scaled by 0.05" in note
