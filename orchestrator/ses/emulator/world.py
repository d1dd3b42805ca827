"""The emulator's world: accounts, sender domains, templates, limits, faults and recipient behaviour."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field
from typing import Annotated, Any, Final, Literal, TypeVar, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails
from yarl import URL

from orchestrator.core.addresses import shown
from orchestrator.core.credentials import DEFAULT_ACCOUNT

#: The credentials a permissive emulator accepts when TENCENTCLOUD_SECRET_ID/KEY are unset.
DEFAULT_SECRET_ID: Final = "emulator-id"  # noqa: S105 - a documented local-only default
DEFAULT_SECRET_KEY: Final = "emulator-key"  # noqa: S105 - a documented local-only default

#: Daily quota per reputation level 1..20 (Tencent documents 1-10 and 20; 11-19 are interpolated).
LEVEL_QUOTAS: Final = (
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000,
    150_000, 200_000, 250_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 1_000_000,
)  # fmt: skip
MAX_LEVEL: Final = len(LEVEL_QUOTAS)

#: Codes with a special meaning in a fault rule (anything else is returned as a Tencent error code).
TIMEOUT_AFTER_ACCEPT: Final = "timeout_after_accept"  # accept and log the send, then hang
DROP_AFTER_ACCEPT: Final = "drop_after_accept"  # accept and log the send, then drop the connection
DROP_BEFORE_ACCEPT: Final = "drop_before_accept"  # drop the connection; nothing is sent
HTTP_STATUS_PREFIX: Final = "http_"  # "http_503": answer with that HTTP status and no Tencent body
#: "http_504_after_accept": accept and log the send, then answer that HTTP status (a gateway that
#: passed the request on and timed out waiting for the API's answer).
AFTER_ACCEPT_SUFFIX: Final = "_after_accept"

#: How many sender domains and template ids a permissive world remembers making up (oldest forgotten).
PERMISSIVE_MEMORY: Final = 256
#: The longest domain name DNS allows.
MAX_DOMAIN_CHARS: Final = 253

_K = TypeVar("_K")
_V = TypeVar("_V")

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def quota_for_level(level: int) -> int:
    """Tencent's daily quota for a reputation level (clamped to 1..20)."""
    return LEVEL_QUOTAS[min(max(level, 1), MAX_LEVEL) - 1]


@dataclass(config=_STRICT)
class Account:
    """One Tencent Cloud account: a key pair; `template_only` refuses sends with a plain body."""

    name: str
    secret_id: str
    secret_key: str
    template_only: bool = False


@dataclass(config=_STRICT)
class IdentityConfig:
    """A sender domain."""

    domain: str
    verified: bool = True
    #: DNS records ("mx", "spf", "dkim", "dmarc") that no longer match since the domain was verified.
    changed_records: list[Literal["mx", "spf", "dkim", "dmarc"]] = field(default_factory=list)
    sending_enabled: bool = True
    reputation_level: Annotated[int, Field(ge=1, le=MAX_LEVEL)] = 1
    daily_quota: Annotated[int | None, Field(ge=0)] = None  # None: the reputation level's quota
    send_ips: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)  # empty: any address on the domain
    account: str | None = None  # None: every account has it

    @property
    def quota(self) -> int:
        return self.daily_quota if self.daily_quota is not None else quota_for_level(self.reputation_level)


@dataclass(config=_STRICT)
class TemplateConfig:
    """A template: `{{var}}` placeholders in html/text; status 0 approved, 1 pending, 2 rejected."""

    id: int
    name: str = ""
    html: str = ""
    text: str = ""
    status: int = 0
    account: str | None = None  # None: every account has it


@dataclass(config=_STRICT)
class FaultRule:
    """Inject `code` into matching requests: the next `count` of them, or each with probability `rate`."""

    code: Annotated[str, Field(min_length=1)]
    rate: Annotated[float | None, Field(ge=0, le=1)] = None
    count: Annotated[int | None, Field(ge=0)] = None
    action: str = "SendEmail"  # the API action it applies to, "*" for all
    recipient_domain: str | None = None
    account: str | None = None
    message: str | None = None
    hang_s: Annotated[float, Field(ge=0)] = 30.0  # timeout_after_accept: how long the answer is held back

    @field_validator("code")
    @classmethod
    def _http_status_in_range(cls, code: str) -> str:
        fault = http_fault(code)
        if fault is not None and not 200 <= fault[0] <= 599:
            msg = f"{HTTP_STATUS_PREFIX}NNN needs an HTTP status from 200 to 599"
            raise ValueError(msg)
        return code


