"""A configured secret never shows, whole or cut short at a message's cut mark."""

from __future__ import annotations

import json

import pytest

from orchestrator.core.sending import OutcomeKind, SendOutcome
from orchestrator.core.text import mask_secret
from orchestrator.ses.failures import redacted

SECRET = "Kx9aB3cD4eF5gH6iJ7kL8mN9"


@pytest.mark.parametrize("mark", ["...", "\u2026"])
@pytest.mark.parametrize("kept", [1, 3, 4, len(SECRET) - 1])
def test_the_start_of_a_secret_before_a_cut_is_masked(mark: str, kept: int) -> None:
    text = f"unknown time zone '{SECRET} and {SECRET[:kept]}{mark} (use an IANA name)"
    masked = mask_secret(text, SECRET)
    assert masked == f"unknown time zone '*** and ***{mark} (use an IANA name)"


def test_text_without_the_secret_is_left_alone() -> None:
    text = "the option after ? is... not one redis-py takes"
    assert mask_secret(text, SECRET) == text
    assert mask_secret(text, "") == text


def test_an_sdk_failure_cut_inside_a_secret_keeps_no_part_of_it() -> None:
    detail = f"no usable answer from SES (proxy said {'x' * 150} {SECRET[:9]}\u2026)"
    outcome = redacted(SendOutcome(OutcomeKind.IN_DOUBT, code="ReadError", detail=detail), (SECRET,))
    assert SECRET[:9] not in outcome.detail
    assert outcome.detail.endswith("***\u2026)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "c.yaml:3: REDIS_URL: unknown key 'REDIS_URL' (allowed here: name)",
            "c.yaml:3: REDIS_URL: unknown key 'REDIS_URL' (allowed here: name)",
            id="a-problem-field-keeps-its-words",
        ),
        pytest.param(
            "c.env:1: not YAML: TENCENTCLOUD_SECRET_KEY=abc123", "c.env:1: not YAML: TENCENTCLOUD_SECRET_KEY=***"
        ),
        pytest.param("a line 'CALLBACK_TOKEN: tok-123'", "a line 'CALLBACK_TOKEN: ***'", id="pasted-yaml-form"),
        pytest.param("REDIS_URL: redis://:pw@h", "REDIS_URL: ***", id="at-the-start"),
        pytest.param(
            "got str 'tencentcloud_secret_id=AKIDz8krbs tencentcloud_s...'",
            "got str 'tencentcloud_secret_id=*** tencentcloud_s...'",
            id="lower-case-name-as-pydantic-settings-reads-it",
        ),
    ],
)
def test_a_secret_settings_value_is_masked_but_not_a_problems_words(text: str, expected: str) -> None:
    from orchestrator.cli import redact

    assert redact(text) == expected


@pytest.mark.parametrize("secret", [SECRET, "Pw\\s0me-pass", "pä$$wörd-Ünï", "q\"uo'te-secret"])
def test_a_secret_quoted_escaped_is_masked_too(secret: str) -> None:
    """A message may quote a value by repr (a str's, or the bytes' of a header) or as JSON: each escaped
    form of the secret is masked as the secret itself is (a backslash in a password showed doubled)."""
    for form in (repr(secret), repr(secret.encode()), json.dumps(secret), json.dumps(secret, ensure_ascii=False)):
        masked = mask_secret(f"unknown time zone {form} (use an IANA name)", secret)
        assert "***" in masked, (form, masked)
        assert masked.count("***") == 1
        for part in ("0me-pass", "wörd", "w\\xc3\\xb6rd", "w\\u00f6rd", "uo", SECRET[4:]):
            if part in form:
                assert part not in masked, (form, masked)
