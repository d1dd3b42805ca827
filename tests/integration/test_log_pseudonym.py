"""LOG_PSEUDONYM_KEY keys the recipients' pseudonym in logs and events: a worker started from the settings
uses it, and without the key nobody can check a candidate address against the logs."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import SecretStr

from orchestrator.settings import Settings
from workers.send import address_hash
from workers.settings import _startup, shutdown

KEY = "pseudonym-key-0123456789abcdef"


def test_a_keyed_pseudonym_is_not_the_unkeyed_hash() -> None:
    address = "+1@evil.example"
    unkeyed = hashlib.blake2b(address.encode(), digest_size=6).hexdigest()
    assert address_hash(address) == unkeyed
    keyed = address_hash(address, KEY.encode())
    assert keyed != unkeyed
    assert keyed == hashlib.blake2b(address.encode(), digest_size=6, key=KEY.encode()).hexdigest()
    assert address_hash(address, KEY.encode()) == keyed  # stable: one recipient's lines still join


def test_the_key_is_a_secret_and_any_length_works() -> None:
    long_key = "k" * 200
    s = Settings(_env_file=None, LOG_PSEUDONYM_KEY=SecretStr(long_key))
    assert len(s.pseudonym_key()) == 64
    assert long_key not in repr(s)
    assert long_key in s.secret_values()
    assert Settings(_env_file=None).pseudonym_key() == b""


async def test_a_worker_started_from_the_settings_uses_the_key(redis_url: str) -> None:
    settings = Settings(
        _env_file=None,
        REDIS_URL=redis_url,
        LOG_PSEUDONYM_KEY=SecretStr(KEY),
        TENCENTCLOUD_SECRET_ID=SecretStr("AKIDpseudonym"),
        TENCENTCLOUD_SECRET_KEY=SecretStr("pseudonym-secret"),
        SES_ENDPOINT="http://127.0.0.1:9",
    )
    ctx: dict[str, Any] = {}
    await _startup(settings)(ctx)
    try:
        assert ctx["deps"].pseudonym_key == KEY.encode()
    finally:
        await shutdown(ctx)
