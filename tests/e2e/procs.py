"""Running the real commands as subprocesses: the emulator, the pacer, arq workers, the CLI."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from tests.redis_server import free_port

BIN = Path(sys.executable).parent
#: Where a test checks a rate at the provider, every process of ours runs below the emulator's priority: the
#: emulator stands in for Tencent, another machine, whose clock stamps arrivals on time however busy this one
#: is. Raising the emulator above normal needs root; without it `nice` says so and runs it at normal priority.
_NICE = ["nice", "-n", "10"]
_EMULATOR_NICE = ["nice", "-n", "-5"]


def base_env(redis_url: str, ses_port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": redis_url,
            "SES_ENDPOINT": f"http://127.0.0.1:{ses_port}",
            "TENCENTCLOUD_SECRET_ID": "emulator-id",
            "TENCENTCLOUD_SECRET_KEY": "emulator-key",
            "NO_PROXY": "127.0.0.1,localhost",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PACER_INTERVAL_S": "0.2",
            "SWEEP_INTERVAL_S": "1",
            "RECONCILE_AFTER_S": "1",
        }
    )
    env.update(extra)
    return env


class Procs:
    """Started processes, stopped (TERM, then KILL) at the end of a test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []
        #: Set (`ranked()`): the emulator runs at _EMULATOR_NICE, every other process started at _NICE.
        self.ranked_below_emulator = False

    def ranked(self) -> Procs:
        """From now on, the emulator above our processes' priority (a test of the rate at the provider)."""
        self.ranked_below_emulator = True
        return self

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        self.logs.append(log)
        if self.ranked_below_emulator and argv[0] == str(BIN / "orchestrate"):
            argv = [*(_EMULATOR_NICE if argv[1:2] == ["emulator"] else _NICE), *argv]
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.running.append(proc)
        return proc

    def stop_all(self) -> None:
        for p in self.running:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.running:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()

    def emulator(
        self, env: dict[str, str], port: int, send_log: Path, world: Path | None = None, call_log: Path | None = None
    ) -> None:
        argv = [str(BIN / "orchestrate"), "emulator", "--port", str(port), "--send-log", str(send_log)]
        if world is not None:
            argv += ["--world", str(world)]
        if call_log is not None:
            argv += ["--call-log", str(call_log)]
        self.start("emulator", argv, env)
        wait_for(lambda: _port_open(port), 15, "the emulator to listen")

    def web(self, env: dict[str, str], port: int) -> None:
        """`orchestrate web` on `port`, returned once /healthz answers 200: a web process that died (its
        port taken, Redis unreachable) fails here, with its log, not later as a callback never counted."""
        import urllib.request

        proc = self.start("web", [str(BIN / "orchestrate"), "web", "--port", str(port)], env)

        def healthy() -> bool:
            if proc.poll() is not None:
                log = (self.tmp / "web.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"the web process exited ({proc.returncode}): {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_for(healthy, 30, "the web process to answer /healthz")

    def worker(self, env: dict[str, str], name: str = "worker") -> subprocess.Popen[bytes]:
        return self.start(name, [str(BIN / "orchestrate"), "worker"], env)

    def pacer(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self.start("pacer", [str(BIN / "orchestrate"), "pacer"], env)


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "orchestrate"), *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def cli_json(env: dict[str, str], *args: str) -> object:
    out = cli(env, *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    msg = f"timed out after {timeout_s} s waiting for {what}"
    raise AssertionError(msg)


def send_log(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def interrupt_once_shown(
    argv: list[str], env: dict[str, str], shown: Sequence[str], *, presses: int = 1, deadline_s: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `argv`; once its stdout holds every text of `shown` (a loaded machine may take seconds to get
    there: no fixed wait), press Ctrl-C `presses` times in a row; its whole output once it has exited."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    err: list[str] = []

    def drain(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        into.extend(iter(stream.readline, ""))

    readers = [
        threading.Thread(target=drain, args=pair, daemon=True) for pair in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    try:
        what = f"{' '.join(argv[1:2])} to show {list(shown)}"
        wait_for(lambda: all(t in "".join(out) for t in shown) or proc.poll() is not None, deadline_s, what)
        for _ in range(presses):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return subprocess.CompletedProcess(argv, proc.returncode, "".join(out), "".join(err))


def read_terminal(main: int, seen: Callable[[bytes], None] | None = None, quiet_s: float = 60) -> bytes:
    """All a command writes to the pseudo-terminal whose main side is `main`, until it closes (the command has
    exited); `seen` is shown the output so far after each read. Nothing for `quiet_s` seconds fails."""
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([main], [], [], quiet_s)
        assert ready, f"the terminal showed nothing for {quiet_s:g} s"
        try:
            data = os.read(main, 65536)
        except OSError:  # the pty closed: the command has exited
            break
        if not data:
            break
        chunks.append(data)
        if seen is not None:
            seen(b"".join(chunks))
    return b"".join(chunks)


__all__ = [
    "Procs",
    "base_env",
    "cli",
    "cli_json",
    "free_port",
    "interrupt_once_shown",
    "read_terminal",
    "send_log",
    "wait_for",
]
