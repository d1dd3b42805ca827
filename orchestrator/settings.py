"""Process settings, read once from the environment (or an env file) by pydantic-settings."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from dotenv.parser import Original, parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from orchestrator.core.account_rate import AccountRate
from orchestrator.core.credentials import (
    DEFAULT_ACCOUNT,
    AccountCredentials,
    TencentKey,
    accounts_problem,
    place_in_accounts,
)
from orchestrator.core.decisions import (
    FIRST_RECONCILE_AFTER_S,
    RECONCILE_RETRY_S,
    RECONCILE_THROTTLED_RETRY_S,
    RECONCILE_WINDOW_S,
)
from orchestrator.core.endpoint import endpoint_parts
from orchestrator.core.quality import FOLLOWUP_AFTER_S
from orchestrator.core.text import printable
from orchestrator.redis_url import LOG_LEVELS, REDIS_URL_FORM, redis_passwords, redis_url_problem, safe_url

_RATE = AccountRate()  # the defaults of the account's API budget, owned by the core
#: The settings whose values are secret, as a user writes them (`NAME=value` lines are never echoed).
SECRET_SETTINGS = (
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "ORCHESTRATE_ACCOUNTS",
    "REDIS_URL",
    "CALLBACK_TOKEN",
    "WEB_ACCESS_TOKEN",
    "LOG_PSEUDONYM_KEY",
)
SECRET_TOKEN_FIELDS = ("callback_token", "web_access_token", "log_pseudonym_key")
MIN_REDACTED_CHARS = 4
#: What the callback token may hold: the characters a URL path segment carries as written (RFC 3986
#: pchar). A `/`, `?`, `#`, `%`, a space or a non-ASCII letter would never match what Tencent posts to.
PATH_SAFE_TOKEN = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
#: Tencent's limit on one account's SES API calls, all kinds together (spec/tencent-ses.md, "Limits"):
#: ACCOUNT_RATE_PER_S is the orchestrator's share of it.
TENCENT_API_RATE_PER_S = 20.0


#: The regions Tencent offers SES in (docs/tencent.md); any other is refused before a command runs.
SesRegion = Literal["ap-guangzhou", "ap-hongkong", "ap-singapore"]


class Settings(BaseSettings):
    """Everything a process needs that is not in a campaign file.

    Read from the environment and, when `ORCHESTRATE_ENV_FILE` (default `.env`) exists, from that
    file. Extra accounts: `ORCHESTRATE_ACCOUNTS='{"marketing": {"secret_id": "...", "secret_key": "..."}}'`.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    redis_url: str = Field("redis://127.0.0.1:6379/0", alias="REDIS_URL")
    tencentcloud_secret_id: TencentKey | None = Field(None, alias="TENCENTCLOUD_SECRET_ID")
    tencentcloud_secret_key: TencentKey | None = Field(None, alias="TENCENTCLOUD_SECRET_KEY")
    accounts: dict[str, AccountCredentials] = Field(default_factory=dict, alias="ORCHESTRATE_ACCOUNTS")
    ses_region: SesRegion = Field("ap-guangzhou", alias="SES_REGION")
    ses_endpoint: str | None = Field(None, alias="SES_ENDPOINT")
    ses_timeout_s: float = Field(10.0, alias="SES_TIMEOUT_S", gt=0, allow_inf_nan=False)
    # Tencent allows TENCENT_API_RATE_PER_S API calls/s per account; these are the orchestrator's share
    # of it (orchestrator/core/account_rate.py, docs/operations.md "Tencent's API rate").
    account_rate_per_s: float = Field(_RATE.rate_per_s, alias="ACCOUNT_RATE_PER_S", gt=0, allow_inf_nan=False)
    account_other_rate_per_s: float = Field(
        _RATE.other_per_s, alias="ACCOUNT_OTHER_RATE_PER_S", gt=0, allow_inf_nan=False
    )
    account_rate_guard_s: float = Field(_RATE.guard_s, alias="ACCOUNT_RATE_GUARD_S", ge=0, lt=1, allow_inf_nan=False)
    account_wait_max_s: float = Field(_RATE.max_wait_s, alias="ACCOUNT_WAIT_MAX_S", ge=0, allow_inf_nan=False)
    log_format: Literal["auto", "console", "json"] = Field("auto", alias="LOG_FORMAT")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    pacer_interval_s: float = Field(1.0, alias="PACER_INTERVAL_S", gt=0, allow_inf_nan=False)
    # The leading pacer renews its lock every tick; a standby takes over at most this long after it died.
    pacer_lock_ttl_s: float = Field(10.0, alias="PACER_LOCK_TTL_S", gt=0, allow_inf_nan=False)
    worker_concurrency: int = Field(50, alias="WORKER_CONCURRENCY", ge=1)
    job_timeout_s: int = Field(60, alias="JOB_TIMEOUT_S", ge=1)  # one send job, SDK timeout included
    # A claimed send not finished by then is in doubt.
    lease_s: float = Field(90.0, alias="LEASE_S", gt=0, allow_inf_nan=False)
    sweep_interval_s: float = Field(10.0, alias="SWEEP_INTERVAL_S", gt=0, allow_inf_nan=False)
    # The pacer reads Tencent's blocklist into Redis this often (`orchestrate blocklist sync` by hand).
    blocklist_sync_s: float = Field(3600.0, alias="BLOCKLIST_SYNC_S", gt=0, allow_inf_nan=False)
    # The first status lookup of a doubt.
    reconcile_after_s: float = Field(FIRST_RECONCILE_AFTER_S, alias="RECONCILE_AFTER_S", ge=0, allow_inf_nan=False)
    # A lookup that could not decide is asked again after this long; one that was throttled or could
    # not connect after the shorter interval; after the window, the send is left for the operator.
    reconcile_retry_s: float = Field(RECONCILE_RETRY_S, alias="RECONCILE_RETRY_S", gt=0, allow_inf_nan=False)
    reconcile_throttled_retry_s: float = Field(
        RECONCILE_THROTTLED_RETRY_S, alias="RECONCILE_THROTTLED_RETRY_S", gt=0, allow_inf_nan=False
    )
    reconcile_window_s: float = Field(RECONCILE_WINDOW_S, alias="RECONCILE_WINDOW_S", gt=0, allow_inf_nan=False)
    # Accepted sends with no delivery event after this long are looked up with GetSendEmailStatus (0: off).
    followup_after_s: float = Field(FOLLOWUP_AFTER_S, alias="FOLLOWUP_AFTER_S", ge=0, allow_inf_nan=False)
    # A completed or cancelled campaign keeps its per-recipient data (`trace`, `export`) this long, then
    # the sweeper compacts it to its summary (store/compaction.py).
    completed_retention_days: float = Field(30.0, alias="COMPLETED_RETENTION_DAYS", ge=0, allow_inf_nan=False)
    # A submit's claim on its files and its staged keys outlive a killed submit by at most this long
    # (a heartbeat refreshes them 4 times per TTL); a second submit of the same files waits for the
    # first up to SUBMIT_WAIT_S.
    submit_heartbeat_ttl_s: float = Field(60.0, alias="SUBMIT_HEARTBEAT_TTL_S", gt=0, allow_inf_nan=False)
    submit_wait_s: float = Field(300.0, alias="SUBMIT_WAIT_S", ge=0, allow_inf_nan=False)
    #: How long an operator command (submit, status, pause, watch...) waits for one Redis answer.
    redis_timeout_s: float = Field(30.0, alias="REDIS_TIMEOUT_S", gt=0, le=3600, allow_inf_nan=False)
    state_dir: str | None = Field(None, alias="ORCHESTRATE_STATE_DIR")
    # The web process (`orchestrate web`): Tencent's callbacks arrive at /callbacks/tencent/<CALLBACK_TOKEN>
    # (off while unset); the status page and /metrics need WEB_ACCESS_TOKEN when it is set, and answer
    # only on a loopback address when it is not.
    callback_token: SecretStr | None = Field(None, alias="CALLBACK_TOKEN", min_length=16)
    web_access_token: SecretStr | None = Field(None, alias="WEB_ACCESS_TOKEN", min_length=16)
    # Keys the recipients' pseudonym in logs and events (`workers/send.address_hash`); unset: an unkeyed
    # hash, which whoever holds the logs and a list of candidate addresses can check them against.
    log_pseudonym_key: SecretStr | None = Field(None, alias="LOG_PSEUDONYM_KEY", min_length=16)
    web_host: str = Field("127.0.0.1", alias="WEB_HOST")
    web_port: int = Field(8080, alias="WEB_PORT", ge=0, le=65535)

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, url: str) -> str:
        problem = redis_url_problem(url)
        if problem is not None:  # our own words: the URL holds the password, it is never quoted
            msg = f"expected {REDIS_URL_FORM} ({problem})"
            raise ValueError(msg)
        return url

    @field_validator("ses_endpoint")
    @classmethod
    def _usable_endpoint(cls, endpoint: str | None) -> str | None:
        if endpoint:  # unset or empty: Tencent's host for SES_REGION
            endpoint_parts(endpoint)  # ValueError in its own words, without the value
        return endpoint

    @field_validator("account_rate_per_s")
    @classmethod
    def _within_tencent_rate(cls, rate: float) -> float:
        if rate > TENCENT_API_RATE_PER_S:
            limit = f"{TENCENT_API_RATE_PER_S:g}"
            msg = f"expected a number above 0 and at most {limit} (Tencent allows {limit} API calls/s per account)"
            raise ValueError(msg)
        return rate

    @field_validator("callback_token")
    @classmethod
    def _path_safe_token(cls, token: SecretStr | None) -> SecretStr | None:
        # A path segment of the URL Tencent posts to: a base64 `+` or `=` is fine there, a `/` never matches.
        if token is not None and not PATH_SAFE_TOKEN.fullmatch(token.get_secret_value()):
            msg = (
                "it is a segment of the callback URL: no /, ?, #, %, space or non-ASCII character "
                "(e.g. `openssl rand -hex 24`); the token is never shown"
            )
            raise ValueError(msg)
        return token

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, level: str) -> str:
        if level.strip().upper() not in LOG_LEVELS:
            msg = "expected one of " + ", ".join(LOG_LEVELS[:5]) + " (any case)"
            raise ValueError(msg)
        return level.strip().upper()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        try:
            self.account_rate()  # the budget's own rule (core/account_rate.py), named by its settings
        except ValueError as exc:
            msg = f"ACCOUNT_RATE_PER_S / ACCOUNT_OTHER_RATE_PER_S / ACCOUNT_RATE_GUARD_S: {exc}"
            raise ValueError(msg) from None
        # A send job waits for its API slot, then for Tencent's answer, inside its job timeout, and
        # the job ends before its lease does: a send never outlives the claim that guards it.
        if self.account_wait_max_s + self.ses_timeout_s >= self.job_timeout_s:
            msg = "JOB_TIMEOUT_S must exceed ACCOUNT_WAIT_MAX_S + SES_TIMEOUT_S (a send's longest wait and answer)"
            raise ValueError(msg)
        if (problem := accounts_problem(self.credentials_of_env(), self.accounts)) is not None:
            raise ValueError(problem)
        if self.pacer_lock_ttl_s <= 2 * self.pacer_interval_s:
            msg = "PACER_LOCK_TTL_S must exceed twice PACER_INTERVAL_S (the leader renews its lock every tick)"
            raise ValueError(msg)
        if self.job_timeout_s >= self.lease_s:
            msg = "LEASE_S must exceed JOB_TIMEOUT_S (a claim outlives the job that holds it)"
            raise ValueError(msg)
        return self

    def __repr_args__(self) -> Any:
        """As pydantic prints the settings, with REDIS_URL's user, password and options masked like the secrets."""
        for name, value in super().__repr_args__():
            yield name, safe_url(value) if name == "redis_url" and isinstance(value, str) else value

    def account_rate(self) -> AccountRate:
        """The per-account API budget these settings describe (checked when the settings are read)."""
        return AccountRate(
            rate_per_s=self.account_rate_per_s,
            other_per_s=self.account_other_rate_per_s,
            guard_s=self.account_rate_guard_s,
            max_wait_s=self.account_wait_max_s,
        )

    def pseudonym_key(self) -> bytes:
        """LOG_PSEUDONYM_KEY as a BLAKE2b key (at most 64 bytes: a longer one is hashed to 64); b"" when unset."""
        if self.log_pseudonym_key is None:
            return b""
        raw = self.log_pseudonym_key.get_secret_value().encode()
        return raw if len(raw) <= 64 else hashlib.blake2b(raw).digest()

    def secret_values(self) -> list[str]:
        """Every configured secret (key pairs, the Redis password, tokens), longest first: for redacting text."""
        found = [self.tencentcloud_secret_id, self.tencentcloud_secret_key]
        for pair in self.accounts.values():
            found += [pair.secret_id, pair.secret_key]
        values = [s.get_secret_value() for s in found if s is not None]
        values += redis_passwords(self.redis_url)
        for name in SECRET_TOKEN_FIELDS:  # settings another version may add; absent ones are skipped
            token = getattr(self, name, None)
            if token is not None:
                values.append(token.get_secret_value() if isinstance(token, SecretStr) else str(token))
        # A value this short would blot out ordinary words; no real key or password is that short.
        return sorted({v for v in values if len(v) >= MIN_REDACTED_CHARS}, key=len, reverse=True)

    def credentials(self, account: str = DEFAULT_ACCOUNT) -> AccountCredentials | None:
        """The key pair of `account`, or None when it is not configured."""
        if account in self.accounts:
            return self.accounts[account]
        return self.credentials_of_env() if account == DEFAULT_ACCOUNT else None

    def credentials_of_env(self) -> AccountCredentials | None:
        """The default account's pair as TENCENTCLOUD_SECRET_ID / _KEY give it (None unless both are set)."""
        if self.tencentcloud_secret_id is None or self.tencentcloud_secret_key is None:
            return None
        return AccountCredentials(secret_id=self.tencentcloud_secret_id, secret_key=self.tencentcloud_secret_key)

    def usable_credentials(self, account: str = DEFAULT_ACCOUNT) -> AccountCredentials | None:
        """The key pair of `account` when both halves hold something: a key set to nothing (an edited
        `.env`) is no key, as Tencent's SDK refuses it (InvalidCredential)."""
        creds = self.credentials(account)
        if creds is None or not creds.secret_id.get_secret_value().strip():
            return None
        return creds if creds.secret_key.get_secret_value().strip() else None


