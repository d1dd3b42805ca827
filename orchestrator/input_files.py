"""Opening a user's input file safely: regular files only, never blocking on a FIFO or reading a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

#: What a path that is not a regular file is, for the error message.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotRegularFileError(OSError):
    """The path exists but is not a regular file (a directory, a FIFO, a socket, a device)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"is {kind}, not a regular file")
        self.kind = kind


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for binary reading. Raises NotRegularFileError, or OSError (FileNotFoundError...).

    The path is checked before it is opened (opening a FIFO would wait for a writer, a socket cannot
    be opened at all), and the open file is checked again in case the path changed in between.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(_kind(mode))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(_kind(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def describe_os_error(exc: OSError, what: str = "a regular file") -> str:
    """A short reason for a failed open: 'no such file', 'is a directory, not a regular file', ..."""
    if isinstance(exc, NotRegularFileError):
        return f"is {exc.kind}, not {what}"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return f"cannot be read: {exc.strerror or exc}"
