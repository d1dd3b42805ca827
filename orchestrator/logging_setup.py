"""Logging set up once: structlog key-value events, console on a TTY, JSON lines otherwise (the libraries' too)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

from orchestrator.core.clock import Clock, SystemClock
from orchestrator.core.text import PIPELINE_ERROR, printable, without_pipeline_command

#: The clocks log lines are stamped by, innermost last (`stamped_by`); none: the wall clock.
_STAMP_CLOCKS: list[Clock] = []
_WALL = SystemClock()


@contextlib.contextmanager
def stamped_by(clock: Clock) -> Iterator[None]:
    """Within it, log lines carry `clock`'s time (a simulation's warnings, at the virtual moment they happened)."""
    _STAMP_CLOCKS.append(clock)
    try:
        yield
    finally:
        _STAMP_CLOCKS.remove(clock)


def _timestamp(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """An ISO UTC "timestamp", as structlog's TimeStamper writes it, from the clock of `stamped_by`, if any."""
    at = (_STAMP_CLOCKS[-1] if _STAMP_CLOCKS else _WALL).now()
    event["timestamp"] = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return event


def _printable_values(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """On a terminal, text from data (a provider's message, a campaign's fields) cannot drive it.

    The formatted traceback keeps its lines; JSON lines need nothing (JSON escapes controls).
    """
    return {k: printable(v) if isinstance(v, str) and k != "exception" else v for k, v in event.items()}


def _no_pipeline_commands(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """A Redis error's message or traceback (arq logs a failed job's) without the pipeline command redis-py
    quotes in it: its arguments can be recipients' addresses and data."""
    return {
        k: without_pipeline_command(v) if isinstance(v, str) and PIPELINE_ERROR in v else v for k, v in event.items()
    }


def configure_logging(fmt: Literal["auto", "console", "json"] = "auto", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger. Safe to call more than once."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    # Ours and the libraries' records alike: level, time, traceback, no pipeline command, safe on a terminal.
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        _timestamp,
        structlog.processors.format_exc_info,
        _no_pipeline_commands,
        *([_printable_values] if use_console else []),
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # The libraries' own records (arq, aiohttp, asyncio, httpx) in the same format as ours, so a JSON
    # log stays one JSON object a line; their INFO chatter (a line per arq job) stays off.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), handlers=[handler], force=True)


class OneLineHttpLog(logging.Logger):
    """aiohttp's server logger: a malformed or failed request is one warning event line, never a traceback.

    `describe(record, error)` gives the event's fields: the emulator quotes aiohttp's message, the web
    process only the error's kind (its paths hold tokens).
    """

    def __init__(
        self, name: str, event: str, describe: Callable[[logging.LogRecord, BaseException | None], dict[str, str]]
    ) -> None:
        super().__init__(name, logging.DEBUG)
        self._event = event
        self._describe = describe

    def handle(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is None and record.levelno < logging.WARNING:
            return  # aiohttp's debug chatter ("Ignored premature client disconnection")
        structlog.get_logger(self.name).warning(self._event, **self._describe(record, error))
