"""Numbers on the command line: `nan`, `inf` and out-of-range values are refused before anything runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestrator.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch", "c", "--interval", "nan"], "'nan' is not a finite number"),
        (["watch", "c", "--interval", "0.1"], "0.2<=x<=3600"),
        (["pause", "c", "--wait", "nan"], "'nan' is not a finite number"),
        (["pause", "c", "--wait", "-1"], "0<=x<=3600"),
        (["cancel", "c", "--wait", "inf"], "0<=x<=3600"),
        (["simulate", "c.yaml", "--sample", "nan"], "'nan' is not a finite number"),
    ],
    ids=["watch-nan", "watch-too-quick", "pause-nan", "pause-negative", "cancel-forever", "simulate-nan"],
)
def test_a_number_out_of_its_range_is_a_usage_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args, env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 2
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
