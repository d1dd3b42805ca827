"""The preflight checks of `orchestrate check`, in the seed's order: credentials, sender domains, recipients
(and Tencent's blocklist), template, template-only."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from typing import get_args

from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign, Identity, subject_variables
from orchestrator.core.checklist import Item, Status
from orchestrator.core.plan import CAP_LIMIT, identity_caps
from orchestrator.preflight_redis import stored_checks
from orchestrator.recipients import RecipientFileError, scan_recipients
from orchestrator.ses.client import PAGE_LIMIT, IdentityList, TencentSender
from orchestrator.ses.errors import SesError, SesNetworkError
from orchestrator.ses.records import IdentitySummary
from orchestrator.settings import SesRegion, Settings
from orchestrator.store.suppression import BLOCKLIST_KEEP_S

#: How far back the blocklist is read (as long as Tencent keeps an entry, as `blocklist sync` reads it),
#: and at most how many of its entries.
BLOCKLIST_DAYS = int(BLOCKLIST_KEEP_S // 86400)
BLOCKLIST_MAX_PAGES = 100

#: One-line fixes for the codes a preflight meets most.
FIXES = {
    "Orchestrator.NoCredentials": "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY "
    "(or ORCHESTRATE_ACCOUNTS for named accounts)",
    "Orchestrator.BadEndpoint": "set SES_ENDPOINT to https://ses.tencentcloudapi.com (ses.intl.tencentcloudapi.com "
    "for ap-singapore) or leave it unset",
    "AuthFailure.SecretIdNotFound": "copy the SecretId from the CAM console (API keys); it may be deleted",
    "AuthFailure.SignatureFailure": "the SecretKey does not belong to the SecretId: copy both again from CAM",
    "AuthFailure.SignatureExpire": "sync this machine's clock (NTP): it is more than 5 minutes off",
    "AuthFailure.UnauthorizedOperation": "grant the key's CAM user the QcloudSESFullAccess policy",
    "UnsupportedRegion": "set SES_REGION to " + " or ".join(get_args(SesRegion)),
}


def _fix_for(exc: SesError) -> str:
    if exc.code in FIXES:
        return FIXES[exc.code]
    if isinstance(exc, SesNetworkError):
        return "check SES_ENDPOINT, the network and any proxy (NO_PROXY for an endpoint on another host of yours)"
    return f"see Tencent's error code {exc.code} in docs/tencent.md"


class Preflight:
    """Runs every check against one endpoint; collects Items, never raises for a provider error."""

    def __init__(self, campaign: Campaign, sender: TencentSender, today: date) -> None:
        self.campaign = campaign
        self.sender = sender
        self.today = today
        self.items: list[Item] = []
        self._listings: dict[str, IdentityList] = {}  # an account's listing taken again after a lookup

    def add(self, group: str, name: str, status: Status, detail: str = "", fix: str = "") -> None:
        self.items.append(Item(group, name, status, detail, fix))

    async def run(self) -> list[Item]:
        accounts = list(dict.fromkeys(i.account for i in self.campaign.identities))
        working: dict[str, IdentityList] = {}
        for account in accounts:
            listing = await self.check_credentials(account)
            if listing is not None:
                working[account] = listing
        for ident in self.campaign.identities:
            if ident.account in working:
                await self.check_identity(ident, working[ident.account])
                working[ident.account] = self._listings.get(ident.account, working[ident.account])
            else:
                self.add(
                    f"identity {ident.id}",
                    ident.domain,
                    "info",
                    "not checked: its account's credentials fail",
                )
        # The seed's order (spec section 9): credentials, domain, recipients, template, template-only.
        await self.check_recipients(list(working))
        for account in working:
            await self.check_template(account)
        for account in working:
            await self.check_template_only(account)
        self._count_domains(working)
        return self.items

    def _count_domains(self, working: dict[str, IdentityList]) -> None:
        """Say on each account's credentials line how many sender domains the checks found in the end.

        A permissive emulator (and a listing that pages) lists a domain only once it was asked for,
        so the count of the first listing would disagree with the lines that follow it.
        """
        for n, item in enumerate(self.items):
            listing = working.get(item.name.removeprefix("account ")) if item.group == "credentials" else None
            if listing is not None and item.status == "ok":
                count = len(listing.identities)
                self.items[n] = Item(item.group, item.name, "ok", f"the key pair works ({_domains(count)})")

    async def check_credentials(self, account: str) -> IdentityList | None:
        group = "credentials"
        try:
            listing = await self.sender.list_identities(account)
        except SesError as exc:
            self.add(group, f"account {account}", "fail", f"{exc.code}: {exc.detail}", _fix_for(exc))
            return None
        self.add(group, f"account {account}", "ok", f"the key pair works ({_domains(len(listing.identities))})")
        return listing

    async def check_identity(self, ident: Identity, listing: IdentityList) -> None:
        group = f"identity {ident.id}"
        found = await self._find_domain(ident, listing)
        if found is None:
            names = ", ".join(i.name for i in listing.identities) or "none"
            self.add(
                group,
                f"domain {ident.domain} exists",
                "fail",
                f"the account's sender domains: {names}",
                "create the sender domain in the SES console (Configuration > Sender domains)",
            )
            return
        self.add(group, f"domain {ident.domain} exists", "ok")
        await self._check_verified(group, ident)
        if found.sending_enabled:
            self.add(group, "sending enabled", "ok")
        else:
            self.add(
                group,
                "sending enabled",
                "fail",
                "Tencent has not enabled sending for this domain",
                "finish verification in the SES console; if it is verified, ask Tencent support",
            )
        ips = ", ".join(found.send_ips) or "Tencent's shared IPs"
        level = f"level {found.reputation_level}, daily quota {found.daily_quota:,}, send IPs: {ips}"
        self.add(group, "reputation", "info", level)
        self._check_quota(group, ident, found.daily_quota)

    async def _find_domain(self, ident: Identity, listing: IdentityList) -> IdentitySummary | None:
        found = listing.find(ident.domain)
        if found is None:
            # Not in the listing: ask for the domain itself (a listing may page, and an emulator in
            # permissive mode creates domains on first use), then look again.
            with contextlib.suppress(SesError):
                await self.sender.get_identity(ident.domain, ident.account)
                again = await self.sender.list_identities(ident.account)
                self._listings[ident.account] = again
                found = again.find(ident.domain)
        return found

    async def _check_verified(self, group: str, ident: Identity) -> None:
        try:
            detail = await self.sender.get_identity(ident.domain, ident.account)
        except SesError as exc:
            self.add(group, "verified", "fail", f"{exc.code}: {exc.detail}", _fix_for(exc))
            return
        changed = "; ".join(f"{r.type} {r.send_domain} = {r.expected_value}" for r in detail.records if not r.ok)
        if detail.verified and changed:  # verified once, but a record no longer matches: the DNS changed since
            self.add(
                group,
                "verified",
                "fail",
                "verified, but its DNS changed since: records no longer match",
                f"restore these DNS records (receivers' SPF, DKIM or DMARC checks may fail meanwhile): {changed}",
            )
            return
        if detail.verified:
            self.add(group, "verified", "ok")
            return
        self.add(
            group,
            "verified",
            "fail",
            "the domain's DNS records are not verified",
            f"add these DNS records, then verify in the console: {changed or 'see the console'}",
        )

    def _check_quota(self, group: str, ident: Identity, daily_quota: int) -> None:
        caps = identity_caps(self.campaign.build_plan(), self.campaign.mode, ident.warmup_day)
        if caps.daily < CAP_LIMIT and daily_quota < caps.daily:
            self.add(
                group,
                "quota covers the plan",
                "warn",
                f"Tencent's quota {daily_quota:,}/day is below the plan's {caps.daily:,} "
                f"on warm-up day {ident.warmup_day}",
                "the identity stops at the quota each day, and its warm-up waits on the first day whose plan cap "
                "is over twice the quota; lower plan.scale or wait for a higher level",
            )
        elif caps.daily < CAP_LIMIT:
            covers = f"{daily_quota:,}/day >= {caps.daily:,} on warm-up day {ident.warmup_day}"
            self.add(group, "quota covers the plan", "ok", covers)

    async def check_template(self, account: str) -> None:
        tpl = self.campaign.template
        group = f"template {tpl.id}" + (f" (account {account})" if account != "default" else "")
        try:
            info = await self.sender.get_template(tpl.id, account)
        except SesError as exc:
            fix = "fix template.id, or create the template in the SES console" if "Template" in exc.code else ""
            self.add(group, "exists", "fail", f"{exc.code}: {exc.detail}", fix or _fix_for(exc))
            return
        self.add(group, "exists", "ok", f"name {info.name!r}")
        if info.status == 0:
            self.add(group, "approved", "ok")
        elif info.status == 1:
            wait = "wait for the review (usually hours), then run check again"
            self.add(group, "approved", "fail", "the template is pending Tencent's review", wait)
        else:
            self.add(
                group,
                "approved",
                "fail",
                f"the template was rejected (status {info.status})",
                "edit the template in the SES console and submit it for review again",
            )
        used = subject_variables(info.html + "\n" + info.text + "\n" + tpl.subject)
        missing = [v for v in used if v not in tpl.data]
        if missing:
            names = ", ".join("{{" + v + "}}" for v in missing)
            self.add(
                group,
                "variables have data",
                "fail",
                f"the template uses {names} but template.data lacks them",
                "add under template.data: " + ", ".join(f"{v}: {{column: ...}}" for v in missing),
            )
        else:
            self.add(group, "variables have data", "ok", ", ".join(used) or "the template has no variables")
        unused = [k for k in tpl.data if k not in used]
        if unused:
            self.add(
                group,
                "unused data",
                "warn",
                f"template.data keys no variable uses: {', '.join(unused)}",
                "remove them, or check the variable names in the template for typos",
            )

    async def check_template_only(self, account: str) -> None:
        ident = next(i for i in self.campaign.identities if i.account == account)
        try:
            template_only = await self.sender.probe_template_only(ident.from_, account)
        except SesError as exc:
            self.add("account", f"permissions ({account})", "info", f"probe inconclusive: {exc.code}")
            return
        if template_only:
            self.add(
                "account",
                f"template-only ({account})",
                "warn",
                "the account may send only with templates (a plain-body probe got FailedOperation.WithOutPermission)",
                "fine for this campaign, which sends by template; ask Tencent to allow custom "
                "content only if other senders on this account need it",
            )
        else:
            self.add("account", f"template-only ({account})", "ok", "no template-only restriction detected")

    async def check_recipients(self, accounts: list[str]) -> None:
        group = "recipients"
        r = self.campaign.recipients
        seen: set[str] = set()  # lower-cased, as Tencent's blocklist holds them
        try:
            stats = scan_recipients(self.campaign, lambda row: seen.add(row.address.lower()))
        except RecipientFileError as exc:
            self.add(
                group,
                f"read {r.file.name}",
                "fail",
                str(exc),
                "fix the file there, or recipients.encoding / delimiter / max_row_bytes",
            )
            return
        valid, invalid, duplicates = stats.valid, stats.invalid, stats.duplicates
        if valid:
            self.add(group, "valid addresses", "ok", f"{valid:,} in {r.file.name}")
        else:
            self.add(
                group,
                "valid addresses",
                "fail",
                f"no valid address in column {r.email_column!r}",
                "check recipients.email_column and the file",
            )
        if invalid:
            reasons = ", ".join(f"{reason}: {n:,}" for reason, n in stats.invalid_reasons.most_common())
            self.add(
                group, "invalid addresses", "warn", f"{_rows(invalid)} will be skipped ({reasons})", "clean the list"
            )
        if duplicates:
            seen_before = f"{_rows(duplicates)} with an address seen before (each address is sent once)"
            self.add(group, "duplicates", "info", seen_before)
        await self.check_blocklist(accounts, seen)

    async def check_blocklist(self, accounts: list[str], recipients: set[str]) -> None:
        """The list against Tencent's blocklist of each account whose credentials work (`accounts`)."""
        unchecked = [i.account for i in self.campaign.identities if i.account not in accounts]
        if not accounts:
            self.add("recipients", "Tencent blocklist", "info", "not checked: no account's credentials work")
            return
        start = self.today - timedelta(days=BLOCKLIST_DAYS - 1)
        listed: set[str] = set()
        truncated = False
        for account in accounts:
            try:
                for page in range(BLOCKLIST_MAX_PAGES):
                    got = await self.sender.list_blacklist(start, self.today, account=account, offset=page * PAGE_LIMIT)
                    listed.update(e.address.strip().lower() for e in got.entries)
                    if len(got.entries) < PAGE_LIMIT:
                        break
                else:
                    truncated = True
            except SesError as exc:
                self.add("recipients", "Tencent blocklist", "fail", f"{exc.code}: {exc.detail}", _fix_for(exc))
                return
        hits = len(recipients & listed)
        note = f" (only the first {BLOCKLIST_MAX_PAGES * PAGE_LIMIT:,} blocklist entries compared)" if truncated else ""
        if unchecked:
            note += f" (not checked for account {', '.join(dict.fromkeys(unchecked))}: its credentials fail)"
        if hits:
            self.add(
                "recipients",
                "Tencent blocklist",
                "warn",
                f"on it: {hits:,} of the list's addresses (bounces of the last {BLOCKLIST_DAYS} days){note}",
                "they will be suppressed; remove them from the list (or DeleteBlackList if wrongly listed)",
            )
        else:
            self.add("recipients", "Tencent blocklist", "ok", f"no recipient on it{note}")