def http_fault(code: str) -> tuple[int, bool] | None:
    """A fault code's HTTP status and whether the send is accepted first (`http_504_after_accept`);
    None for any other code."""
    after = code.endswith(AFTER_ACCEPT_SUFFIX)
    status = code.removesuffix(AFTER_ACCEPT_SUFFIX).removeprefix(HTTP_STATUS_PREFIX)
    if not code.startswith(HTTP_STATUS_PREFIX) or not status.isdigit() or not status.isascii():
        return None
    return int(status), after


@dataclass(config=_STRICT)
class Behaviour:
    """What recipients do with accepted mail (fractions of accepted sends)."""

    hard_bounce_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    soft_bounce_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    delivered_rate: Annotated[float | None, Field(ge=0, le=1)] = None  # of the rest; None = all of the rest
    open_rate: Annotated[float, Field(ge=0, le=1)] = 0.0  # of delivered mail
    click_rate: Annotated[float, Field(ge=0, le=1)] = 0.0  # of delivered mail
    spamreport_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    unsubscribe_rate: Annotated[float, Field(ge=0, le=1)] = 0.0


@dataclass(config=_STRICT)
class SenderBehaviour:
    """What recipients do with one sender's mail: its own behaviour, and per recipient domain."""

    behaviour: Behaviour = field(default_factory=Behaviour)
    domains: dict[str, Behaviour] = field(default_factory=dict)  # per recipient domain


@dataclass(config=_STRICT)
class Latency:
    """Each request waits a uniform random time between the two bounds (real milliseconds)."""

    min_ms: Annotated[float, Field(ge=0)] = 0.0
    max_ms: Annotated[float, Field(ge=0)] = 0.0


@dataclass(config=_STRICT)
class World:
    """Everything the emulator knows; mutable so tests can change it while the server runs."""

    accounts: list[Account]
    identities: list[IdentityConfig] = field(default_factory=list)
    templates: list[TemplateConfig] = field(default_factory=list)
    blocklist: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    # Permissive: any sender domain is verified at level 20, any template id is approved.
    permissive: bool = False
    account_rate_per_s: Annotated[float | None, Field(gt=0)] = 20.0  # every API call; None = unlimited
    per_address_per_hour: Annotated[int | None, Field(ge=1)] = 10  # None = unlimited
    timezone: str = "Asia/Shanghai"  # the calendar of daily quotas and GetSendEmailStatus dates
    latency: Latency = field(default_factory=Latency)
    faults: list[FaultRule] = field(default_factory=list)
    behaviour: Behaviour = field(default_factory=Behaviour)
    domains: dict[str, Behaviour] = field(default_factory=dict)  # per recipient domain
    # Per sender address or sender domain (the address wins): replaces `behaviour` and `domains`.
    senders: dict[str, SenderBehaviour] = field(default_factory=dict)
    callback_url: str | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        # What the permissive world made up, most recently used last; bounded by PERMISSIVE_MEMORY.
        self._made_identities: OrderedDict[str, IdentityConfig] = OrderedDict()
        self._made_templates: OrderedDict[int, TemplateConfig] = OrderedDict()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {name[:60]!r} (an IANA name such as Asia/Shanghai)"
            raise ValueError(msg) from None
        return name

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                parsed = URL(url)
            except ValueError:
                parsed = None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
                msg = "an http:// or https:// URL with a host"
                raise ValueError(msg)
        return url

    def account_by_secret_id(self, secret_id: str) -> Account | None:
        return next((a for a in self.accounts if a.secret_id == secret_id), None)

    def identity(self, domain: str, account: str) -> IdentityConfig | None:
        domain = domain.lower()
        for ident in self.identities:
            if ident.domain.lower() == domain and ident.account in (None, account):
                return ident
        # A name longer than DNS allows is no domain: never made up (and never kept in memory).
        if self.permissive and len(domain) <= MAX_DOMAIN_CHARS:
            return _remember(self._made_identities, domain, lambda: IdentityConfig(domain, reputation_level=MAX_LEVEL))
        return None

    def visible_identities(self, account: str) -> list[IdentityConfig]:
        made = [i for i in self._made_identities.values() if i.domain.lower() not in self._configured_domains(account)]
        return [i for i in self.identities if i.account in (None, account)] + made

    def _configured_domains(self, account: str) -> set[str]:
        return {i.domain.lower() for i in self.identities if i.account in (None, account)}

    def template(self, template_id: int, account: str) -> TemplateConfig | None:
        for tpl in self.templates:
            if tpl.id == template_id and tpl.account in (None, account):
                return tpl
        if self.permissive:
            return _remember(
                self._made_templates,
                template_id,
                lambda: TemplateConfig(template_id, name=f"template-{template_id}", text="Hello from the emulator."),
            )
        return None

    def visible_templates(self, account: str) -> list[TemplateConfig]:
        configured = {t.id for t in self.templates if t.account in (None, account)}
        made = [t for t in self._made_templates.values() if t.id not in configured]
        return [t for t in self.templates if t.account in (None, account)] + made

    def behaviour_for(self, recipient_domain: str, from_address: str = "") -> Behaviour:
        """How the recipients of `recipient_domain` treat mail from `from_address`."""
        sender = self._sender(from_address.lower())
        base, domains = (self.behaviour, self.domains) if sender is None else (sender.behaviour, sender.domains)
        wanted = recipient_domain.lower()
        return next((b for d, b in domains.items() if d.lower() == wanted), base)

    def _sender(self, from_address: str) -> SenderBehaviour | None:
        if not self.senders or not from_address:
            return None
        lowered = {k.lower(): v for k, v in self.senders.items()}
        return lowered.get(from_address) or lowered.get(from_address.rpartition("@")[2])


