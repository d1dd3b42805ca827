"""`export --out`: the file is put in place whole, through a symlink, never over a device or a pipe."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

import pytest

from orchestrator.export import write_file


async def _rows(fh: IO[str]) -> int:
    fh.write("row,email\n1,a@example.com\n")
    return 1


async def test_a_symlink_is_written_through_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert await write_file(link, _rows) == 1
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == "row,email\n1,a@example.com\n"


async def test_a_pipe_is_refused_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        await write_file(fifo, _rows)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(os.listdir(tmp_path)) == ["fifo"]  # no temporary file left


async def test_a_device_is_refused(tmp_path: Path) -> None:
    del tmp_path
    before = os.stat("/dev/null")
    with pytest.raises(OSError, match="not a regular file"):
        await write_file(Path("/dev/null"), _rows)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


async def test_the_mode_follows_the_umask_or_the_file_replaced(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fresh = tmp_path / "fresh.csv"
        await write_file(fresh, _rows)
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
        kept = tmp_path / "kept.csv"
        kept.write_text("x\n", encoding="utf-8")
        kept.chmod(0o604)
        await write_file(kept, _rows)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o604
    finally:
        os.umask(old)


async def test_a_symlink_loop_is_an_os_error_not_a_crash(tmp_path: Path) -> None:
    loop = tmp_path / "loop.csv"
    loop.symlink_to(tmp_path / "loop.csv")
    with pytest.raises(OSError, match="symbolic links"):
        await write_file(loop, _rows)


@pytest.mark.parametrize("name", ["same", "spelled", "symlink", "hardlink", "missing"])
async def test_the_campaigns_recipient_file_is_never_written_over(tmp_path: Path, name: str) -> None:
    """`keep` by any name (another spelling, a symlink, a hard link; gone since submit): refused, left alone."""
    keep = tmp_path / "list.csv"
    keep.write_text("email\nkim@example.com\n", encoding="utf-8")
    out = {"same": keep, "spelled": tmp_path / "sub" / ".." / "list.csv"}.get(name, tmp_path / "other.csv")
    (tmp_path / "sub").mkdir()
    if name == "symlink":
        out.symlink_to(keep)
    elif name == "hardlink":
        os.link(keep, out)
    elif name == "missing":
        out, keep = keep, tmp_path / "sub" / ".." / "list.csv"
        out.unlink()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OSError, match="it is the campaign's recipient file"):
        await write_file(out, _rows, keep=keep)
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no temporary file left
    if name != "missing":
        assert keep.read_text(encoding="utf-8") == "email\nkim@example.com\n"


async def test_another_file_is_written_beside_the_recipient_file(tmp_path: Path) -> None:
    keep = tmp_path / "list.csv"
    keep.write_text("email\nkim@example.com\n", encoding="utf-8")
    assert await write_file(tmp_path / "results.csv", _rows, keep=keep) == 1
    assert keep.read_text(encoding="utf-8") == "email\nkim@example.com\n"
