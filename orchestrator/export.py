"""`export`: one row per data row of a campaign's recipient file, in file order, with what became of it.

Streamed: a chunk of CHUNK rows at a time is read from Redis (the dropped rows, then the ledger,
the attempts, the MessageId map and the events of the loaded ones), so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import functools
import json
import math
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from redis.asyncio import Redis

from orchestrator.core import ledger_state
from orchestrator.core.callback_event import BadEventError, parse_event
from orchestrator.core.campaign import Campaign
from orchestrator.core.quality import metric_of
from orchestrator.core.recipient_trace import Dropped, parse_history
from orchestrator.core.spreadsheet import EXPORT_COLUMNS, neutralise
from orchestrator.core.text import json_printable
from orchestrator.store import campaigns, compaction, keys, trace_index
from orchestrator.store.feedback import parse_sent
from orchestrator.store.ledger import record_address
from orchestrator.store.scripts import source as script_source
from orchestrator.store.stored_values import MAX_TIME_S, whole

#: The columns, in order; `email` so the file reads back as a recipient file.
COLUMNS: Final = EXPORT_COLUMNS
CHUNK: Final = 5000


class ExportError(Exception):
    """The campaign cannot be exported (it has no per-row data: submitted by an older version)."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    record: str | None
    state: str | None
    history: str | None


#: The first second a datetime can show (0001-01-01T00:00:00Z).
FIRST_TIME_S = -62_135_596_800.0


def when(at: float | None) -> str:
    """`at` as UTC ISO 8601 to the second, as datetime.isoformat writes it, without a datetime per row."""
    if at is None:
        return ""
    if not (math.isfinite(at) and FIRST_TIME_S <= at <= MAX_TIME_S):  # the years 1 .. 9999
        return "?"  # a damaged stored time: no date holds it
    s = math.floor(at)
    day, rem = divmod(s, 86400)
    return f"{_date(day)}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}+00:00"


@functools.lru_cache(maxsize=64)
def _date(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, tz=UTC).date().isoformat()


async def rows(redis: Redis, cid: str) -> AsyncIterator[dict[str, Any]]:
    """Every data row of the campaign's file, in file order, as a dict of COLUMNS."""
    meta = await redis.hmget(keys.campaign(cid), ["submit", "trace_buckets"])
    await _not_compacted(redis, cid)
    if meta[1] is None:
        msg = f"campaign {cid} was submitted before per-row results were kept: it cannot be exported"
        raise ExportError(msg)
    total = _total(cid, meta[0])
    idx = 0
    for first in range(1, total + 1, CHUNK):
        last = min(total, first + CHUNK - 1)
        dropped = await _dropped(redis, cid, first, last)
        n = last - first + 1 - len(dropped)
        loaded = await _loaded(redis, cid, idx, n)
        out: list[dict[str, Any]] = []
        it = iter(loaded)
        for row in range(first, last + 1):
            d = dropped.get(row)
            out.append(_dropped_row(d) if d is not None else _loaded_row(row, next(it)))
        await _add_sends(redis, out)
        # Compaction marks the campaign before it removes a key: a mark seen only now may have cut this
        # chunk's reads short (records read as empty addresses, states as queued): refuse, write nothing.
        await _not_compacted(redis, cid, while_exporting=True)
        idx += n
        for r in out:
            yield r


def _total(cid: str, stored: str | None) -> int:
    """The data rows submit read, from the campaign's stored submit counts."""
    try:
        counts = json.loads(stored or "{}")
        return whole(str(counts.get("total", 0)), "count of rows")
    except (ValueError, AttributeError):  # not JSON, not an object, not a count
        msg = f"campaign {cid}: its stored submit counts cannot be read, so neither can its rows"
        raise ExportError(msg) from None


async def _not_compacted(redis: Redis, cid: str, *, while_exporting: bool = False) -> None:
    """ExportError when the campaign's per-recipient data is compacted, or being compacted."""
    gone = await compaction.compacted(redis, [cid])
    if gone:
        began = " (it began while exporting)" if while_exporting else ""
        msg = f"{compaction.describe(gone[0])}{began}: its rows cannot be exported (`status` shows the summary)"
        raise ExportError(msg)


