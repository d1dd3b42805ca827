"""Text from data made safe to print on a terminal: control and bidi characters shown as escapes."""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

#: What a terminal would act on instead of showing: C0 controls (tab and newline too: one record is
#: one line), DEL, C1 controls (0x9b is CSI on some terminals), lone surrogates (they cannot be
#: encoded for output), the bidi controls that reorder what is shown (Trojan Source, CVE-2021-42574)
#: and the line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

#: What `json.dumps(..., ensure_ascii=False)` leaves raw that a terminal would act on: its C0 controls
#: are escaped already (and any left, the indentation's newlines, stand outside strings), the rest not.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

#: The mark at the end of a message cut short (`campaign_yaml.clip`): `mask_secret` looks for secrets cut there.
CUT = "..."
#: The cut marks a message may carry: ours, and the ellipsis of an SDK failure's shortened detail (`ses/failures.py`).
CUT_MARKS = (CUT, "\u2026")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every character a terminal would act on written as a visible escape (`\\x1b`, `\\u202e`).

    Everything else, Korean or emoji included, is left as it is. A backslash is not doubled: the
    result is for reading, not for parsing back.
    """
    return _UNSAFE.sub(_escape, text)


def html_text(text: str) -> str:
    """`text` for an HTML page: what a browser would act on escaped (`<`, `&`, quotes), and what would
    reorder or hide the text around it (bidi overrides, control characters) written as a visible escape."""
    return html.escape(printable(text))


def printable_lines(text: str) -> str:
    """`text` with its line ends kept (CRLF written as LF) and everything else `printable` escapes shown as
    an escape: CSV or JSON lines meant for a terminal."""
    return "\n".join(printable(line) for line in text.replace("\r\n", "\n").split("\n"))


def json_printable(text: str) -> str:
    """JSON text from `json.dumps(..., ensure_ascii=False)` with the characters a terminal acts on written as
    `\\uXXXX` escapes: the same JSON to any parser, Korean and emoji left as they are."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def finite_number(value: str | None) -> float | None:
    """A stored number's text as a finite float; None when absent, not a number, or not finite."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def json_line(data: Any) -> str:
    """`data` as one line of strict JSON for a terminal or a pipe (`json_printable`): a number that is not
    finite (a damaged stored time) is null, never NaN or Infinity, which JSON parsers refuse."""
    return json_printable(json.dumps(_finite(data), ensure_ascii=False, allow_nan=False))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def mask_secret(text: str, secret: str) -> str:
    """`text` with `secret` shown as ***, and also whatever start of it stands just before a cut mark
    (a message cut short inside the secret)."""
    if not secret:
        return text
    # ... and as a message may quote it: escaped by repr (a str's, or the bytes' of a header) or by JSON.
    quoted = {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1], json.dumps(secret)[1:-1]}
    for form in sorted(quoted, key=len, reverse=True):
        text = text.replace(form, "***")
    for mark in CUT_MARKS:
        if mark in text:
            for n in range(len(secret) - 1, 0, -1):
                text = text.replace(secret[:n] + mark, "***" + mark)
    return text


#: redis-py's message for a failed pipeline command quotes the command with its arguments in front of
#: what Redis said ("Command # 3 (HSET <key> <address> <data>) of pipeline caused error: OOM ...").
PIPELINE_ERROR = " of pipeline caused error: "
#: ... up to the last such mark on its line (the arguments are one line: keys, addresses, JSON values).
_PIPELINE_COMMAND = re.compile(r"Command # \d+ \([^\n]*" + re.escape(PIPELINE_ERROR))


def without_pipeline_command(text: str) -> str:
    """`text` (a message, a formatted traceback) without the failed pipeline commands redis-py quotes:
    their arguments can be recipients' addresses and data, which no error line or log may show."""
    return _PIPELINE_COMMAND.sub("", text) if PIPELINE_ERROR in text else text
