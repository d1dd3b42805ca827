"""Generated campaign files: never a traceback, every problem placed (file:line or field), each known fault found.

The files are read in-process with `check_campaign`, which `validate`, `plan`, `check`, `submit` and
`simulate` all use (the commands themselves run as subprocesses in tests/e2e/test_hostile_cli.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.campaign_file import Problem, check_campaign
from tests.property.conftest import HOSTILE, SEEDED
from tests.property.yaml_cases import CSV, yaml_case

#: Problems that are about the whole file, so they name the file alone.
WHOLE_FILE = ("the file is empty", "the file is larger than")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(CSV, encoding="utf-8")
    return tmp_path


def assert_placed(p: Problem, path: Path, lines: int) -> None:
    """One line naming the campaign file or its CSV, with a line within the file or a field."""
    assert p.file in (str(path), str(path.parent / "recipients.csv")), p
    assert "\n" not in str(p), p
    assert "\r" not in str(p), p
    assert p.line is None or 1 <= p.line <= lines, p
    assert p.line is not None or p.field or p.message.startswith(WHOLE_FILE), p


@HOSTILE
@SEEDED
@given(seed=st.integers(0, 2**64))
@example(seed=0)
def test_generated_campaign_file_problems_are_placed(folder: Path, seed: int) -> None:
    """Every problem names its place; a file bent in known ways reports each bend at its field, and nothing else."""
    case = yaml_case(seed)
    path = folder / "campaign.yaml"
    path.write_bytes(case.data)
    campaign, problems = check_campaign(path)
    lines = max(case.data.count(b"\n"), case.data.count(b"\r")) + 1
    for p in problems:
        assert_placed(p, path, lines)
    assert campaign is not None or problems
    if not case.damaged:
        fields = {p.field for p in problems}
        assert case.field_names <= fields, (case.field_names, problems)
        assert bool(problems) == bool(case.fields), problems