_WORLD_ADAPTER: TypeAdapter[World] = TypeAdapter(World)


class WorldFileError(ValueError):
    """A world file that cannot be read; `problems` are one line each, str() joins them."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def world_from_dict(data: Mapping[str, Any]) -> World:
    """A World from plain data (a parsed YAML or JSON document)."""
    return validate_world(data, lambda _loc: "")


def validate_world(data: Mapping[str, Any], place: Callable[[Sequence[int | str]], str]) -> World:
    try:
        return _WORLD_ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        problems = [
            f"{place(e['loc'])}{'.'.join(str(x) for x in e['loc'])}: {_message(e)}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise WorldFileError(problems) from None


def _message(err: ErrorDetails) -> str:
    """pydantic's wording of `err`, in the campaign file's words where they differ (orchestrator/campaign_file.py)."""
    if err["type"] == "unexpected_keyword_argument":
        allowed = _allowed_keys(err["loc"][:-1])
        return f"unknown key {shown(err['loc'][-1])}" + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
    if err["type"] in ("missing", "missing_argument"):
        return "required key is missing"
    return err["msg"].removeprefix("Value error, ")


def _allowed_keys(loc: Sequence[int | str]) -> list[str]:
    """The keys the world file takes at `loc` (a place in a mapping of the file)."""
    tp: Any = World
    for part in loc:
        fields = getattr(tp, "__pydantic_fields__", None)
        if fields is not None:
            field_info = fields.get(str(part))
            tp = field_info.annotation if field_info is not None else None
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]  # the item of a list, the value of a mapping
        else:
            return []
    return list(getattr(tp, "__pydantic_fields__", {}))


def _remember(made: OrderedDict[_K, _V], key: _K, make: Callable[[], _V]) -> _V:
    """`made[key]` (made now if new), marked as most recently used; the oldest beyond the bound are forgotten."""
    value = made.pop(key, None)
    if value is None:
        value = make()
    made[key] = value
    while len(made) > PERMISSIVE_MEMORY:
        made.popitem(last=False)
    return value


def permissive_credentials(env: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """(secret id, secret key, where they came from) for the permissive world."""
    env = os.environ if env is None else env
    secret_id, secret_key = env.get("TENCENTCLOUD_SECRET_ID"), env.get("TENCENTCLOUD_SECRET_KEY")
    if secret_id and secret_key:
        return secret_id, secret_key, "TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY"
    return DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, "the emulator's default pair (docs/tencent.md)"


def emulator_pair(account: str, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The key pair the permissive emulator knows `account` by: the default account's from
    `permissive_credentials`, another's the documented default pair with `-<name>` appended."""
    if account == DEFAULT_ACCOUNT:
        return permissive_credentials(env)[:2]
    return f"{DEFAULT_SECRET_ID}-{account}", f"{DEFAULT_SECRET_KEY}-{account}"


def permissive_world(env: Mapping[str, str] | None = None, accounts: Iterable[str] = ()) -> World:
    """The world with no file, all allowed: the default account (its pair from the environment or the
    default one) and each of `accounts` (the settings' named ones) by its `emulator_pair`."""
    pairs = {name: emulator_pair(name, env) for name in [DEFAULT_ACCOUNT, *sorted(set(accounts) - {DEFAULT_ACCOUNT})]}
    return World(accounts=[Account(name=n, secret_id=i, secret_key=k) for n, (i, k) in pairs.items()], permissive=True)
