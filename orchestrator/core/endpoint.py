"""What SES_ENDPOINT may be: the one rule, applied when the settings are read and when the SDK's profile is made."""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

#: What SES_ENDPOINT may be, in the words of its errors.
ENDPOINT_FORM: Final = (
    "https://host or http://host:port (a bare host means https), with no path, query, fragment or user:password@"
)


def endpoint_parts(raw: str) -> tuple[str, str]:
    """SES_ENDPOINT's scheme and `host[:port]`. ValueError saying what it must look like, never the value,
    when it is unusable: another scheme, no host, a port that is not a number, a path, a query or fragment
    (the SDK would drop them), or a user:password@ part (the SDK never sends it; a password there would
    only sit in the settings and the process list)."""
    text = raw.strip()
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        _ = parts.port  # ValueError: not a number from 0 to 65535
    except ValueError:  # also an unclosed IPv6 bracket (`http://[::1`)
        raise ValueError(f"expected {ENDPOINT_FORM}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"expected {ENDPOINT_FORM}")
    if parts.query or parts.fragment or "@" in parts.netloc or "?" in text or "#" in text:
        raise ValueError(f"expected {ENDPOINT_FORM}")
    # Lowercase, as the TC3 signature takes the Host header: a capital in it failed every call as a wrong key.
    return parts.scheme, parts.netloc.lower()


def sending_target(endpoint: str | None, region: str) -> str:
    """Where a process's sends go, as a campaign is bound to it (store/lua/claim.lua): Tencent's SES in
    `region`, or the host of another endpoint (an emulator: its port left out, so one restarted on another
    port is the same place)."""
    if endpoint:
        try:
            scheme, netloc = endpoint_parts(endpoint)
        except ValueError:
            return "an unusable SES_ENDPOINT"
        host = urlsplit(f"{scheme}://{netloc}").hostname or netloc
        if host != "tencentcloudapi.com" and not host.endswith(".tencentcloudapi.com"):
            return f"the endpoint at {host}"
    return f"Tencent Cloud SES {region}"


def on_this_host(raw: str) -> bool:
    """Whether SES_ENDPOINT names this host (localhost, 127.0.0.0/8, ::1): an emulator here, which an
    HTTP proxy of the environment (HTTP_PROXY, meant for the way out) must not stand in front of."""
    try:
        scheme, netloc = endpoint_parts(raw)
    except ValueError:
        return False
    host = urlsplit(f"{scheme}://{netloc}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
