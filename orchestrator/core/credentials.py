"""A Tencent Cloud account's API key pair, as the settings hold it (never shown: SecretStr)."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, SecretStr

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
    """One Tencent Cloud account (API key pair). Identities name it by profile."""

    secret_id: TencentKey
    secret_key: TencentKey
