"""E-mail address checks (orchestrator/core/addresses.py): normalisation, sender lines, and shown values."""

from __future__ import annotations

import re

import pytest

from orchestrator.core.addresses import MAX_ADDRESS_LEN, SHOWN_CHARS, normalize_address, parse_from_address, shown

#: A domain of 63 + 1 + 63 + 1 + 63 + 1 + 3 = 195 characters.
LONG_DOMAIN = ".".join(["d" * 63] * 3) + ".com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("jiwoo@example.org", ("jiwoo@example.org", ""), id="plain"),
        pytest.param("  Jiwoo@Example.ORG\t", ("Jiwoo@example.org", ""), id="trims-and-lowers-domain-only"),
        pytest.param("first.last+tag@mail.example.co.kr", ("first.last+tag@mail.example.co.kr", ""), id="dots-plus"),
        pytest.param("o'brien@example.org", ("o'brien@example.org", ""), id="apostrophe"),
        pytest.param("a@x-y.example", ("a@x-y.example", ""), id="hyphen-in-label"),
        pytest.param("l" * 64 + "@example.org", ("l" * 64 + "@example.org", ""), id="local-part-64"),
        pytest.param("l" * 58 + "@" + LONG_DOMAIN, ("l" * 58 + "@" + LONG_DOMAIN, ""), id="length-254"),
        pytest.param("", (None, "empty"), id="empty"),
        pytest.param("   ", (None, "empty"), id="blank"),
        pytest.param("l" * 59 + "@" + LONG_DOMAIN, (None, "too long"), id="length-255"),
        pytest.param("l" * 65 + "@example.org", (None, "local part too long"), id="local-part-65"),
        pytest.param("jiwoo", (None, "bad syntax"), id="no-at"),
        pytest.param("jiwoo@localhost", (None, "bad syntax"), id="no-dot-in-domain"),
        pytest.param("jiwoo@example.c", (None, "bad syntax"), id="one-letter-tld"),
        pytest.param("jiwoo@example.123", (None, "bad syntax"), id="numeric-tld"),
        pytest.param("a..b@example.org", (None, "bad syntax"), id="double-dot"),
        pytest.param(".a@example.org", (None, "bad syntax"), id="leading-dot"),
        pytest.param("a@-x.example.org", (None, "bad syntax"), id="label-starts-with-hyphen"),
        pytest.param("a@b@example.org", (None, "bad syntax"), id="two-at-signs"),
        pytest.param("지우@example.org", (None, "bad syntax"), id="non-ascii-local"),
        pytest.param("a b@example.org", (None, "bad syntax"), id="inner-space"),
        pytest.param("a@" + "x" * 64 + ".org", (None, "bad syntax"), id="label-64"),
    ],
)
def test_addresses_normalize(raw: str, expected: tuple[str | None, str]) -> None:
    """A valid address comes back trimmed with its domain lower-cased; an invalid one names the reason."""
    assert normalize_address(raw) == expected


def test_addresses_length_limit_is_254() -> None:
    """The longest accepted address is MAX_ADDRESS_LEN (254) characters, as the table rows assume."""
    assert MAX_ADDRESS_LEN == 254
    assert len("l" * 58 + "@" + LONG_DOMAIN) == 254


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Acme News <News@Example.COM>", ("Acme News", "News@example.com"), id="alias-and-address"),
        pytest.param("news@example.com", ("", "news@example.com"), id="bare-address"),
        pytest.param("<news@example.com>", ("", "news@example.com"), id="brackets-only"),
        pytest.param("  Acme   <  news@example.com >  ", ("Acme", "news@example.com"), id="blanks-trimmed"),
        pytest.param("에이크미 뉴스 <news@example.com>", ("에이크미 뉴스", "news@example.com"), id="non-ascii-alias"),
    ],
)
def test_addresses_parse_from_address(value: str, expected: tuple[str, str]) -> None:
    """A sender line gives (alias, normalised address)."""
    assert parse_from_address(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "two words",
            "not an e-mail address: 'two words' (write 'Alias <news@example.com>')",
            id="no-address",
        ),
        pytest.param("Acme <a> <b>", "not an e-mail address: 'Acme <a> <b>'", id="two-brackets"),
        pytest.param("Acme <news@localhost>", "not an e-mail address: 'news@localhost' (bad syntax)", id="bad-address"),
        pytest.param(
            "Acme: News <news@example.com>",
            "the sender alias may not contain ':' (Tencent refuses it): 'Acme: News'",
            id="colon-in-alias",
        ),
    ],
)
def test_addresses_parse_from_address_refuses(value: str, message: str) -> None:
    """A line that is not a sender is refused with a message that quotes it."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_from_address(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("abc", "'abc'", id="short-string"),
        pytest.param(12, "12", id="not-a-string"),
        pytest.param("x" * 58, "'" + "x" * 58 + "'", id="exactly-the-limit"),
        pytest.param("x" * 59, "'" + "x" * 56 + "...", id="one-over"),
        pytest.param("x" * 1_000_000, "'" + "x" * 56 + "...", id="huge"),
        pytest.param("a\nb", "'a\\nb'", id="control-characters-escaped"),
    ],
)
def test_addresses_shown_cuts_long_values(value: object, expected: str) -> None:
    """shown() is repr(value), cut to SHOWN_CHARS characters ending in '...' when longer."""
    assert shown(value) == expected
    assert len(shown(value)) <= SHOWN_CHARS