class SettingsError(Exception):
    """A malformed setting: the message names each bad one and what it expects, never the value given."""


#: The variable naming the credentials file read after the environment (`.env` when unset).
ENV_FILE_VARIABLE = "ORCHESTRATE_ENV_FILE"


def env_file() -> str:
    """The settings file: `ORCHESTRATE_ENV_FILE` when set, else `.env` (read only if it exists). A file
    named on purpose must exist: a typo would otherwise run every command without its credentials."""
    named = os.environ.get(ENV_FILE_VARIABLE, "")
    if not named:
        return ".env"
    if not os.path.isfile(named):
        # A value that is no path (the file's text pasted in) is not echoed: it would hold the secrets.
        shown = f"the file {named!r}" if "=" not in named and "\n" not in named else "the value (not a file name)"
        raise SettingsError(f"setting {ENV_FILE_VARIABLE}: {shown} does not exist or is not a file")
    return named


def load_settings() -> Settings:
    """The settings from the environment and the env file; SettingsError when one is malformed."""
    path = env_file()
    try:
        _refuse_unparsable(path)
        return Settings(_env_file=path)
    except UnicodeDecodeError as exc:  # the file's text never reaches the message: it holds secrets
        msg = f"the settings file {path!r} is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8"
        raise SettingsError(msg) from None
    except OSError as exc:
        raise SettingsError(
            f"the settings file {path!r} cannot be read: {exc.strerror or type(exc).__name__}"
        ) from None
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except SourceError as exc:  # a complex value (ORCHESTRATE_ACCOUNTS) that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        field = Settings.model_fields.get(found.group(1)) if found else None
        alias = (field.alias if field else None) or "ORCHESTRATE_ACCOUNTS"
        raise SettingsError(f"setting {alias}: expected {_expected(field)} (it is not valid JSON)") from None


