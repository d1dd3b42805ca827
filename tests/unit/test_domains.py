"""Recipient domains grouped by mailbox provider (orchestrator/core/domains.py)."""

from __future__ import annotations

import re

import pytest

from orchestrator.core.domains import PROVIDER_GROUPS, address_group, domain_group, lua_group_table


@pytest.mark.parametrize(
    ("domain", "group"),
    [
        pytest.param("gmail.com", "google", id="gmail"),
        pytest.param("googlemail.com", "google", id="googlemail"),
        pytest.param("GMail.COM", "google", id="upper-case"),
        pytest.param("hanmail.net", "kakao", id="hanmail"),
        pytest.param("daum.net", "kakao", id="daum"),
        pytest.param("kakao.com", "kakao", id="kakao"),
        pytest.param("hotmail.com", "microsoft", id="hotmail"),
        pytest.param("126.com", "netease", id="netease"),
        pytest.param("me.com", "apple", id="apple"),
        pytest.param("yahoo.com", "yahoo", id="yahoo-com"),
        pytest.param("yahoo.co.jp", "yahoo", id="yahoo-any-suffix"),
        pytest.param("Yahoo.co.kr", "yahoo", id="yahoo-upper-case"),
        pytest.param("notyahoo.com", "notyahoo.com", id="yahoo-only-as-prefix"),
        pytest.param("mail.gmail.com", "mail.gmail.com", id="subdomain-is-its-own-group"),
        pytest.param("example.org", "example.org", id="unknown-is-its-own-group"),
        pytest.param("Example.ORG", "example.org", id="unknown-lower-cased"),
    ],
)
def test_domain_group_names_the_provider(domain: str, group: str) -> None:
    """A listed domain maps to its provider; any other domain is its own group, lower-cased."""
    assert domain_group(domain) == group


@pytest.mark.parametrize(
    ("address", "group"),
    [
        pytest.param("jiwoo@hanmail.net", "kakao", id="plain"),
        pytest.param("Jiwoo@NAVER.com", "naver", id="upper-case-domain"),
        pytest.param('"a@b"@gmail.com', "google", id="last-at-sign"),
        pytest.param("no-at-sign", "no-at-sign", id="no-at-sign-is-the-domain"),
    ],
)
def test_address_group_uses_the_domain_after_the_last_at(address: str, group: str) -> None:
    """An address's group is its domain's, the domain being what follows the last '@'."""
    assert address_group(address) == group


def test_lua_group_table_holds_the_same_mapping_sorted() -> None:
    """The Lua literal lists every domain -> group pair once, in sorted order, and nothing else."""
    table = lua_group_table()
    pairs = re.findall(r'\["([^"]+)"\]="([^"]+)"', table)
    assert table == "{" + ", ".join(f'["{k}"]="{v}"' for k, v in pairs) + "}"
    assert pairs == sorted(PROVIDER_GROUPS.items())
