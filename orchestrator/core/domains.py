"""Recipient domains grouped by mailbox provider: one provider, one reputation, one budget."""

from __future__ import annotations

#: spec/warmup.md section 4. A domain not listed is its own group.
PROVIDER_GROUPS: dict[str, str] = {
    "gmail.com": "google",
    "googlemail.com": "google",
    "daum.net": "kakao",
    "hanmail.net": "kakao",
    "kakao.com": "kakao",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "live.com": "microsoft",
    "msn.com": "microsoft",
    "naver.com": "naver",
    "nate.com": "nate",
    "qq.com": "qq",
    "163.com": "netease",
    "126.com": "netease",
    "icloud.com": "apple",
    "me.com": "apple",
}


def domain_group(domain: str) -> str:
    """The provider group of a recipient domain (lower-case), e.g. 'hanmail.net' -> 'kakao'."""
    d = domain.lower()
    if d.startswith("yahoo."):
        return "yahoo"
    return PROVIDER_GROUPS.get(d, d)


def address_group(address: str) -> str:
    return domain_group(address.rsplit("@", 1)[-1])


def lua_group_table() -> str:
    """The same mapping as a Lua table literal, for the grant script."""
    items = ", ".join(f'["{k}"]="{v}"' for k, v in sorted(PROVIDER_GROUPS.items()))
    return "{" + items + "}"