def _domains(n: int) -> str:
    return "1 sender domain" if n == 1 else f"{n} sender domains"


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


async def run_preflight(campaign: Campaign, settings: Settings, today: date) -> list[Item]:
    """Every check of `campaign` against the endpoint the settings name.

    When the orchestrator's Redis answers, it is judged too (preflight_redis.py), and check's calls
    draw from the accounts' shared API budget like every other process (workers may be sending right
    now). Without it, check keeps to the share reserved for calls other than SendEmail on its own: a
    pipeline it cannot see may be sending on the same account.
    """
    from orchestrator.core.clock import SystemClock
    from orchestrator.ses.client import TencentSender, build_sender
    from orchestrator.store.account_budget import LocalAccountBudget
    from orchestrator.store.connection import redis_from_url

    redis = redis_from_url(settings.redis_url)
    stored: Redis | None = None  # the orchestrator's Redis, when it answers: its identities are compared
    try:
        try:
            await asyncio.wait_for(redis.ping(), timeout=2.0)
        except Exception:  # no Redis here: check needs none
            sender = TencentSender(settings, budget=LocalAccountBudget(SystemClock(), settings.account_rate()))
        else:
            sender, stored = build_sender(settings, redis), redis
        async with sender:
            items = await Preflight(campaign, sender, today).run()
            return items + (await stored_checks(stored, settings.redis_url, campaign) if stored is not None else [])
    finally:
        await redis.aclose()
