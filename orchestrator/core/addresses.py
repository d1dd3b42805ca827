"""E-mail address checks and normalisation (syntax only; no DNS)."""

from __future__ import annotations

import re

# A pragmatic RFC 5321 subset: what mailbox providers accept in practice, ASCII local parts.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR = re.compile(rf"^({_LOCAL})@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})$")
_FROM = re.compile(r"^\s*(?:(?P<alias>[^<>]*?)\s*<(?P<addr1>[^<>]+)>|(?P<addr2>[^<>\s]+))\s*$")
MAX_ADDRESS_LEN = 254
#: The longest value an error message shows (a longer one is cut and ends in "...").
SHOWN_CHARS = 60


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """repr(value) for an error message, cut to `limit` characters: a message never echoes a huge value."""
    text = repr(value) if not isinstance(value, str) or len(value) <= 4 * limit else repr(value[: 4 * limit])
    return text if len(text) <= limit else text[: limit - 3] + "..."


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(address: str) -> str:
    """An address as the suppression lists and the blocklist key it: ASCII letters lower-cased, exactly as
    Redis's Lua `string.lower` does (store/lua/claim.lua looks it up that way). Mailbox providers and
    Tencent treat the local part without case: a complaint from `Jiwoo@` stops `jiwoo@` too."""
    return address.translate(_ASCII_LOWER)


def normalize_address(raw: str) -> tuple[str | None, str]:
    """(normalised address, "") when valid, else (None, reason).

    Trims blanks and lower-cases the domain; the local part keeps its case as written (the address a
    mail goes to); compare two addresses with `fold`.
    """
    addr = raw.strip()
    if not addr:
        return None, "empty"
    if len(addr) > MAX_ADDRESS_LEN:
        return None, "too long"
    m = _ADDR.match(addr)
    if not m:
        return None, "bad syntax"
    local, domain = m.group(1), m.group(2)
    if len(local) > 64:
        return None, "local part too long"
    return f"{local}@{domain.lower()}", ""


def canonical_from(value: str) -> str:
    """A sender as Tencent's FromEmailAddress takes it: 'Alias <addr@domain>' with exactly one space
    between the alias and the address (Tencent refuses any other spacing), or the bare address.
    Raises ValueError as `parse_from_address` does."""
    alias, addr = parse_from_address(value)
    return f"{alias} <{addr}>" if alias else addr


def parse_from_address(value: str) -> tuple[str, str]:
    """'Alias <addr@domain>' or 'addr@domain' -> (alias, address). Raises ValueError."""
    m = _FROM.match(value)
    if not m:
        msg = f"not an e-mail address: {shown(value)} (write 'Alias <news@example.com>')"
        raise ValueError(msg)
    alias = (m.group("alias") or "").strip()
    addr = (m.group("addr1") or m.group("addr2") or "").strip()
    if ":" in alias:
        msg = f"the sender alias may not contain ':' (Tencent refuses it): {shown(alias)}"
        raise ValueError(msg)
    norm, reason = normalize_address(addr)
    if norm is None:
        msg = f"not an e-mail address: {shown(addr)} ({reason})"
        raise ValueError(msg)
    return alias, norm