def _refuse_unparsable(path: str) -> None:
    """SettingsError naming the file and its lines that python-dotenv cannot parse (an unclosed quote): it
    would skip them with a warning, and the settings on them (often on the lines after) would be missing."""
    if not os.path.isfile(path):  # `.env` need not exist
        return
    with open(path, encoding="utf-8") as stream:  # the encoding pydantic-settings reads it with
        bad = [_line_of(b.original) for b in parse_stream(stream) if b.error]
    if bad:  # the lines' text never reaches the message: they may hold a key
        where = ("line " if len(bad) == 1 else "lines ") + ", ".join(str(n) for n in bad)
        raise SettingsError(
            f"the settings file {path!r} cannot be parsed at {where} (expected NAME=value, a quoted value "
            "closed by its quote); none of its content is shown"
        )


def _line_of(original: Original) -> int:
    """The line a statement starts on: python-dotenv counts from the blank lines before it."""
    text = original.string
    return original.line + len(re.findall(r"\r\n|\n|\r", text[: len(text) - len(text.lstrip())]))


def settings_or_exit() -> Settings:
    """The settings; a malformed one ends the process with one line naming it and exit code 2.

    For every entry point: the `orchestrate` group, `up`, and `arq workers.WorkerSettings` (on import).
    """
    try:
        return load_settings()
    except SettingsError as exc:
        sys.stderr.write(f"error: {printable(str(exc))}\n")
        raise SystemExit(2) from None  # 2: bad input, as click's usage errors


