"""What the Redis-backed commands share: running a coroutine, a reachable Redis, a campaign reference."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

import click
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rich.console import Console

from orchestrator.cli import AppContext, echo_error
from orchestrator.core.exit_codes import EXIT_FAILED, EXIT_TERMINATED, EXIT_USAGE
from orchestrator.core.text import json_line, printable_lines
from orchestrator.redis_url import safe_url
from orchestrator.store import campaigns, identities
from orchestrator.store.connection import describe_failure, error_text, nothing_listens, probe, redis_from_url
from orchestrator.store.stored_values import BadStoredValueError

if TYPE_CHECKING:
    from orchestrator.core.campaign import Campaign
    from orchestrator.settings import Settings

T = TypeVar("T")


class CommandError(click.ClickException):
    """A user-facing failure: printed as one line, no traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        echo_error(f"error: {self.format_message()}")


def keep_cancelling(task: asyncio.Task[Any]) -> None:
    """Cancel `task`, and again every half second until it has ended.

    A cancellation that lands inside a Redis call can be lost there (redis-py's reader takes it for
    the timeout it expected and carries on), which left a command running after Ctrl-C.
    """
    if not task.done():
        task.cancel()
        asyncio.get_running_loop().call_later(0.5, keep_cancelling, task)


def cancel_on(sig: signal.Signals, noted: list[bool]) -> None:
    """Signal `sig` (Ctrl-C's SIGINT, SIGTERM) cancels the running task until it has ended, so it cleans up
    as on any cancellation; each arrival is noted in `noted`."""
    task = asyncio.current_task()
    assert task is not None

    def on_signal() -> None:
        noted.append(True)
        keep_cancelling(task)

    # Not on the main thread (a command run in-process by a caller): the signal is not this one's to take.
    with contextlib.suppress(RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(sig, on_signal)


def ignore_interrupts() -> None:
    """Ignore Ctrl-C from here to the exit: a stopped command calls it, in its event loop, once it has cleaned up.

    Otherwise the loop, as it closes, hands SIGINT back to Python's own handler, and a second Ctrl-C (a double
    press; `timeout -s INT` delivers two) lands wherever the exit then is, a finalizer included, where Python
    can only print it as a traceback.
    """
    # Not on the main thread (a command run in-process by a caller): the signal is not this one's to take.
    with contextlib.suppress(RuntimeError, ValueError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """The event SIGINT (Ctrl-C) or SIGTERM sets: a long-running command's graceful stop. Left after a signal,
    Ctrl-C is ignored to the exit (`ignore_interrupts`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        if stop.is_set():
            ignore_interrupts()


def ignore_interrupts_if_stopped() -> None:
    """`ignore_interrupts` when a signal stopped the running task: Ctrl-C or SIGTERM (`cancel_on`) cancelled
    it, and a Ctrl-C now would only change the exit code."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        ignore_interrupts()


def run(ctx: click.Context, body: Callable[[Redis], Awaitable[T]]) -> T:
    """Run `body` with a Redis client for the configured REDIS_URL; a dead Redis is a clear error."""
    app: AppContext = ctx.obj
    url = app.settings.redis_url

    interrupted: list[bool] = []

    async def main() -> T:
        cancel_on(signal.SIGINT, interrupted)
        await require_redis(url)
        # A Redis that stops answering (stopped, overloaded) ends the command after REDIS_TIMEOUT_S.
        redis = redis_from_url(
            url, retry_timeouts=False, socket_connect_timeout=3, socket_timeout=app.settings.redis_timeout_s
        )
        try:
            return await body(redis)
        except OutOfMemoryError:
            msg = (
                f"Redis at {safe_url(url)} is full (maxmemory reached; it evicts nothing) and refused a write: "
                "free memory or raise its maxmemory, then run the command again"
            )
            raise CommandError(msg) from None
        except RedisTimeoutError as exc:
            msg = f"{describe_failure(url, exc)} (REDIS_TIMEOUT_S {app.settings.redis_timeout_s:g} s)"
            raise CommandError(msg) from None
        except RedisConnectionError as exc:  # it went away meanwhile (a stopped `up`, a restart): as at the start
            raise CommandError(_unreachable(url, exc)) from None
        except RedisError as exc:
            raise CommandError(f"Redis error: {error_text(exc)}") from None
        except (campaigns.UnreadableCampaignError, identities.UnreadableIdentityError) as exc:
            raise CommandError(str(exc)) from None
        except BadStoredValueError as exc:  # names the field, never its value
            raise CommandError(f"cannot read what Redis holds: {exc}") from None
        finally:
            try:
                await redis.aclose()
            finally:  # a repeated cancel (keep_cancelling) may land in the close
                ignore_interrupts_if_stopped()

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if interrupted:  # Ctrl-C, as asyncio.run itself would report it
            raise KeyboardInterrupt from None
        raise


def run_live(ctx: click.Context, body: Callable[[Redis], Awaitable[None]]) -> None:
    """`run` for a command that runs until stopped (`watch`, `logs --follow`): Ctrl-C ends it with 0, SIGTERM
    with 143, both after its cleanup (a live view gives the terminal its cursor back, Redis is closed)."""
    terminated: list[bool] = []

    async def stoppable(redis: Redis) -> None:
        cancel_on(signal.SIGTERM, terminated)
        await body(redis)

    try:
        run(ctx, stoppable)
    except KeyboardInterrupt:
        return
    except asyncio.CancelledError:
        ctx.exit(EXIT_TERMINATED)


async def require_redis(url: str) -> None:
    """Raise a one-line CommandError (the password masked) unless the Redis at `url` answers."""
    failure = await probe(url)
    if failure is not None:
        raise CommandError(_unreachable(url, failure))


def _unreachable(url: str, failure: BaseException) -> str:
    msg = describe_failure(url, failure)
    return msg + "; set REDIS_URL or run `orchestrate up`" if nothing_listens(failure) else msg


async def require_keeping(url: str) -> None:
    """Refuse (one line) a Redis that evicts keys; warn on stderr of one without an append-only file
    (store/server_check.py). For the commands that make or send mail: submit, pacer, worker."""
    from orchestrator.core.text import printable
    from orchestrator.store.server_check import keeping_at

    try:
        kept = await keeping_at(url)
    except (RedisError, OSError) as exc:
        raise CommandError(describe_failure(url, exc)) from None
    refusal = kept.refusal(url)
    if refusal is not None:
        raise CommandError(refusal)
    warning = kept.warning(url)
    if warning is not None:
        click.secho(printable(f"warning: {warning}"), fg="yellow", bold=True, err=True)


async def resolve_campaign(redis: Redis, ref: str) -> str:
    cid = await campaigns.resolve(redis, ref)
    if cid is None:
        msg = f"no campaign {ref!r} (see `orchestrate status` for the list)"
        raise CommandError(msg, EXIT_USAGE)
    return cid


async def warn_data_lost(redis: Redis) -> None:
    """A pacer's note that Redis lost its data (store/instance.py), on stderr: what a command reads there (no
    campaign, empty lists) is not the whole story then. stdout, and so --json, is left as it is."""
    from orchestrator.store import instance

    lost = await instance.loss(redis)
    if lost is not None:
        warning = (
            f"warning: Redis lost its data at {lost.when} (a pacer saw it empty): the campaigns and lists it held "
            "are gone; submit refuses until --after-data-loss (docs/operations.md, Redis)"
        )
        click.secho(warning, fg="yellow", bold=True, err=True)


def state_phrase(stored: str | None) -> str:
    """ "is paused" for a stored state this orchestrator writes; else that it cannot be read (never the value)."""
    if stored in {s.value for s in campaigns.State}:
        return f"is {stored}"
    return 'cannot be read (unknown state: docs/operations.md, "A campaign that cannot be read")'


async def clock_now(redis: Redis) -> float:
    """Now: the wall clock, or the virtual time a running `simulate --speed` publishes in its Redis."""
    from orchestrator.core.clock import SystemClock
    from orchestrator.store.keys import VIRTUAL_NOW

    virtual = await redis.get(VIRTUAL_NOW)
    return float(virtual) if virtual else SystemClock().now()


def print_json(data: Any) -> None:
    """`data` as one line of strict JSON (`core/text.json_line`)."""
    sys.stdout.write(json_line(data) + "\n")


class _DataOut(io.TextIOBase):
    """stdout for data: exactly as produced when piped or redirected; on a terminal (`escaped`), the
    characters a terminal acts on shown as escapes. Text stdout's encoding cannot hold (PYTHONIOENCODING=ascii,
    a C locale) stops the command with one line, not a traceback."""

    def __init__(self, escaped: bool) -> None:
        self.escaped = escaped

    def write(self, s: str) -> int:
        try:
            sys.stdout.write(printable_lines(s) if self.escaped else s)
        except UnicodeEncodeError as exc:
            msg = (
                f"the output's encoding ({exc.encoding}) cannot hold this data: set PYTHONIOENCODING=utf-8 "
                "(or a UTF-8 locale), or write it to a file (export --out FILE)"
            )
            raise CommandError(msg) from None
        return len(s)

    def flush(self) -> None:
        sys.stdout.flush()


#: The width of a report written to a pipe or a file when COLUMNS names none (rich takes 80 then, and
#: broke status lines in the middle of a figure).
PIPED_WIDTH = 200


def report_console() -> Console:
    """A rich console for a report: the terminal's width, or COLUMNS, or PIPED_WIDTH into a pipe or a file."""
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=PIPED_WIDTH if piped else None)


def data_out() -> IO[str]:
    """Where a command writes data (CSV, JSON lines): stdout exactly as produced when it is piped or
    redirected, escaped for reading when it is a terminal (a cell cannot move the cursor or retitle it)."""
    return cast(IO[str], _DataOut(escaped=sys.stdout.isatty()))


def echo_warnings(campaign: Campaign) -> None:
    """The campaign file's warnings (`campaign_summary.campaign_warnings`), on stderr: a command that acts
    on the file says what `validate` would."""
    from orchestrator.campaign_summary import campaign_warnings
    from orchestrator.core.text import printable

    for warning in campaign_warnings(campaign):
        click.secho(printable(f"warning: {warning}"), fg="yellow", bold=True, err=True)


def echo_missing_credentials(campaign: Campaign, settings: Settings) -> None:
    """On stderr, each account of `campaign` with no key pair in this environment: submit still creates the
    campaign (the workers may run with credentials of their own), but a worker without them pauses it at
    its first send (`Orchestrator.NoCredentials`)."""
    from orchestrator.core.credentials import DEFAULT_ACCOUNT
    from orchestrator.core.text import printable

    for account in sorted({i.account for i in campaign.identities}):
        if settings.usable_credentials(account) is None:
            how = (
                "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY do not both hold a value"
                if account == DEFAULT_ACCOUNT
                else "ORCHESTRATE_ACCOUNTS has no such name"
            )
            warning = (
                f"warning: account {account!r} has no credentials here ({how}): a worker without "
                "them pauses the campaign at its first send (Orchestrator.NoCredentials); "
                "`orchestrate check` tests them against Tencent"
            )
            click.secho(printable(warning), fg="yellow", bold=True, err=True)