async def _dropped(redis: Redis, cid: str, first: int, last: int) -> dict[int, Dropped]:
    async with redis.pipeline(transaction=False) as pipe:
        for b in range(first // keys.BUCKET, last // keys.BUCKET + 1):
            pipe.hgetall(keys.dropped_bucket(cid, b * keys.BUCKET))
        buckets = await pipe.execute()
    out: dict[int, Dropped] = {}
    for bucket in buckets:
        for row, raw in bucket.items():
            r = int(row) if str(row).isdigit() else 0  # a damaged row number is no row of the file
            if first <= r <= last:
                out[r] = trace_index.decode_dropped(r, str(raw))
    return out


async def _loaded(redis: Redis, cid: str, start: int, n: int) -> list[_Loaded]:
    """The record, ledger state and history of recipients start .. start+n-1 (whole buckets: no field names to send)."""
    if n <= 0:
        return []
    ck = keys.CampaignKeys(cid)
    buckets = range(start // keys.BUCKET, (start + n - 1) // keys.BUCKET + 1)
    async with redis.pipeline(transaction=False) as pipe:
        for b in buckets:
            pipe.hgetall(f"{ck.rec_prefix}{b}")
            pipe.hgetall(f"{ck.state_prefix}{b}")
            pipe.hgetall(keys.history_bucket(cid, b * keys.BUCKET))
        replies = await pipe.execute()
    records: dict[str, str] = {}
    states: dict[str, str] = {}
    history: dict[str, str] = {}
    for k in range(0, len(replies), 3):
        records.update(replies[k])
        states.update(replies[k + 1])
        history.update(replies[k + 2])
    idxs = [str(i) for i in range(start, start + n)]
    return [_Loaded(records.get(i), states.get(i), history.get(i)) for i in idxs]


def _dropped_row(d: Dropped) -> dict[str, Any]:
    reason = f"duplicate of row {d.detail}" if d.kind == "duplicate" and d.detail else d.detail
    return _row(d.row, d.cell, d.kind, reason)


def _row(row: int, address: str, state: str, reason: str = "", attempts: int = 0, **more: Any) -> dict[str, Any]:
    base = {"row": row, "email": address, "state": state, "reason": reason, "attempts": attempts}
    return base | {"identity": "", "message_id": "", "accepted_at": "", "events": []} | more


def _loaded_row(row: int, got: _Loaded) -> dict[str, Any]:
    address = record_address(got.record or "")
    try:
        entry = ledger_state.parse(got.state)
    except ledger_state.LedgerFormatError:
        return _row(row, address, "unreadable", "the stored ledger state is not in the ledger's format")
    history = parse_history(got.history or "")
    f = entry.fields
    tries = [a.tries for a in history]
    try:
        attempts = max([*tries, int(f.get("attempts") or f.get("attempt") or 0)])
        since = float(f["since"]) if entry.state.value == "in_doubt" else 0.0
    except ValueError:
        return _row(row, address, "unreadable", "the stored ledger state is not in the ledger's format")
    state = entry.state.value
    if state == "accepted":
        attempts = max(attempts, 1)
    reason = f.get("code") or f.get("reason") or (history[-1].code if history and state != "accepted" else "")
    if state == "in_doubt":
        reason = f"in doubt since {when(since)}"
    identity = entry.identity if "grant" in f else (history[-1].identity if history else "")
    return _row(row, address, state, reason, attempts, identity=identity, message_id=f.get("message_id", ""))


async def _add_sends(redis: Redis, out: list[dict[str, Any]]) -> None:
    """Fill in the accepted rows' send time, identity and events from the MessageId map and the message hashes."""
    accepted = [r for r in out if r["message_id"]]
    if not accepted:
        return
    ids = [r["message_id"] for r in accepted]
    script = redis.register_script(script_source("export_sends"))
    replies = await script(keys=[keys.MESSAGE_IDS, *(keys.fb_message(m) for m in ids)], args=ids)
    for r, (sent_raw, fields, dropped) in zip(accepted, replies, strict=True):
        sent = parse_sent(str(sent_raw))
        if sent is not None:
            r["accepted_at"] = when(sent.sent_at)
            r["identity"] = sent.identity
        r["events"] = _events(fields)
        if dropped:
            r["reason"] = _dropped_reason(str(dropped))


def _dropped_reason(stored: str) -> str:
    """An accepted mail Tencent then did not send: the reason its "dropped" event gave."""
    try:
        said = parse_event(json.loads(stored), stored=True).reason
    except (ValueError, BadEventError):
        said = ""
    return f"dropped by Tencent: {said}" if said else "dropped by Tencent"


def _events(fields: list[str]) -> list[str]:
    """The events of a message, oldest first, from its hash's field names ("<event>|<bounce type>|<timestamp>")."""
    seen: list[tuple[int, str]] = []
    for name in fields:
        event, _, rest = str(name).partition("|")
        bounce_type, _, at = rest.partition("|")
        metric = metric_of(event, bounce_type)
        if metric is not None and at.isdigit():
            seen.append((int(at), f"{metric} {when(float(at))}"))
    return [text for _, text in sorted(seen)]


def csv_cells(r: dict[str, Any]) -> list[str]:
    """A row's cells as the CSV holds them, each safe to open in a spreadsheet."""
    cells = [*(str(r[c]) for c in COLUMNS[:-1]), "; ".join(r["events"])]
    return [neutralise(c) for c in cells]


async def write(redis: Redis, cid: str, fmt: str, out: IO[str]) -> int:
    """Write the export to `out` in `fmt` (csv or jsonl); the number of rows."""
    n = 0
    # RFC 4180 line ends, as `suppress export` writes them: a cell holding a bare "\r" is then quoted.
    writer = csv.writer(out, lineterminator="\r\n")
    found = rows(redis, cid)
    first = await anext(found, None)  # a campaign that cannot be exported says so before any byte
    if fmt == "csv":
        writer.writerow(COLUMNS)
    while first is not None:
        if fmt == "csv":
            writer.writerow(csv_cells(first))
        else:
            out.write(json_printable(json.dumps(first, ensure_ascii=False)) + "\n")
        n += 1
        first = await anext(found, None)
    return n


async def recipient_file(redis: Redis, cid: str) -> Path | None:
    """The recipient file the campaign was submitted from (resolved at submit); None when its spec is unreadable."""
    spec = await campaigns.load_spec(redis, cid)
    return spec.recipients.file if isinstance(spec, Campaign) else None


async def write_file(path: Path, produce: Callable[[IO[str]], Awaitable[int]], keep: Path | None = None) -> int:
    """Write through `produce` into a temporary file beside `path`, then put it in place: never half a file.

    A symlink is written through (the file it names is replaced, the link kept); anything at `path` that
    is not a regular file (a device, a FIFO, a socket, a folder) is refused with OSError before anything
    is written, and so is `keep` (the campaign's recipient file), by any name it has. The file gets the
    mode of the one it replaces, or 0666 less the umask, as any new file would.
    """
    path, mode = _target(path)
    if keep is not None and _same_file(path, keep):
        # The export of a campaign written over its own list would replace the list with the report on it.
        raise OSError(errno.EINVAL, "it is the campaign's recipient file: write the export elsewhere")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            n = await produce(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # one rename, once the file is whole
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # the half-written file
        raise
    return n


def _target(path: Path) -> tuple[Path, int]:
    """The file `path` names (through symlinks) and the mode to give it; OSError when it is no regular file."""
    try:
        # Through symlinks to what is there: /dev/stdout is a link to a pipe whose resolved name is no path.
        st = os.stat(path)  # a symlink loop is OSError (ELOOP)
    except FileNotFoundError:
        return Path(os.path.realpath(path)), _new_file_mode()
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EEXIST, "it exists and is not a regular file (a device, a pipe or a folder)")
    return Path(os.path.realpath(path)), stat.S_IMODE(st.st_mode)


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are one file: the same inode when both exist (a hard link, a symlink, another
    spelling), else the same path once symlinks and `..` are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is missing (or unreadable): where they lead is all there is to compare
        return os.path.realpath(a) == os.path.realpath(b)


def _new_file_mode() -> int:
    """0666 less the process's umask: the mode `open` would give a new file."""
    try:  # Linux says it without changing it
        with open("/proc/self/status", encoding="ascii") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)  # elsewhere: read by setting it, and put back at once
        os.umask(umask)
    return 0o666 & ~umask
