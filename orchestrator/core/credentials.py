"""A Tencent Cloud account's API key pair, as the settings hold it (never shown: SecretStr)."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr

#: The account every identity without `account:` uses (TENCENTCLOUD_SECRET_ID / _KEY).
DEFAULT_ACCOUNT: Final = "default"
#: An account's name, in ORCHESTRATE_ACCOUNTS and in an identity's `account:` (core/campaign.py) alike.
ACCOUNT_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,62}$"
ACCOUNT_NAME: Final = re.compile(ACCOUNT_NAME_PATTERN)
#: What a SecretId or SecretKey holds (Tencent's are letters and digits).
KEY_RULE: Final = "a Tencent key holds letters, digits and signs only: no space, control or non-ASCII character"
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def _key_text(key: SecretStr) -> SecretStr:
    """Refuse a key with a space or control byte inside: the SDK's refusal of the signed header would
    quote it escaped, and no masking knows every escaped form. A blank one is no key (`usable_credentials`)."""
    text = key.get_secret_value()
    if text.strip() and not _VISIBLE_ASCII.fullmatch(text):
        raise ValueError(KEY_RULE)
    return key


TencentKey = Annotated[SecretStr, AfterValidator(_key_text)]


class AccountCredentials(BaseModel):
    """One Tencent Cloud account (API key pair). Identities name it by profile. Nothing else: every
    account is reached in the one SES_REGION (or SES_ENDPOINT), so a `region` here would be ignored."""

    model_config = ConfigDict(extra="forbid")

    secret_id: TencentKey
    secret_key: TencentKey


def accounts_problem(default: AccountCredentials | None, named: dict[str, AccountCredentials]) -> str | None:
    """What is wrong with the accounts as a whole, in words that show no key: a name no identity can use,
    the default account set two ways, or one Tencent account under two names, whose two API budgets
    would together go over Tencent's rate."""
    if default is not None and not all(v.strip() for v in _secrets(default)):
        default = None  # a blank key is no key (an emptied `.env` line): the one set is the other
    unusable = sum(not ACCOUNT_NAME.fullmatch(name) for name in named)
    if unusable:  # such a name is not shown: a key pasted in its place would be
        return (
            f"ORCHESTRATE_ACCOUNTS: {unusable} account name(s) no identity's `account:` can name (lowercase "
            "letters, digits, '.', '_', '-', at most 63 characters); the names are not shown"
        )
    given = named.get(DEFAULT_ACCOUNT)
    if default is not None and given is not None and _secrets(default) != _secrets(given):
        return (
            "the default account is set twice, with different keys: TENCENTCLOUD_SECRET_ID/_KEY and "
            'ORCHESTRATE_ACCOUNTS["default"]; keep one'
        )
    names_of: dict[str, list[str]] = {}
    for name, pair in ({DEFAULT_ACCOUNT: default} | named).items():
        if pair is not None and pair.secret_id.get_secret_value().strip():
            names_of.setdefault(pair.secret_id.get_secret_value(), []).append(name)
    shared = next((names for names in names_of.values() if len(names) > 1), None)
    if shared:
        return (
            f"accounts {' and '.join(shared)} hold the same SecretId: one Tencent account under two names "
            "gets two API budgets, which together go over Tencent's rate; name it once and use that name in "
            "every campaign file"
        )
    return None


def _secrets(pair: AccountCredentials) -> tuple[str, str]:
    return pair.secret_id.get_secret_value(), pair.secret_key.get_secret_value()


def place_in_accounts(path: tuple[int | str, ...], kind: str) -> str:
    """Where inside ORCHESTRATE_ACCOUNTS a malformed value is: the account's name when it is one an
    identity could name (a key pasted in the name's place is not: it is never shown), and the field."""
    name = str(path[0]) if path else ""
    account = f"account {name}" if ACCOUNT_NAME.fullmatch(name) else "an account"
    fields = [p for p in path if p in AccountCredentials.model_fields]
    if kind == "extra_forbidden":
        return f" ({account} holds only secret_id and secret_key: every account uses SES_REGION and SES_ENDPOINT)"
    if fields and kind == "missing":
        return f" ({fields[-1]} is missing in {account})"
    if fields and kind == "value_error":
        return f" ({fields[-1]} of {account}: {KEY_RULE})"
    if fields:
        return f" ({fields[-1]} of {account} must be text)"
    return " (an account is not such an object)" if path else ""
