"""TC3-HMAC-SHA256: the request signature Tencent Cloud API 3.0 checks, computed and verified."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final

ALGORITHM: Final = "TC3-HMAC-SHA256"
#: Tencent refuses a request whose timestamp is further than this from its own clock.
MAX_SKEW_S: Final = 300
_AUTH = re.compile(
    r"^TC3-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


class SignatureError(Exception):
    """A request Tencent would refuse before running it; `code` is Tencent's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def signature(
    secret_key: str,
    *,
    service: str,
    timestamp: int,
    method: str,
    path: str,
    query: str,
    canonical_headers: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """The hex TC3 signature of one request."""
    date = utc_date(timestamp)
    canonical_request = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    scope = f"{date}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def canonical_headers_of(headers: Mapping[str, str], names: list[str]) -> str:
    """`name:value\\n` for each signed header, names and values lower-cased and trimmed."""
    return "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names)


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    secret_key_for: Callable[[str], str | None],
    now: float,
) -> str:
    """Check a request's TC3 signature; return its SecretId or raise SignatureError.

    `headers` must look up names case-insensitively (aiohttp's CIMultiDict does). `now` is the
    real wall clock: the client signs with real time whatever clock the emulator runs on.
    """
    auth = headers.get("Authorization", "")
    m = _AUTH.match(auth)
    if not m:
        raise SignatureError("AuthFailure.InvalidAuthorization", "Authorization header is missing or malformed.")
    cred = m.group("cred").split("/")
    if len(cred) != 4 or cred[2] != service or cred[3] != "tc3_request":
        raise SignatureError("AuthFailure.InvalidAuthorization", "Credential scope is malformed.")
    secret_id, date = cred[0], cred[1]
    secret_key = secret_key_for(secret_id)
    if secret_key is None:
        raise SignatureError("AuthFailure.SecretIdNotFound", "The SecretId is not found, please check it.")
    try:
        timestamp = int(headers.get("X-TC-Timestamp", ""))
    except ValueError:
        raise SignatureError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing.") from None
    if abs(now - timestamp) > MAX_SKEW_S:
        raise SignatureError(
            "AuthFailure.SignatureExpire",
            "Signature expired: the request timestamp is more than 5 minutes from the server time.",
        )
    if date != utc_date(timestamp):
        raise SignatureError("AuthFailure.SignatureFailure", "The credential date does not match the timestamp.")
    names = [n.strip().lower() for n in m.group("signed").split(";") if n.strip()]
    if "content-type" not in names or "host" not in names:
        raise SignatureError("AuthFailure.SignatureFailure", "SignedHeaders must include content-type and host.")
    if headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD":
        payload_hash = hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest()
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
    expected = signature(
        secret_key,
        service=service,
        timestamp=timestamp,
        method=method,
        path=path,
        query=query,
        canonical_headers=canonical_headers_of(headers, names),
        signed_headers=";".join(names),
        payload_hash=payload_hash,
    )
    if not hmac.compare_digest(expected, m.group("sig").lower()):
        raise SignatureError("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
    return secret_id
