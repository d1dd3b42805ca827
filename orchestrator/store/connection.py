"""Redis connections: the orchestrator's own client and arq's pool, both retrying on blips."""

from __future__ import annotations

import ast
import asyncio
import codecs
import contextlib
import errno
from typing import Any

import hiredis
from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import parse_url
from redis.exceptions import AuthenticationError, InvalidResponse, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.core.text import without_pipeline_command
from orchestrator.redis_url import safe_url

#: A Redis restart of a few seconds must not kill a worker or the pacer (about 17 s of retries).
RETRY_ATTEMPTS = 12
_BACKOFF = ExponentialBackoff(cap=2.0, base=0.05)


def _retry() -> Retry:
    return Retry(_BACKOFF, RETRY_ATTEMPTS)


class ServerSeen:
    """Shared by the connections of one client: whether any of them has reached the server yet."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = False


class _RestartTolerant(AbstractConnection):
    """A connection that, once its client has reached the server, retries a refused (re)connect.

    redis-py retries a command whose connection broke, but reconnecting to a server that is still
    restarting raises a plain OSError that its Retry does not catch (redis/redis-py#3450): any
    command issued during a restart failed at once. A server never reached still fails fast (a wrong
    REDIS_URL, `orchestrate up` probing for a running Redis).
    """

    def __init__(self, *args: Any, server_seen: ServerSeen, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server_seen = server_seen

    async def connect(self) -> None:
        failures = 0
        while True:
            try:
                await super().connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            except AuthenticationError:
                raise
            except RedisConnectionError:
                failures += 1
                if not self._server_seen.reached or failures > RETRY_ATTEMPTS:
                    raise
                await asyncio.sleep(_BACKOFF.compute(failures))
            else:
                self._server_seen.reached = True
                return


class _CPacked(AbstractConnection):
    """A connection that packs commands with hiredis's C packer, as redis-py's sync client does.

    redis-py 5's asyncio connection packs every argument in Python (`pack_command`), which was the
    largest single cost of a pacer tick: a grant script call carries some hundred KEYS and ARGV.
    hiredis is already installed for the reply parser (`redis[hiredis]`). What it refuses (a lone
    surrogate, which the encoder's `replace` turns into `?`; a type other than str, bytes, int or
    float, which redis-py refuses with its own error) goes through redis-py's own packer unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._utf8 = codecs.lookup(self.encoder.encoding).name == "utf-8"  # hiredis encodes text as UTF-8 only

    def pack_command(self, *args: Any) -> list[bytes]:
        if not self._utf8:
            return super().pack_command(*args)
        name = args[0]
        if isinstance(name, str):
            args = (*name.encode().split(), *args[1:])
        elif isinstance(name, bytes) and b" " in name:
            args = (*name.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except (TypeError, UnicodeEncodeError):
            return super().pack_command(*args)


_TOLERANT: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _restart_tolerant(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """`base` (TCP, TLS or unix socket, as the URL chose) with the restart-tolerant connect and the C packer."""
    cls = _TOLERANT.get(base)
    if cls is None:
        cls = _TOLERANT[base] = type(f"RestartTolerant{base.__name__}", (_RestartTolerant, _CPacked, base), {})
    return cls


def redis_from_url(url: str, retry_timeouts: bool = True, **kwargs: Any) -> Redis:
    """The orchestrator's client: str replies, retries on connection errors and restarts, bounded pool.

    `retry_timeouts` False: a timed-out answer (`socket_timeout`) is an error at once, not asked again.
    """
    client: Redis = Redis.from_url(
        url,
        decode_responses=True,
        # Everything the orchestrator writes is UTF-8; a stray byte written by something else reads
        # as U+FFFD instead of failing the reader (status, logs, watch, the pacer).
        encoding_errors=kwargs.pop("encoding_errors", "replace"),
        retry=_retry(),
        retry_on_error=[RedisConnectionError, RedisTimeoutError] if retry_timeouts else [RedisConnectionError],
        max_connections=kwargs.pop("max_connections", 64),
        health_check_interval=kwargs.pop("health_check_interval", 30),
        **kwargs,
    )
    # The URL picks the connection class (TCP, TLS, unix socket); connections are made on first use.
    pool = client.connection_pool
    pool.connection_class = _restart_tolerant(pool.connection_class)
    pool.connection_kwargs["server_seen"] = ServerSeen()
    return client


async def make_restart_tolerant(client: Redis) -> None:
    """Give a client built elsewhere (arq's `create_pool`) the restart-tolerant connect of `redis_from_url`:
    a connection reset while a restarting server answers its handshake is retried, not raised. The
    connections it already opened (arq pings at create) are closed and dropped, so every later one is
    of the tolerant class (redis-py reconnects a broken connection in place, keeping its class)."""
    pool = client.connection_pool
    await pool.disconnect()
    pool.reset()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    pool.connection_class = _restart_tolerant(pool.connection_class)
    seen = ServerSeen()
    seen.reached = True  # create_pool reached it already
    pool.connection_kwargs["server_seen"] = seen


#: The TLS options of a rediss:// URL that arq's RedisSettings takes under the same names.
_ARQ_TLS_OPTIONS = frozenset(
    {"ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_check_hostname"}
)


def arq_settings(url: str) -> RedisSettings:
    """arq's RedisSettings for `url` (read as redis-py reads it), with the retry arq does not set by itself.

    arq builds its own pool, so the restart-tolerant connection cannot be used there: a refused
    connect is simply retried like a broken one (arq also retries its first connect, `conn_retries`).
    arq's own `from_dsn` is not used: it keeps a percent-encoded password encoded and fails on `host/`.
    """
    parsed = parse_url(url)  # type: ignore[no-untyped-call]  # checked when the settings were read
    settings = RedisSettings(
        host=parsed.get("host", "localhost"),
        port=parsed.get("port", 6379),
        unix_socket_path=parsed.get("path"),
        database=parsed.get("db", 0),
        username=parsed.get("username"),
        password=parsed.get("password"),
        ssl=url.startswith("rediss://"),
        # rediss:// options (a private CA, no verification): the same TLS for arq's pool as for redis-py's.
        **{k: v for k, v in parsed.items() if k in _ARQ_TLS_OPTIONS and v is not None},
    )
    settings.retry = _retry()
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionRefusedError]
    settings.conn_retries = RETRY_ATTEMPTS
    settings.conn_retry_delay = 1
    return settings


def probe_client(url: str, timeout_s: float = 3.0) -> Redis:
    """A client for one quick question to the Redis at `url`: no retries, `timeout_s` for each step."""
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )
    return client


async def probe(url: str, timeout_s: float = 3.0) -> RedisError | OSError | None:
    """Ping the Redis at `url` once, without retries: None when it answers, else what went wrong."""
    try:
        client = probe_client(url, timeout_s)
    except ValueError:  # a URL redis-py cannot read: its message may quote the password
        return RedisError("REDIS_URL cannot be read as a Redis URL")
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return exc
    else:
        return None
    finally:
        await client.aclose()


def nothing_listens(failure: BaseException) -> bool:
    """Whether `failure` is a refused connection (nothing listens at the address), not any other fault."""
    seen: BaseException | None = failure
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError | FileNotFoundError):
            return True
        # asyncio's connect says it as a plain OSError ("Connect call failed"), with the refusal's errno; a
        # reconnect after a lost connection raises redis-py's own error, its errno only in its words.
        if isinstance(seen, OSError) and seen.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return True
        if isinstance(seen, RedisConnectionError) and str(seen).startswith(f"Error {errno.ECONNREFUSED} connecting"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def error_text(failure: BaseException) -> str:
    """What went wrong, as Redis said it: without the failed pipeline command redis-py quotes in front
    (`core.text.without_pipeline_command`)."""
    text = str(failure)
    said = without_pipeline_command(text)
    if said != text and said.startswith("(") and said.endswith(",)"):  # the asyncio client quotes the args tuple
        with contextlib.suppress(ValueError, SyntaxError):
            said = str(ast.literal_eval(said)[0])
    return said


def describe_failure(url: str, failure: BaseException) -> str:
    """One line on why the Redis at `url` cannot be used, with the URL's password masked."""
    where = safe_url(url)
    if isinstance(failure, AuthenticationError):
        if "NOAUTH" in str(failure) or "required" in str(failure).lower():
            return f"Redis at {where} needs a password: put it in REDIS_URL (redis://:PASSWORD@host:port/0)"
        return f"Redis at {where} refused the user or password in REDIS_URL"
    if nothing_listens(failure):
        return f"nothing listens at {where}"
    if isinstance(failure, RedisTimeoutError | TimeoutError):
        tls = " (a rediss:// URL: does that server speak TLS?)" if url.startswith("rediss://") else ""
        return f"Redis at {where} did not answer in time{tls}"
    if isinstance(failure, InvalidResponse):
        return f"what listens at {where} does not answer as Redis does ({failure}): is REDIS_URL's port a Redis?"
    return f"cannot use Redis at {where}: {error_text(failure)}"
