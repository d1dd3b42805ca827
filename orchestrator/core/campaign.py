"""The campaign file's model: every key, its default and its check (docs/campaign-file.md); `plan:` in plan_spec."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Final, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from orchestrator.core.addresses import canonical_from, normalize_address, parse_from_address, shown
from orchestrator.core.credentials import ACCOUNT_NAME_PATTERN, DEFAULT_ACCOUNT
from orchestrator.core.domain_shaping import DEFERRAL_BURST, DEFERRAL_SHARE, DEFERRAL_WINDOW_S
from orchestrator.core.file_values import FileDate, check_zone
from orchestrator.core.guardrails import Content, GuardrailsSpec
from orchestrator.core.plan import RAMPED, SKIP_WARMUP_MAX_DAILY, Mode, Plan, pool_ceiling
from orchestrator.core.plan_spec import PlanSpec
from orchestrator.core.progress import MAX_WARMUP_DAY
from orchestrator.core.strict import Strict, stored
from orchestrator.core.window import WHOLE_DAY, parse_window

SLUG = r"^[a-z0-9][a-z0-9._-]{0,62}$"
TEMPLATE_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
MAX_MULTIPLIER_WITHOUT_OVERRIDE = 5.0
#: The highest values recipients.max_row_bytes and recipients.max_cell_chars accept.
MAX_ROW_BYTES_LIMIT = 64 << 20
MAX_CELL_CHARS_LIMIT = 100_000


#: The largest daily_quota a campaign file may state: a thousand times Tencent's largest (level 20).
MAX_DAILY_QUOTA: Final = 1_000_000_000
#: Shuffle seeds lie within (-2**64, 2**64): what is stored with a campaign is read back within it.
SEED_BOUND: Final = 2**64

#: Plans built from campaign objects, by object id (the object is kept so the id stays unique).
_PLANS: dict[int, tuple[Campaign, Plan]] = {}


class Identity(Strict):
    """A sending identity: a sender address on a domain with its dedicated IP(s)."""

    id: Annotated[str, Field(pattern=SLUG)]
    from_: Annotated[str, Field(alias="from")]
    warmup_day: Annotated[int, Field(ge=1, le=MAX_WARMUP_DAY)] = 1
    daily_quota: Annotated[int | None, Field(ge=1, le=MAX_DAILY_QUOTA)] = None
    account: Annotated[str, Field(pattern=ACCOUNT_NAME_PATTERN)] = DEFAULT_ACCOUNT
    reply_to: str | None = None

    @field_validator("from_")
    @classmethod
    def _check_from(cls, v: str) -> str:
        return canonical_from(v)  # raises ValueError with the reason

    @field_validator("reply_to")
    @classmethod
    def _check_reply_to(cls, v: str | None) -> str | None:
        if v is None:
            return v
        norm, reason = normalize_address(v)
        if norm is None:
            msg = f"not an e-mail address: {shown(v)} ({reason})"
            raise ValueError(msg)
        return norm

    @property
    def address(self) -> str:
        return parse_from_address(self.from_)[1]

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


class Pool(Strict):
    multiplier: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 5.0
    allow_above_5x: bool = False

    @model_validator(mode="after")
    def _check_multiplier(self) -> Self:
        if self.multiplier > MAX_MULTIPLIER_WITHOUT_OVERRIDE and not self.allow_above_5x:
            shown = repr(self.multiplier).removesuffix(".0")  # every digit written: 5.0000001 is not "5"
            msg = (
                f"multiplier: {shown} is above 5 (the seed's ceiling: at most 5x the plan "
                "a day); set allow_above_5x: true to override"
            )
            raise ValueError(msg)
        return self


class ColumnSource(Strict):
    column: Annotated[str, Field(min_length=1)]
    default: str | None = None  # used when the cell is empty; without it an empty cell is an error


class ValueSource(Strict):
    value: str


def _source_kind(v: object) -> str | None:
    if isinstance(v, ColumnSource | ValueSource):
        return type(v).__name__
    if isinstance(v, dict):
        if "column" in v:
            return "ColumnSource"
        if "value" in v:
            return "ValueSource"
    return None


#: A template variable's data: `{column: NAME}` or `{value: TEXT}`. The discriminator picks the
#: shape from its key, so a mistake gets one message instead of one per shape tried.
DataSource = Annotated[
    Annotated[ColumnSource, Tag("ColumnSource")] | Annotated[ValueSource, Tag("ValueSource")],
    Discriminator(
        _source_kind,
        custom_error_type="data_source",
        custom_error_message="give {column: NAME} (a CSV column) or {value: TEXT} (the same for everyone)",
    ),
]


#: Tencent's `Unsubscribe` values: "0" no unsubscribe link, "1" to "12" the link's language (zh-CN, en,
#: zh-TW, es, fr, de, ja, ko, ar, th, id, vi).
UNSUBSCRIBE_CODES: Final = frozenset(str(n) for n in range(13))


class Template(Strict):
    id: Annotated[int, Field(ge=1)]
    subject: Annotated[str, Field(min_length=1, max_length=100)]
    data: dict[str, DataSource] = Field(default_factory=dict)
    unsubscribe: str | None = None  # Tencent's Unsubscribe code: "0" none, "1" zh-CN, "2" en ...
    trigger_type: Literal[0, 1] | None = None  # default: 1 in transactional mode, else 0

    @field_validator("unsubscribe", mode="before")
    @classmethod
    def _unsub_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("unsubscribe")
    @classmethod
    def _unsub_code(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and v not in UNSUBSCRIBE_CODES and not stored(info):
            msg = f'Tencent\'s unsubscribe-link codes are "0" (no link) to "12" (a language), not {shown(v)}'
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _check_subject_vars(self) -> Self:
        missing = [v for v in subject_variables(self.subject) if v not in self.data]
        if missing:
            names = ", ".join("{{" + m + "}}" for m in missing)
            msg = f"subject: uses {names} but template.data has no such key"
            raise ValueError(msg)
        return self

    @property
    def columns(self) -> list[str]:
        return [s.column for s in self.data.values() if isinstance(s, ColumnSource)]


def subject_variables(text: str) -> list[str]:
    """The `{{variable}}` names used in a subject or template body, in order, without repeats."""
    return list(dict.fromkeys(TEMPLATE_VAR.findall(text)))


class Recipients(Strict):
    file: Path
    email_column: Annotated[str, Field(min_length=1)] = "email"
    #: None: a seed is drawn at submit and stored with the campaign.
    shuffle_seed: Annotated[int | None, Field(gt=-SEED_BOUND, lt=SEED_BOUND)] = None
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    encoding: str = "utf-8-sig"
    #: One CSV row (all its lines, when a quoted cell holds a line break) may be at most this long.
    max_row_bytes: Annotated[int, Field(ge=1024, le=MAX_ROW_BYTES_LIMIT)] = 1 << 20
    #: A template value (a cell of a `{column: ...}` source) may be at most this long; longer: the row is invalid.
    max_cell_chars: Annotated[int, Field(ge=1, le=MAX_CELL_CHARS_LIMIT)] = 1000

    @field_validator("file", mode="before")
    @classmethod
    def _check_file(cls, v: object) -> object:
        # A NUL cannot be part of a path: every system call on it fails (Python raises ValueError).
        if isinstance(v, str) and "\x00" in v:
            msg = "a file path cannot hold a NUL character"
            raise ValueError(msg)
        return v

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, v: str) -> str:
        if v in '"\r\n\x7f' or (v < " " and v != "\t"):
            msg = f"a quote, a line break or a control character cannot separate fields, got {v!r}"
            raise ValueError(msg)
        return v


class Shaping(Strict):
    max_domain_share: Annotated[float, Field(gt=0, le=1)] = 0.3
    per_domain_from_day: Annotated[int, Field(ge=1, le=MAX_WARMUP_DAY)] = 6
    per_domain_from_daily: Annotated[int, Field(ge=1, le=MAX_DAILY_QUOTA)] = 5000
    #: A deferral burst (core/domain_shaping.py): this many deferrals or soft bounces from one provider
    #: group within `deferral_window_s`, at least `deferral_share` of its outcomes there, backs it off.
    deferral_burst: Annotated[int, Field(ge=1, le=100_000)] = DEFERRAL_BURST
    deferral_share: Annotated[float, Field(gt=0, le=1)] = DEFERRAL_SHARE
    deferral_window_s: Annotated[int, Field(ge=60, le=3600, multiple_of=60)] = int(DEFERRAL_WINDOW_S)


MAX_RETRY_DELAY_S: Final = 86_400  # the longest wait between two tries of one recipient


class Retry(Strict):
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    base_delay_s: Annotated[float, Field(gt=0)] = 30.0
    max_delay_s: Annotated[float, Field(gt=0)] = 3600.0

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Self:
        if self.max_delay_s < self.base_delay_s:
            msg = "max_delay_s: must be at least base_delay_s"
            raise ValueError(msg)
        if self.max_delay_s > MAX_RETRY_DELAY_S and not stored(info):  # a typo would park recipients for years
            raise ValueError(f"max_delay_s: at most {MAX_RETRY_DELAY_S:,} s (a day), got {self.max_delay_s:g}")
        return self


class IdentityBehaviour(Strict):
    """Simulated recipient behaviour for one sending identity's mail (rates are fractions of sends)."""

    hard_bounce_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    soft_bounce_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    open_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    click_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    complaint_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    unsubscribe_rate: Annotated[float | None, Field(ge=0, le=1)] = None


