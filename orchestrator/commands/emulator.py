"""`orchestrate emulator`: serve the local Tencent SES emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from orchestrator.ses.emulator import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    LogFileError,
    World,
    WorldFileError,
    load_world,
    permissive_credentials,
    permissive_world,
    run_emulator,
)


async def _serve(
    world: World, host: str, port: int, send_log: Path | None, call_log: Path | None, banner: list[str]
) -> None:
    from orchestrator.commands._common import stop_on_signals

    async with run_emulator(world, host=host, port=port, send_log_path=send_log, call_log_path=call_log) as emu:
        click.echo(f"Tencent SES emulator listening on {emu.url}")
        click.echo(f"  SES_ENDPOINT={emu.url}")
        for line in banner:
            click.echo(line)
        if send_log:
            click.echo(f"  send log: {send_log}")
        if call_log:
            click.echo(f"  call log: {call_log}")
        click.echo("Press Ctrl-C to stop.")
        with stop_on_signals() as stop:
            await stop.wait()


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option(
    "--world",
    "world_file",
    type=click.Path(path_type=Path),
    help="World file (YAML/JSON): accounts, domains, templates, faults. Default: permissive.",
)
@click.option(
    "--send-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every accepted send to this file as JSON lines.",
)
@click.option(
    "--call-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every API call (time, account, action, error) to this file as JSON lines.",
)
def command(host: str, port: int, world_file: Path | None, send_log: Path | None, call_log: Path | None) -> None:
    """Run a local Tencent SES emulator the official SDK (and `orchestrate`) can talk to."""
    from orchestrator.cli import echo_error
    from orchestrator.commands._common import CommandError
    from orchestrator.core.exit_codes import EXIT_USAGE

    if world_file is None:
        secret_id, secret_key, source = permissive_credentials()
        world = permissive_world()
        banner = ["  permissive world: every sender domain verified (level 20), every template approved"]
        if (secret_id, secret_key) == (DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY):  # public: the docs name them
            banner += [f"  TENCENTCLOUD_SECRET_ID={secret_id}", f"  TENCENTCLOUD_SECRET_KEY={secret_key}  ({source})"]
        else:  # the environment's pair may be a real one: neither half is printed
            banner += [f"  key pair: {source} of this environment (not shown)"]
    else:
        try:
            world = load_world(world_file)
        except WorldFileError as exc:  # each problem is one line naming the file, line and field
            echo_error(str(exc))  # the file's keys and values may hold terminal escapes
            raise click.exceptions.Exit(EXIT_USAGE) from None
        banner = [f"  world: {world_file}"] + [
            f"  account {a.name}: secret id {a.secret_id}, key in the world file (not shown)" for a in world.accounts
        ]
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(world, host, port, send_log, call_log, banner))
    except LogFileError as exc:  # checked before the port is bound: nothing was announced
        raise CommandError(f"--{exc.log}-log {exc.path}: cannot append to it ({exc.reason})", EXIT_USAGE) from None
    except OSError as exc:  # the port is taken, the host is no address of this machine
        raise CommandError(f"cannot serve the emulator on {host}:{port}: {exc.strerror or exc}") from None
    click.echo("emulator stopped")
