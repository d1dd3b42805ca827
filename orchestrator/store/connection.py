"""Redis connections: the orchestrator's own client and arq's pool, both retrying on blips."""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: A Redis restart of a few seconds must not kill a worker or the pacer.
RETRY_ATTEMPTS = 12


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.05), RETRY_ATTEMPTS)


def redis_from_url(url: str, **kwargs: Any) -> Redis:
    """The orchestrator's client: str replies, retries on connection errors, bounded pool."""
    client: Redis = Redis.from_url(
        url,
        decode_responses=True,
        retry=_retry(),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        max_connections=kwargs.pop("max_connections", 64),
        health_check_interval=kwargs.pop("health_check_interval", 30),
        **kwargs,
    )
    return client


def arq_settings(url: str) -> RedisSettings:
    """arq's RedisSettings for `url`, with the retry arq does not set by itself."""
    settings = RedisSettings.from_dsn(url)
    settings.retry = _retry()
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    settings.conn_retries = RETRY_ATTEMPTS
    settings.conn_retry_delay = 1
    return settings
