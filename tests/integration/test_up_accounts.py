"""`up`'s choice of the local emulator with named accounts: a key pair of any account is a Tencent setup
(not "no credentials"), and `up --emulator` serves every named account under a pair of the emulator's."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import permissive_world, run_emulator
from orchestrator.settings import Settings
from orchestrator.up import wants_emulator
from orchestrator.up_state import sends_nowhere, to_emulator

REAL_ID, REAL_KEY = "AKIDrealMarketing0002", "realMarketingKey0002abc"


@pytest.fixture(autouse=True)
def _no_tencent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "SES_ENDPOINT", "ORCHESTRATE_ACCOUNTS"):
        monkeypatch.delenv(name, raising=False)


def _settings(redis_url: str, **more: object) -> Settings:
    return Settings(_env_file=None, REDIS_URL=redis_url, **more)  # type: ignore[call-arg]


def test_only_named_accounts_configured_is_a_tencent_setup_not_the_emulator(redis_url: str) -> None:
    named = _settings(redis_url, ORCHESTRATE_ACCOUNTS={"marketing": {"secret_id": REAL_ID, "secret_key": REAL_KEY}})
    assert not sends_nowhere(named)
    assert not wants_emulator(named, None)  # it said "neither Tencent credentials nor SES_ENDPOINT are set"
    assert wants_emulator(_settings(redis_url), None)
    assert wants_emulator(named, True)


async def test_up_emulator_answers_every_named_account_never_with_its_real_key(redis_url: str) -> None:
    configured = _settings(
        redis_url,
        TENCENTCLOUD_SECRET_ID=SecretStr("AKIDrealDefault0001"),
        TENCENTCLOUD_SECRET_KEY=SecretStr("realDefaultKey0001"),
        ORCHESTRATE_ACCOUNTS={"marketing": {"secret_id": REAL_ID, "secret_key": REAL_KEY}},
    )
    async with run_emulator(permissive_world({}, accounts=configured.accounts)) as emu:
        settings = to_emulator(configured, emu.url)
        pair = settings.credentials("marketing")
        assert pair is not None
        assert pair.secret_id.get_secret_value() != REAL_ID
        assert pair.secret_key.get_secret_value() != REAL_KEY
        async with TencentSender(settings) as sender:
            for account in ("default", "marketing"):  # each signed with a pair the emulator knows
                assert (await sender.list_identities(account)).identities == ()
        assert {c.account for c in emu.call_log} == {"default", "marketing"}
