"""The orchestrator's Redis connections pack commands with hiredis: byte for byte what redis-py's packer sends."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from orchestrator.store.connection import ServerSeen, _restart_tolerant

COMMANDS: list[tuple[object, ...]] = [
    ("PING",),
    ("SET", "k", "value"),
    ("CONFIG GET", "maxmemory"),  # a two-word name is split, as redis-py does
    (b"CLIENT SETNAME", b"x"),
    ("HSET", "h", "f", 1, "g", 1.5, "e", 1e20, "n", -7, "z", 0.1),
    ("SET", "k", "sé\u4e2d\U0001f600", "EX", 30),
    ("SET", b"bytes\x00key", b"\xff\xfe", memoryview(b"mv")),
    ("HMGET", "fb:cohorts", *[f"{h}|delivered|i|bench-a" for h in range(480)]),
    ("SET", "big", "x" * 100_000),  # redis-py sends a large value as its own chunk; the bytes are the same
    ("EVALSHA", "a" * 40, 2, "k1", "k2", "", repr(1767225600.123456)),
]


def packers(connection: type) -> tuple[object, object]:
    plain = connection() if connection is Connection else connection(path="/nonexistent")
    ours = _restart_tolerant(connection)
    packed = ours(server_seen=ServerSeen()) if connection is Connection else ours(path="/x", server_seen=ServerSeen())
    return plain, packed


@pytest.mark.parametrize("connection", [Connection, UnixDomainSocketConnection])
@pytest.mark.parametrize("args", COMMANDS, ids=range(len(COMMANDS)))
def test_the_bytes_sent_are_redis_pys_own(connection: type, args: tuple[object, ...]) -> None:
    plain, packed = packers(connection)
    theirs = b"".join(plain.pack_command(*args))  # type: ignore[attr-defined]
    ours = packed.pack_command(*args)  # type: ignore[attr-defined]
    assert len(ours) == 1  # one buffer from the C packer, not redis-py's per-argument pieces
    assert ours[0] == theirs


def test_a_pipeline_packs_the_same_bytes() -> None:
    plain, packed = packers(Connection)
    commands = [(c, {}) for c in COMMANDS[:6]]
    assert b"".join(packed.pack_commands(c for c, _ in commands)) == b"".join(  # type: ignore[attr-defined]
        plain.pack_commands(c for c, _ in commands)  # type: ignore[attr-defined]
    )


def test_what_hiredis_refuses_goes_through_redis_pys_packer() -> None:
    plain, packed = packers(Connection)
    plain.encoder.encoding_errors = packed.encoder.encoding_errors = "replace"  # type: ignore[attr-defined]
    lone = ("SET", "k", "a\udcffb")  # a lone surrogate: hiredis refuses it, the encoder's `replace` sends "?"
    assert packed.pack_command(*lone) == plain.pack_command(*lone)  # type: ignore[attr-defined]
    assert b"a?b" in b"".join(packed.pack_command(*lone))  # type: ignore[attr-defined]
    for bad in (None, True, object()):
        with pytest.raises(DataError):
            packed.pack_command("SET", "k", bad)  # type: ignore[attr-defined]


def test_a_connection_told_another_encoding_packs_with_redis_py() -> None:
    """hiredis writes text as UTF-8 only: a client set to another encoding keeps redis-py's packer and its bytes."""
    plain = Connection(encoding="latin-1")
    packed = _restart_tolerant(Connection)(server_seen=ServerSeen(), encoding="latin-1")
    args = ("SET", "k", "café")
    assert b"".join(packed.pack_command(*args)) == b"".join(plain.pack_command(*args))
    assert b"caf\xe9" in b"".join(packed.pack_command(*args))
