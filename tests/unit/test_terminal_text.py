"""printable(): what a terminal would act on is shown as an escape; ordinary text is left alone."""

from __future__ import annotations

import pytest

from orchestrator.core.text import printable
from orchestrator.redis_url import safe_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain text", "plain text", id="ascii"),
        pytest.param("안녕하세요 김민수님", "안녕하세요 김민수님", id="korean"),
        pytest.param("café — 🎉 👩‍💻", "café — 🎉 👩‍💻", id="accents-emoji-zwj"),
        pytest.param("C:\\path\\x1b", "C:\\path\\x1b", id="backslashes-kept"),
        pytest.param("\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J", id="osc-title-and-clear"),
        pytest.param("a\nb\tc\rd\x00", "a\\x0ab\\x09c\\x0dd\\x00", id="c0-newline-tab"),
        pytest.param("del\x7f", "del\\x7f", id="del"),
        pytest.param("\x80\x9b31m\x9f", "\\x80\\x9b31m\\x9f", id="c1-csi"),
        pytest.param("abc\u202edcba\u202c", "abc\\u202edcba\\u202c", id="bidi-override"),
        pytest.param("\u2066x\u2069\u200e\u200f", "\\u2066x\\u2069\\u200e\\u200f", id="bidi-isolates-marks"),
        pytest.param("\u061c", "\\u061c", id="arabic-letter-mark"),
        pytest.param("line\u2028para\u2029", "line\\u2028para\\u2029", id="line-separators"),
        pytest.param("lone \udcff", "lone \\udcff", id="lone-surrogate"),
    ],
)
def test_printable_escapes_only_what_a_terminal_acts_on(text: str, expected: str) -> None:
    """Controls, C1, bidi controls and surrogates become visible escapes; everything else is unchanged."""
    assert printable(text) == expected


def test_printable_output_has_no_control_character() -> None:
    """Every one of the first 0x3000 code points comes out free of C0, DEL and C1 characters."""
    out = printable("".join(chr(c) for c in range(0x3000)))
    assert not [c for c in out if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", id="no-password"),
        pytest.param("redis://:hunter2@10.0.0.5:6379/1", "redis://***@10.0.0.5:6379/1", id="password"),
        pytest.param("rediss://app:hunter2@db.example:6380/0", "rediss://***@db.example:6380/0", id="user-password"),
        pytest.param("redis://h:6379/0?password=hunter2&db=2", "redis://h:6379/0?password=***&db=2", id="query"),
        pytest.param("unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1", id="unix-socket"),
        pytest.param("hunter2@h:6379", "***", id="no-scheme"),
        pytest.param("redis://:hun/ter2@h:6379/15", "redis://***@h:6379/15", id="slash-in-password"),
        pytest.param("redis://:hun#ter?2@h:6379/1", "redis://***@h:6379/1", id="hash-and-question-mark"),
        pytest.param("redis://u:a@b@h:6379/0", "redis://***@h:6379/0", id="at-in-password"),
        pytest.param("redis://[::1:6379/0?client_name=hunter2", "redis://[::1:6379/0?client_name=***", id="no-url"),
    ],
)
def test_safe_url_never_shows_a_password(url: str, expected: str) -> None:
    """A Redis URL printed in an error keeps host, port and database but never its user or password."""
    assert safe_url(url) == expected