class DomainBehaviour(IdentityBehaviour):
    """Simulated recipient behaviour for one recipient domain: the same rates, and Tencent's blocks of it."""

    temporary_block_rate: Annotated[float | None, Field(ge=0, le=1)] = None


class Simulation(Strict):
    """What `orchestrate simulate` assumes about recipients and Tencent (ignored by real sends)."""

    start: FileDate | None = None  # default: the campaign's `start`, or today
    hard_bounce_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    soft_bounce_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    open_rate: Annotated[float, Field(ge=0, le=1)] = 0.35
    click_rate: Annotated[float, Field(ge=0, le=1)] = 0.05
    complaint_rate: Annotated[float, Field(ge=0, le=1)] = 0.0005
    unsubscribe_rate: Annotated[float, Field(ge=0, le=1)] = 0.002
    transient_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    temporary_block_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    domains: dict[str, DomainBehaviour] = Field(default_factory=dict)
    identities: dict[str, IdentityBehaviour] = Field(default_factory=dict)  # by identity id
    seed: int = 1


class Campaign(Strict):
    """A whole campaign file."""

    name: Annotated[str, Field(pattern=SLUG)]
    mode: Mode = Mode.WARMUP
    content: Content = "marketing"  # what the mail is: judges its open rate (spec/warmup.md section 7)
    timezone: str = "UTC"
    start: FileDate | None = None
    sending_window: str | None = None
    identities: Annotated[list[Identity], Field(min_length=1)]
    pool: Pool = Field(default_factory=Pool)
    plan: PlanSpec = Field(default_factory=PlanSpec)
    template: Template
    recipients: Recipients
    shaping: Shaping = Field(default_factory=Shaping)
    retry: Retry = Field(default_factory=Retry)
    guardrails: GuardrailsSpec = Field(default_factory=GuardrailsSpec)
    simulation: Simulation = Field(default_factory=Simulation)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str, info: ValidationInfo) -> str:
        return check_zone(v, known_only=not stored(info))

    @field_validator("sending_window")
    @classmethod
    def _check_window(cls, v: str | None) -> str | None:
        if v is not None and WHOLE_DAY.fullmatch(v):
            return None  # from the day's start to its end: no window
        if v is not None:
            parse_window(v)
        return v

    def _identity_ids(self, shared_domains: bool) -> set[str]:
        """The identities' ids; ValueError when one is given twice or (unless `shared_domains`) two share a
        sender domain."""
        seen: set[str] = set()
        domains: dict[tuple[str, str], str] = {}
        for i, ident in enumerate(self.identities):
            if ident.id in seen:
                msg = f"identities[{i}].id: {ident.id!r} is used twice"
                raise ValueError(msg)
            seen.add(ident.id)
            # Tencent keeps the daily quota and the reputation per sender domain of an account: two
            # identities on one domain would each be paced as if the domain's whole quota were theirs.
            other = domains.setdefault((ident.account, ident.domain.lower()), ident.id)
            if other != ident.id and not shared_domains:
                msg = (
                    f"identities[{i}].from: the sender domain {ident.domain} is identity {other}'s too; Tencent "
                    "counts the daily quota and reputation per sender domain: one identity per domain"
                )
                raise ValueError(msg)
        return seen

    @model_validator(mode="after")
    def _check_whole(self, info: ValidationInfo) -> Self:
        # A campaign stored by an older release may have two identities on one domain: it stays readable.
        seen = self._identity_ids(shared_domains=stored(info))
        for name in self.simulation.identities:
            if name not in seen:
                # The key in brackets places the error on its own line (campaign_file.py reads the path).
                where = (
                    f"simulation.identities['{name}']"
                    if "'" not in name and "\n" not in name
                    else "simulation.identities"
                )
                msg = f"{where}: no identity has the id {shown(name)} (the identities: {', '.join(sorted(seen))})"
                raise ValueError(msg)
        stored_rec = stored(info)  # submitted by an older release: readable
        sim_start = self.simulation.start
        if sim_start is not None and self.start is not None and sim_start < self.start and not stored_rec:
            msg = (
                f"simulation.start: {sim_start} is before start {self.start}: nothing is sent before the "
                "campaign's start (set it on or after start, or leave it out)"
            )
            raise ValueError(msg)
        if self.mode is Mode.SKIP_WARMUP and self.content != "signup" and not stored_rec:
            msg = (
                "mode: skip-warmup is allowed only for high-open sign-up mail (content: signup), "
                f"this campaign's content is {self.content}; use mode: warmup"
            )
            raise ValueError(msg)
        if self.mode is Mode.SKIP_WARMUP and (self.plan.target_daily or 0) > SKIP_WARMUP_MAX_DAILY:
            msg = (
                f"mode: skip-warmup is allowed only at or under {SKIP_WARMUP_MAX_DAILY:,} a day "
                f"(plan.target_daily is {self.plan.target_daily:,}); use mode: warmup"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _check_pool_sends(self, info: ValidationInfo) -> Self:
        """A multiplier so small the pool's hourly ceiling rounds to 0 would never send anything."""
        if self.mode not in RAMPED or stored(info):
            return self  # no ramp, no plan to multiply: the pool is its identities' caps
        day = max(i.warmup_day for i in self.identities)
        if pool_ceiling(self.build_plan(), [day], self.pool.multiplier).hourly < 1:
            hourly = self.build_plan().caps(day).hourly
            msg = (
                f"pool.multiplier: {self.pool.multiplier!r} x the plan's {hourly:,} an hour on warm-up day {day} "
                "leaves the pool 0 an hour: nothing would ever be sent"
            )
            raise ValueError(msg)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def window(self) -> tuple[time, time] | None:
        return parse_window(self.sending_window) if self.sending_window else None

    @property
    def trigger_type(self) -> int:
        if self.template.trigger_type is not None:
            return self.template.trigger_type
        return 1 if self.mode is Mode.TRANSACTIONAL else 0

    def build_plan(self) -> Plan:
        """The plan, built once per campaign object (the model is frozen, so it never changes)."""
        cached = _PLANS.get(id(self))
        if cached is None or cached[0] is not self:
            cached = (self, self.plan.build())
            _PLANS[id(self)] = cached
        return cached[1]
