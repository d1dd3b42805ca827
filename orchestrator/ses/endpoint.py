"""The SDK's HTTP profile for the configured SES endpoint (SES_ENDPOINT, SES_TIMEOUT_S)."""

from __future__ import annotations

import httpx
from tencentcloud.common.profile.http_profile import HttpProfile

from orchestrator.core.endpoint import endpoint_parts, on_this_host
from orchestrator.ses.errors import SesConfigError
from orchestrator.settings import Settings

#: Regions of Tencent's international site: its API host is ses.intl.tencentcloudapi.com.
INTERNATIONAL_REGIONS = frozenset({"ap-singapore"})


def endpoint_profile(settings: Settings) -> HttpProfile:
    """SES_ENDPOINT may be a bare host or a URL such as http://127.0.0.1:8765. Without it, a region of the
    international site (ap-singapore) is called on ses.intl.tencentcloudapi.com, the others on the China
    site's ses.tencentcloudapi.com (spec/tencent-ses.md, "Hosts and regions")."""
    root = "intl.tencentcloudapi.com" if settings.ses_region in INTERNATIONAL_REGIONS else None
    profile = HttpProfile(reqTimeout=settings.ses_timeout_s, keepAlive=True, rootDomain=root)
    if settings.ses_endpoint:
        try:
            scheme, netloc = endpoint_parts(settings.ses_endpoint)
        except ValueError as exc:
            raise SesConfigError("Orchestrator.BadEndpoint", f"setting SES_ENDPOINT: {exc}") from None
        profile.protocol = profile.scheme = scheme
        profile.endpoint = netloc
    return profile


def direct_http_client(settings: Settings) -> httpx.AsyncClient | None:
    """For an endpoint on this host, the SDK's HTTP client without the environment's proxies (the SDK's own
    reads HTTP_PROXY, ALL_PROXY and NO_PROXY, and sent an emulator's calls to the proxy); None otherwise."""
    if not settings.ses_endpoint or not on_this_host(settings.ses_endpoint):
        return None
    return httpx.AsyncClient(timeout=settings.ses_timeout_s, trust_env=False)
