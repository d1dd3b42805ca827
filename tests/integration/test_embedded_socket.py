"""The embedded redis-server's unix socket (`simulate` talks to it there): both clients reach the same data."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.embedded import EmbeddedRedis, EmbeddedRedisError
from orchestrator.store.connection import arq_settings, redis_from_url


async def test_the_unix_socket_and_tcp_reach_one_server_and_arq_connects_through_it(tmp_path: Path) -> None:
    folder = tmp_path / "a#b?c%41"  # characters a URL would read otherwise
    try:
        server = EmbeddedRedis(workdir=folder, unix_socket=True).start()
    except EmbeddedRedisError as exc:
        pytest.skip(f"no redis-server: {exc}")
    try:
        assert server.local_url.startswith("unix://")
        assert server.local_url.endswith("/redis.sock?db=0")
        assert "#" not in server.local_url
        assert server.workdir is not None
        socket_file = server.workdir / "redis.sock"
        assert stat.S_ISSOCK(socket_file.stat().st_mode)
        assert stat.S_IMODE(socket_file.stat().st_mode) == 0o700  # the owner's only
        local, tcp = redis_from_url(server.local_url), redis_from_url(server.url)
        await local.set("k", "through the socket")
        assert await tcp.get("k") == "through the socket"
        assert arq_settings(server.local_url).unix_socket_path == str(socket_file)
        await local.aclose()
        await tcp.aclose()
    finally:
        server.stop()
    assert EmbeddedRedis().local_url == EmbeddedRedis().url  # without the socket: TCP
