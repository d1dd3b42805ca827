"""`simulate` makes its settings from what it is given: no configured secret or setting reaches a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.settings import ENV_FILE_VARIABLE, load_settings
from orchestrator.simulation.run import _settings

SECRET = "configured-Secret-77"


def test_the_environment_and_the_credentials_file_never_reach_a_simulation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_FILE_VARIABLE, raising=False)
    (tmp_path / ".env").write_text(
        f"TENCENTCLOUD_SECRET_KEY=file{SECRET}\nJOB_TIMEOUT_S=77\nLEASE_S=120\n", encoding="utf-8"
    )
    monkeypatch.setenv(
        "ORCHESTRATE_ACCOUNTS", f'{{"marketing": {{"secret_id": "AKID{SECRET}", "secret_key": "{SECRET}"}}}}'
    )
    monkeypatch.setenv("WEB_ACCESS_TOKEN", f"web{SECRET}")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", f"AKIDenv{SECRET}")
    configured = load_settings()
    assert configured.accounts
    assert configured.web_access_token is not None
    assert configured.job_timeout_s == 77
    assert any(SECRET in v for v in configured.secret_values())

    run = _settings("redis://127.0.0.1:6399/9", "http://127.0.0.1:1", {"default": ("emulator-id", "emulator-key")})
    assert run.accounts == {}
    assert run.web_access_token is None
    assert run.job_timeout_s == type(run).model_fields["job_timeout_s"].default
    assert not any(SECRET in v for v in run.secret_values())
    assert run.redis_url == "redis://127.0.0.1:6399/9"
    assert run.ses_endpoint == "http://127.0.0.1:1"


def test_a_simulation_signs_each_account_its_campaign_names_with_the_emulators_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ORCHESTRATE_ACCOUNTS", f'{{"marketing": {{"secret_id": "AKID{SECRET}", "secret_key": "{SECRET}"}}}}'
    )
    pairs = {"default": ("emulator-id", "emulator-key"), "marketing": ("emulator-id-marketing", "emulator-key-m")}
    run = _settings("redis://127.0.0.1:6399/9", "http://127.0.0.1:1", pairs)
    marketing = run.credentials("marketing")
    assert marketing is not None
    assert marketing.secret_id.get_secret_value() == "emulator-id-marketing"
    assert not any(SECRET in v for v in run.secret_values())
