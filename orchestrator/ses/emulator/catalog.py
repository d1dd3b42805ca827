"""The emulated account's catalogue, read from the world file: sender domains, their DNS records, templates."""

from __future__ import annotations

import base64
from typing import Any

from orchestrator.ses.emulator.params import ApiError, page_param
from orchestrator.ses.emulator.world import Account, World


def list_email_identities(world: World, account: Account, p: dict[str, Any]) -> dict[str, Any]:
    idents = world.visible_identities(account.name)
    return {
        "EmailIdentities": [
            {
                "IdentityName": i.domain,
                "IdentityType": "DOMAIN",
                "SendingEnabled": i.verified and i.sending_enabled,
                "CurrentReputationLevel": i.reputation_level,
                "DailyQuota": i.quota,
                "SendIp": list(i.send_ips),
            }
            for i in idents
        ],
        "MaxReputationLevel": max((i.reputation_level for i in idents), default=0),
        "MaxDailyQuota": max((i.quota for i in idents), default=0),
        "Total": len(idents),
    }


def get_email_identity(world: World, account: Account, p: dict[str, Any]) -> dict[str, Any]:
    domain = str(p.get("EmailIdentity") or "").lower()
    ident = world.identity(domain, account.name) if domain else None
    if ident is None:
        raise ApiError("InvalidParameterValue.NotExistDomain", f"Domain {domain} has not been created.")
    ok = ident.verified

    def record(key: str, kind: str, name: str, value: str) -> dict[str, Any]:
        matches = ok and key not in ident.changed_records
        return {
            "Type": kind,
            "SendDomain": name,
            "ExpectedValue": value,
            "CurrentValue": value if matches else ("v=spf1 -all" if ok and key == "spf" else ""),
            "Status": matches,
        }

    return {
        "IdentityType": "DOMAIN",
        "VerifiedForSendingStatus": ok,
        "Attributes": [
            record("mx", "MX", domain, "mxbiz1.qq.com"),
            record("spf", "TXT", domain, "v=spf1 include:qcloudmail.com ~all"),
            record("dkim", "TXT", f"qcloud._domainkey.{domain}", "v=DKIM1; k=rsa; p=MIGf..."),
            record("dmarc", "TXT", f"_dmarc.{domain}", "v=DMARC1; p=none"),
        ],
    }


def get_email_template(world: World, account: Account, p: dict[str, Any]) -> dict[str, Any]:
    try:
        template_id = int(p.get("TemplateID") or 0)
    except (TypeError, ValueError):
        template_id = 0
    tpl = world.template(template_id, account.name) if template_id else None
    if tpl is None:
        raise ApiError("InvalidParameterValue.TemplateNotExist", f"Template {template_id} does not exist.")
    return {
        "TemplateContent": {"Html": _b64(tpl.html), "Text": _b64(tpl.text)},
        "TemplateStatus": tpl.status,
        "TemplateName": tpl.name,
    }


def list_email_templates(world: World, account: Account, p: dict[str, Any]) -> dict[str, Any]:
    offset, limit = page_param(p)
    templates = world.visible_templates(account.name)
    return {
        "TemplatesMetadata": [
            {
                "CreatedTimestamp": 0,
                "TemplateName": t.name,
                "TemplateStatus": t.status,
                "TemplateID": t.id,
                "ReviewReason": "rejected by review" if t.status == 2 else "",
            }
            for t in templates[offset : offset + limit]
        ],
        "TotalCount": len(templates),
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