def _describe(exc: ValidationError) -> str:
    # Built from the error's place and kind only: pydantic's own text may quote the input (a secret).
    parts: list[str] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = err["loc"]
        if not loc:  # a rule between settings (a model validator): our own words, with no value in them
            parts.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        field = _field(str(loc[0]))
        alias = field.alias if field and field.alias else str(loc[0])
        if err["type"] == "value_error" and alias in _OWN_WORDS:  # a field validator's text, no value in it
            parts.append(f"setting {alias}: " + str(err["msg"]).removeprefix("Value error, "))
            continue
        parts.append(f"setting {alias}: expected {_expected(field)}{place_in_accounts(loc[1:], err['type'])}")
    return "; ".join(dict.fromkeys(parts))


#: The settings whose validators explain themselves (their messages never quote the value).
_OWN_WORDS = frozenset(
    {*SECRET_SETTINGS[:2], "REDIS_URL", "LOG_LEVEL", "CALLBACK_TOKEN", "SES_ENDPOINT", "ACCOUNT_RATE_PER_S"}
)


def _field(name: str) -> FieldInfo | None:
    for attr, info in Settings.model_fields.items():
        if name in {attr, info.alias}:
            return info
    return None


_BOUNDS = (
    (annotated_types.Gt, "gt", "above"),
    (annotated_types.Ge, "ge", "at least"),
    (annotated_types.Lt, "lt", "below"),
    (annotated_types.Le, "le", "at most"),
)


def _expected(field: FieldInfo | None) -> str:
    """What a setting must be, in words, from its declaration (type and bounds)."""
    if field is None:
        return "a valid value"
    kind: Any = field.annotation
    if get_origin(kind) in {Union, types.UnionType}:
        kind = next(a for a in get_args(kind) if a is not type(None))
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(kind))
    if get_origin(kind) is dict:
        return 'a JSON object {"NAME": {"secret_id": "...", "secret_key": "..."}, ...}'
    if kind in {int, float}:
        words = ["a whole number" if kind is int else "a number"]
        for meta in field.metadata:
            for cls, attr, word in _BOUNDS:
                if isinstance(meta, cls):
                    words.append(f"{word} {getattr(meta, attr):g}")
        return " ".join(words[:1]) + (" " + " and ".join(words[1:]) if len(words) > 1 else "")
    shortest = next((m.min_length for m in field.metadata if isinstance(m, annotated_types.MinLen)), 0)
    return f"text of at least {shortest} characters" if shortest else "text"
