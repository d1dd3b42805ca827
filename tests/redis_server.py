"""A private redis-server for the tests: started on a free port, AOF on, stopped at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.embedded import EmbeddedRedis, find_redis_server, free_port

__all__ = ["RedisServer", "find_redis_server", "free_port"]


@dataclass
class RedisServer:
    """The embedded server with AOF on, plus `restart()`: a SIGKILL and a start on the same data."""

    binary: str
    port: int
    workdir: Path
    _server: EmbeddedRedis = field(init=False)

    def __post_init__(self) -> None:
        self._server = EmbeddedRedis(workdir=self.workdir, persistent=True, port=self.port, binary=self.binary)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._server.start()

    def stop(self, kill: bool = False) -> None:
        self._server.stop(kill=kill)

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()
