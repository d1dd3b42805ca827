"""Process settings, read once from the environment (or an env file) by pydantic-settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.core.account_rate import AccountRate

DEFAULT_ACCOUNT = "default"


class AccountCredentials(BaseModel):
    """One Tencent Cloud account (API key pair). Identities name it by profile."""

    secret_id: SecretStr
    secret_key: SecretStr


class Settings(BaseSettings):
    """Everything a process needs that is not in a campaign file.

    Read from the environment and, when `ORCHESTRATE_ENV_FILE` (default `.env`) exists, from that
    file. Extra accounts: `ORCHESTRATE_ACCOUNTS='{"marketing": {"secret_id": "...", "secret_key": "..."}}'`.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    redis_url: str = Field("redis://127.0.0.1:6379/0", alias="REDIS_URL")
    tencentcloud_secret_id: SecretStr | None = Field(None, alias="TENCENTCLOUD_SECRET_ID")
    tencentcloud_secret_key: SecretStr | None = Field(None, alias="TENCENTCLOUD_SECRET_KEY")
    accounts: dict[str, AccountCredentials] = Field(default_factory=dict, alias="ORCHESTRATE_ACCOUNTS")
    ses_region: str = Field("ap-guangzhou", alias="SES_REGION")
    ses_endpoint: str | None = Field(None, alias="SES_ENDPOINT")
    ses_timeout_s: float = Field(10.0, alias="SES_TIMEOUT_S")
    # Tencent allows 20 API calls/s per account; these are the orchestrator's share of it
    # (orchestrator/core/account_rate.py, docs/operations.md "Tencent's API rate").
    account_rate_per_s: float = Field(18.0, alias="ACCOUNT_RATE_PER_S", gt=0, allow_inf_nan=False)
    account_other_rate_per_s: float = Field(2.0, alias="ACCOUNT_OTHER_RATE_PER_S", gt=0, allow_inf_nan=False)
    account_rate_guard_s: float = Field(0.05, alias="ACCOUNT_RATE_GUARD_S", ge=0, lt=1, allow_inf_nan=False)
    account_wait_max_s: float = Field(30.0, alias="ACCOUNT_WAIT_MAX_S", ge=0, allow_inf_nan=False)
    log_format: Literal["auto", "console", "json"] = Field("auto", alias="LOG_FORMAT")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    pacer_interval_s: float = Field(1.0, alias="PACER_INTERVAL_S")
    worker_concurrency: int = Field(50, alias="WORKER_CONCURRENCY")
    job_timeout_s: int = Field(60, alias="JOB_TIMEOUT_S")  # one send job, SDK timeout included
    lease_s: float = Field(90.0, alias="LEASE_S")  # a claimed send not finished by then is in doubt
    sweep_interval_s: float = Field(10.0, alias="SWEEP_INTERVAL_S")
    reconcile_after_s: float = Field(60.0, alias="RECONCILE_AFTER_S")  # first status lookup of a doubt
    # A lookup that could not decide is asked again after this long; one that was throttled or could
    # not connect after the shorter interval; after the window, the send is left for the operator.
    reconcile_retry_s: float = Field(60.0, alias="RECONCILE_RETRY_S", gt=0, allow_inf_nan=False)
    reconcile_throttled_retry_s: float = Field(5.0, alias="RECONCILE_THROTTLED_RETRY_S", gt=0, allow_inf_nan=False)
    reconcile_window_s: float = Field(6 * 3600.0, alias="RECONCILE_WINDOW_S", gt=0, allow_inf_nan=False)
    # A submit's claim on its files and its staged keys outlive a killed submit by at most this long
    # (a heartbeat refreshes them 4 times per TTL); a second submit of the same files waits for the
    # first up to SUBMIT_WAIT_S.
    submit_heartbeat_ttl_s: float = Field(60.0, alias="SUBMIT_HEARTBEAT_TTL_S", gt=0, allow_inf_nan=False)
    submit_wait_s: float = Field(300.0, alias="SUBMIT_WAIT_S", ge=0, allow_inf_nan=False)
    state_dir: str | None = Field(None, alias="ORCHESTRATE_STATE_DIR")

    @model_validator(mode="after")
    def _rate_split(self) -> Settings:
        if self.account_other_rate_per_s >= self.account_rate_per_s:
            msg = "ACCOUNT_OTHER_RATE_PER_S must be below ACCOUNT_RATE_PER_S (SendEmail needs the rest)"
            raise ValueError(msg)
        return self

    def account_rate(self) -> AccountRate:
        """The per-account API budget these settings describe (checked when the settings are read)."""
        return AccountRate(
            rate_per_s=self.account_rate_per_s,
            other_per_s=self.account_other_rate_per_s,
            guard_s=self.account_rate_guard_s,
            max_wait_s=self.account_wait_max_s,
        )

    def credentials(self, account: str = DEFAULT_ACCOUNT) -> AccountCredentials | None:
        """The key pair of `account`, or None when it is not configured."""
        if account in self.accounts:
            return self.accounts[account]
        if (
            account == DEFAULT_ACCOUNT
            and self.tencentcloud_secret_id is not None
            and self.tencentcloud_secret_key is not None
        ):
            return AccountCredentials(secret_id=self.tencentcloud_secret_id, secret_key=self.tencentcloud_secret_key)
        return None
