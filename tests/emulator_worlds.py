"""The emulator worlds the Tencent-side tests start from: one account, one verified domain, one template."""

from __future__ import annotations

from typing import Any

from orchestrator.ses.emulator import Account, IdentityConfig, TemplateConfig, World

DOMAIN = "news.example.com"


def emulator_world(
    secret_id: str,
    secret_key: str,
    *,
    level: int = 1,
    send_ips: list[str] | None = None,
    templates: list[TemplateConfig] | None = None,
    more_accounts: list[Account] | None = None,
    more_identities: list[IdentityConfig] | None = None,
    **overrides: Any,
) -> World:
    """A world with the account `default` (these keys), `news.example.com` verified at `level`, and
    template 1 approved (`Hi {{name}}`) unless `templates` names others; `overrides` are World fields."""
    fields: dict[str, Any] = {
        "accounts": [Account(name="default", secret_id=secret_id, secret_key=secret_key), *(more_accounts or [])],
        "identities": [
            IdentityConfig(domain=DOMAIN, reputation_level=level, send_ips=send_ips or []),
            *(more_identities or []),
        ],
        "templates": templates or [TemplateConfig(id=1, name="welcome", text="Hi {{name}}")],
    }
    fields.update(overrides)
    return World(**fields)
