"""The campaign file's `guardrails:` and `content:` keys: defaults, partial overrides, placed errors."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from orchestrator.core.guardrails import Content, GuardrailsSpec


def _lines(spec: GuardrailsSpec, content: Content = "marketing") -> dict[str, tuple[object, ...]]:
    return {line.metric: (line.hold, line.pause, line.warn, line.min_sample) for line in spec.lines(content)}


def test_defaults_are_the_spec_lines() -> None:
    got = _lines(GuardrailsSpec())
    assert got["hard_bounce"] == (0.05, 0.10, None, 200)
    assert got["complaint"] == (0.001, 0.003, None, 2000)
    assert got["open"] == (0.5, None, None, 200)
    assert _lines(GuardrailsSpec(), "signup")["open"] == (None, None, 0.8, 200)


def test_a_key_left_out_keeps_its_default_and_null_switches_it_off() -> None:
    spec = GuardrailsSpec.model_validate({"hard_bounce": {"hold_pct": 3}, "complaint": {"pause_pct": "off"}})
    got = _lines(spec)
    assert got["hard_bounce"] == (0.03, 0.10, None, 200)
    assert got["complaint"] == (0.001, None, None, 2000)


def test_open_override_applies_to_either_content() -> None:
    spec = GuardrailsSpec.model_validate({"open": {"hold_pct": 20, "min_sample": 50}})
    assert _lines(spec, "signup")["open"] == (0.2, None, 0.8, 50)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"hard_bounce": {"hold_pct": 12, "pause_pct": 10}}, "pause_pct (10) must be at least hold_pct (12)"),
        ({"hard_bounce": {"pause_pct": 4}}, "pause_pct (4) must be at least hold_pct (5)"),
        ({"complaint": {"hold_pct": 0}}, "expected a percentage above 0 and below 100, or off (got 0)"),
        ({"complaint": {"hold_pct": 100}}, "expected a percentage above 0 and below 100, or off (got 100)"),
        ({"complaint": {"pause_pct": True}}, "or off (got true)"),  # YAML `true`: not 1 %
        ({"complaint": {"pause_pct": "abc"}}, "or off (got 'abc')"),
        ({"open": {"min_sample": 0}}, "greater than or equal to 1"),
        ({"confidence_z": 7}, "less than or equal to 6"),
        ({"hard_bounce": {"holdpct": 3}}, "Extra inputs"),
    ],
)
def test_bad_values_are_refused(value: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        GuardrailsSpec.model_validate(value)


def test_a_stored_and_reread_campaign_keeps_its_lines() -> None:
    """The spec is stored as JSON at submit and read back by every process: nothing may change on the way."""
    for given in ({}, {"hard_bounce": {"hold_pct": 3}, "complaint": {"pause_pct": "off"}, "open": {"warn_pct": 40}}):
        spec = GuardrailsSpec.model_validate(given)
        again = GuardrailsSpec.model_validate_json(spec.model_dump_json(by_alias=True))
        assert again.lines("marketing") == spec.lines("marketing")
        assert again.lines("signup") == spec.lines("signup")


def test_a_bare_yaml_off_switches_a_line_off() -> None:
    """YAML reads `pause_pct: off` (and `no`, `false`) as false: the file's `off`, as documented."""
    for word in ("off", "no", "false", "'off'"):
        given = yaml.safe_load(f"complaint: {{pause_pct: {word}}}")
        spec = GuardrailsSpec.model_validate(given)
        assert spec.complaint.pause_pct == "off"
        assert _lines(spec, "marketing")["complaint"][1] is None  # no pause line


def test_a_window_longer_than_the_counts_are_kept_is_refused() -> None:
    """Late metrics read two windows back and the hour counts are kept 8 days: 96 hours at most (a longer
    window judged the opens on the few hours left, or on nothing)."""
    assert GuardrailsSpec.model_validate({"window_hours": 96}).window_hours == 96
    with pytest.raises(ValidationError, match=r"window_hours .*at most 96"):
        GuardrailsSpec.model_validate({"window_hours": 97})


def test_a_stored_window_above_the_bound_reads_back_at_the_bound() -> None:
    """A campaign stored by an older release with a longer window still loads, judged on 96 hours."""
    from orchestrator.core.strict import STORED

    stored = GuardrailsSpec.model_validate({"window_hours": 336}, context={STORED: True})
    assert stored.window_hours == 96
