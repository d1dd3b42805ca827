"""What the read-only SES calls return (for `check`): sender domains, DNS records, templates, blocklist pages."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdentitySummary:
    """One sender domain as ListEmailIdentities reports it."""

    name: str
    identity_type: str
    sending_enabled: bool
    reputation_level: int
    daily_quota: int
    send_ips: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IdentityList:
    identities: tuple[IdentitySummary, ...]
    max_reputation_level: int
    max_daily_quota: int

    def find(self, domain: str) -> IdentitySummary | None:
        return next((i for i in self.identities if i.name.lower() == domain.lower()), None)


@dataclass(frozen=True, slots=True)
class DnsRecord:
    type: str
    send_domain: str
    expected_value: str
    current_value: str
    ok: bool


@dataclass(frozen=True, slots=True)
class IdentityDetail:
    """One sender domain as GetEmailIdentity reports it: verification and DNS records."""

    name: str
    identity_type: str
    verified: bool
    records: tuple[DnsRecord, ...]


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template as GetEmailTemplate reports it, with the base64 bodies decoded."""

    template_id: int
    name: str
    status: int  # 0 approved, 1 pending review, 2 rejected
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    address: str
    bounce_time: str
    isp: str


@dataclass(frozen=True, slots=True)
class BlacklistPage:
    entries: tuple[BlacklistEntry, ...]
    total_count: int


def b64_text(value: str | None) -> str:
    """A template body as GetEmailTemplate returns it (base64), decoded; "" when absent or not base64."""
    if not value:
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""
