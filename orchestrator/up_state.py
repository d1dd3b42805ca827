"""Where `orchestrate up` keeps its state, and how other commands find what it started."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from orchestrator.settings import Settings


def state_dir(settings: Settings) -> Path:
    """Where `up` keeps its embedded Redis data: ORCHESTRATE_STATE_DIR, else the XDG state folder."""
    if settings.state_dir:
        return Path(settings.state_dir)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "warmup-orchestrator"


def recorded_redis_url(settings: Settings) -> str | None:
    """The URL a running `up` recorded for its embedded Redis, if any."""
    path = state_dir(settings) / "redis.url"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def with_recorded_state(settings: Settings, env: Mapping[str, str]) -> Settings:
    """Settings that reach what a running `orchestrate up` started, where the environment is silent.

    Its embedded Redis when REDIS_URL is unset; its local emulator (and the emulator's key pair)
    when no SES endpoint and no Tencent credentials are configured.
    """
    update: dict[str, object] = {}
    if "REDIS_URL" not in env:
        recorded = recorded_redis_url(settings)
        if recorded:
            update["redis_url"] = recorded
    emulator_file = state_dir(settings) / "emulator.url"
    if not settings.ses_endpoint and settings.credentials() is None and emulator_file.exists():
        from orchestrator.ses.emulator import permissive_credentials

        secret_id, secret_key, _ = permissive_credentials()
        update["ses_endpoint"] = emulator_file.read_text(encoding="utf-8").strip()
        update["tencentcloud_secret_id"] = SecretStr(secret_id)
        update["tencentcloud_secret_key"] = SecretStr(secret_key)
    return settings.model_copy(update=update) if update else settings
