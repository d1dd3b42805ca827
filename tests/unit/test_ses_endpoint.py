"""Which host the SDK calls: SES_ENDPOINT when set, else the site of SES_REGION (spec: "Hosts and regions")."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.ses.v20201002.ses_client_async import SesClient

from orchestrator.core.endpoint import on_this_host
from orchestrator.ses.endpoint import endpoint_profile
from orchestrator.settings import Settings


def host_of(**env: object) -> str:
    settings = Settings(_env_file=None, TENCENTCLOUD_SECRET_ID=SecretStr("AKIDx"), **env)  # type: ignore[arg-type]
    profile = ClientProfile(httpProfile=endpoint_profile(settings), disable_region_breaker=True)
    client = SesClient(Credential("AKIDx", "k"), settings.ses_region, profile)
    return str(client._get_endpoint())


@pytest.mark.parametrize(
    ("region", "host"),
    [
        pytest.param("ap-guangzhou", "ses.tencentcloudapi.com", id="china-site"),
        pytest.param("ap-hongkong", "ses.tencentcloudapi.com", id="china-site-hongkong"),
        pytest.param("ap-singapore", "ses.intl.tencentcloudapi.com", id="international-site"),
    ],
)
def test_the_region_picks_its_sites_host(region: str, host: str) -> None:
    assert host_of(SES_REGION=region) == host


def test_an_explicit_endpoint_wins_over_the_region() -> None:
    assert host_of(SES_REGION="ap-singapore", SES_ENDPOINT="http://127.0.0.1:8765") == "127.0.0.1:8765"


@pytest.mark.parametrize(
    ("endpoint", "here"),
    [
        ("http://127.0.0.1:8765", True),
        ("http://127.9.9.9:1", True),
        ("http://[::1]:8765", True),
        ("http://localhost:8765", True),
        ("emu.localhost", True),
        ("http://10.0.0.5:8765", False),
        ("ses.tencentcloudapi.com", False),
        ("http://127.0.0.1.example.com:80", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_an_endpoint_on_this_host_is_told_apart(endpoint: str, here: bool) -> None:
    """Only an endpoint on this host is called past the environment's proxy (ses/endpoint.direct_http_client)."""
    assert on_this_host(endpoint) is here
