"""Reading a campaign file: the YAML (with line numbers for every error), the model's checks, the CSV header.

Every problem a user can make is a `Problem` (file, line, field, message), never a traceback.
`check_campaign` collects them all; `load_campaign` raises `CampaignFileError` carrying them.
The YAML itself is read in orchestrator/campaign_yaml.py.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.campaign_yaml import (
    MAX_CAMPAIGN_FILE_BYTES,
    Loc,
    Problem,
    clip,
    field_name,
    locate,
    parse_yaml,
    read_text,
    scalar_source,
)
from orchestrator.core.addresses import shown
from orchestrator.core.campaign import Campaign, ColumnSource, Recipients
from orchestrator.core.domains import address_group
from orchestrator.input_files import describe_os_error, open_regular
from orchestrator.recipients import LoadStats, RecipientFileError, read_header, scan_recipients

__all__ = [
    "MAX_CAMPAIGN_FILE_BYTES",
    "CampaignFileError",
    "Problem",
    "campaign_fingerprint",
    "check_campaign",
    "check_campaign_and_rows",
    "count_recipients",
    "load_campaign",
    "read_csv_header",
]

#: A message from the model that starts with a relative field path ("identities[2].id: ...")
#: names a deeper place than the validator it came from.
_INDEX = r"(?:\[\d+\]|\['[^'\n]*'\])"  # a list index, or a mapping's key in quotes
_PATH_PREFIX = re.compile(rf"(?P<path>[a-z_][a-z0-9_]*{_INDEX}*(?:\.[a-z_][a-z0-9_]*{_INDEX}*)*): (?P<rest>.+)", re.S)
_PATH_PART = re.compile(r"([a-z_][a-z0-9_]*)|\[(\d+)\]|\['([^'\n]*)'\]")
_CHUNK_BYTES = 1 << 20


class CampaignFileError(Exception):
    """A campaign file that cannot be used; str() is one printable line per problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_campaign(path: Path | str) -> Campaign:
    """The campaign of the file at `path`, its recipients file made absolute. Raises CampaignFileError."""
    campaign, problems = check_campaign(path)
    if problems or campaign is None:
        raise CampaignFileError(problems)
    return campaign


def check_campaign(path: Path | str) -> tuple[Campaign | None, list[Problem]]:
    """Every problem of the file at `path`, including its recipient CSV's header.

    The campaign is None when the model could not be built; otherwise it is returned even when
    other problems (a duplicate YAML key, a missing CSV column) were found.
    """
    campaign, _, problems = _check(Path(path), rows=False)
    return campaign, problems


def check_campaign_and_rows(path: Path | str) -> tuple[Campaign | None, LoadStats | None, list[Problem]]:
    """`check_campaign`, then every row of the CSV read as submit reads it: the counts, or the problem."""
    return _check(Path(path), rows=True)


def _check(path: Path, rows: bool) -> tuple[Campaign | None, LoadStats | None, list[Problem]]:
    name = str(path)
    text, problems = read_text(path, name)
    if text is None:
        return None, None, problems
    root, data, problems = parse_yaml(text, name)
    if root is None:
        return None, None, problems
    campaign, model_problems = _validate(data, root, name)
    problems += model_problems
    stats = None
    if campaign is not None:
        recipients = _resolved(campaign.recipients, path)
        campaign = campaign.model_copy(update={"recipients": recipients})
        problems += _check_csv(recipients, _columns(campaign.template.data), root, name)
        if rows and not problems:
            try:
                stats = scan_recipients(campaign)
            except RecipientFileError as exc:
                problems.append(_csv_problem(exc, root, name))
            else:
                if stats.valid == 0:  # submit would refuse it: say so now, with why the rows were refused
                    problems.append(_no_valid_row(stats, campaign.recipients.file, root, name))
    elif isinstance(data, dict):
        # The model failed elsewhere: still check the CSV when the recipients block is sound.
        try:
            recipients = _resolved(Recipients.model_validate(data.get("recipients")), path)
        except ValidationError:
            pass
        else:
            problems += _check_csv(recipients, _columns(_raw_data(data)), root, name)
    return campaign, stats, sorted(dict.fromkeys(problems), key=lambda p: (p.file != name, p.line or 0))


def read_csv_header(campaign: Campaign) -> list[str]:
    """The header row of the campaign's recipient CSV. Raises CampaignFileError when unreadable."""
    try:
        return read_header(campaign.recipients)
    except RecipientFileError as exc:
        raise CampaignFileError([_csv_problem(exc)]) from None


def count_recipients(campaign: Campaign) -> int:
    """How many recipients submit would load (valid addresses, each once; before suppression)."""
    try:
        return scan_recipients(campaign).valid
    except RecipientFileError as exc:
        raise CampaignFileError([_csv_problem(exc)]) from None


def count_groups(campaign: Campaign) -> tuple[int, dict[str, int]]:
    """How many recipients submit would load, and how many of them each provider group has (most first)."""
    groups: Counter[str] = Counter()
    try:
        valid = scan_recipients(campaign, lambda row: groups.update((address_group(row.address),))).valid
    except RecipientFileError as exc:
        raise CampaignFileError([_csv_problem(exc)]) from None
    return valid, dict(sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])))


def campaign_fingerprint(path: Path | str) -> str:
    """sha256 of the campaign file's bytes and its recipient CSV's bytes: same files, same value.

    The YAML part is length-prefixed so no shift of bytes between the two files gives the same hash.
    """
    campaign = load_campaign(path)
    try:
        with open_regular(Path(path)) as f:
            yaml_bytes = f.read(MAX_CAMPAIGN_FILE_BYTES + 1)
        digest = hashlib.sha256(len(yaml_bytes).to_bytes(8, "big"))
        digest.update(yaml_bytes)
        with open_regular(campaign.recipients.file) as f:
            while chunk := f.read(_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:  # the files changed since they were checked a moment ago
        raise CampaignFileError([Problem(str(path), None, "", describe_os_error(exc))]) from None
    return digest.hexdigest()


# --- the model ------------------------------------------------------------------------------


def _validate(data: Any, root: yaml.Node, name: str) -> tuple[Campaign | None, list[Problem]]:
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"{type(data).__name__} {shown(data)}"
        msg = f"the top level must be a mapping of keys (name: ..., identities: ...), got {kind}"
        return None, [Problem(name, root.start_mark.line + 1, "", msg)]
    try:
        return Campaign.model_validate(data), []
    except ValidationError as exc:
        return None, [_problem_from(err, root, name) for err in exc.errors(include_url=False)]


def _problem_from(err: ErrorDetails, root: yaml.Node, name: str) -> Problem:
    loc: Loc = tuple(err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    m = _PATH_PREFIX.fullmatch(message)
    if m:
        deeper = [int(i) if i else key or quoted for key, i, quoted in _PATH_PART.findall(m["path"])]
        loc, message = (*loc, *deeper), m["rest"]
    field_loc, line = locate(root, loc)
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        message = _unknown_key(loc)
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping (indented key: value lines, or {{key: value}}), got {_show(value)}"
    elif err["type"] == "list_type":
        message = f"expected a list (lines starting with '- ', or [a, b]), got {_show(value)}"
    elif err["type"] == "string_type" and isinstance(value, bool | int | float):
        # Quote what was written: `007` read as 7 must come back as '007', `0x1F` as '0x1F', not 31.
        written = scalar_source(root, loc) or str(value)
        message = f"expected text, got {shown(value)}; put it in quotes: '{clip(written, 60)}'"
    elif err["type"] == "finite_number":
        message = f"must be a finite number, got {shown(value)} (.inf and .nan are not numbers here)"
    elif err["type"] not in ("value_error", "data_source") and isinstance(value, str | int | float | bool):
        message = f"{message} (got {_show(value)})"
    return Problem(name, line, field_name(field_loc), clip(message))


def _show(value: object) -> str:
    return shown(value)


def _unknown_key(loc: Loc) -> str:
    allowed = _allowed_keys(loc[:-1])
    message = f"unknown key {shown(loc[-1])}"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if len(str(loc[-1])) <= 100 else []
    if close:
        message += f"; did you mean {close[0]!r}?"
    if allowed:
        message += f" (allowed here: {', '.join(allowed)})"
    return message


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the model accepts at `loc` (pydantic's location, union tags included)."""
    tp: Any = Campaign
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f.annotation for n, f in tp.model_fields.items()}
            tp = fields.get(str(part))
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) in (Union, UnionType):
            tp = next((a for a in get_args(tp) if getattr(_unwrap(a), "__name__", None) == part), None)
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` until a model, a container or a real union is left."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif (
            get_origin(tp) in (Union, UnionType) and len(members := [a for a in get_args(tp) if a is not NoneType]) == 1
        ):
            tp = members[0]
        else:
            return tp


# --- the recipient CSV ----------------------------------------------------------------------


def _resolved(recipients: Recipients, yaml_path: Path) -> Recipients:
    """`recipients` with its file made absolute, relative paths read from the YAML's folder."""
    file = recipients.file
    with contextlib.suppress(RuntimeError):  # `~nosuchuser/...`: kept as written, then found missing
        file = file.expanduser()
    if not file.is_absolute():
        file = yaml_path.parent / file
    try:
        file = file.resolve()
    except (RuntimeError, OSError):  # a symlink loop (Python 3.11): opening it names the problem
        file = Path(os.path.abspath(file))
    return recipients.model_copy(update={"file": file})


def _columns(data: Mapping[str, object]) -> list[tuple[Loc, str]]:
    """(place, column) of every `{column: X}` of template.data."""
    out: list[tuple[Loc, str]] = []
    for key, source in data.items():
        column = source.column if isinstance(source, ColumnSource) else None
        if isinstance(source, dict) and isinstance(source.get("column"), str):
            column = source["column"]
        if column is not None:
            out.append((("template", "data", key, "column"), column))
    return out


def _raw_data(data: dict[Any, Any]) -> dict[str, object]:
    template = data.get("template")
    raw = template.get("data") if isinstance(template, dict) else None
    return {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}


def _yaml_char(ch: str) -> str:
    """How to write a one-character separator in the campaign file."""
    return '"\\t"' if ch == "\t" else f'"{ch}"'


def _no_valid_row(stats: LoadStats, csv: Path, root: yaml.Node, name: str) -> Problem:
    """A CSV none of whose rows is a recipient, at the campaign file's recipients.file key."""
    field_loc, line = locate(root, ("recipients", "file"))
    if stats.total == 0:
        why = "it has a header and no data row"
    else:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in stats.invalid_reasons.most_common(3))
        first = f"; {stats.invalid_examples[0]}" if stats.invalid_examples else ""
        why = f"none of its {stats.total:,} rows is a valid recipient ({reasons}{first})"
    return Problem(name, line, field_name(field_loc), clip(f"{csv}: {why}"))


def _csv_problem(exc: RecipientFileError, root: yaml.Node | None = None, name: str = "") -> Problem:
    """The problem of the CSV: at its recipients.* key in the campaign file when the fix is there."""
    if exc.setting is not None:
        key, message = exc.setting
        if root is not None:
            field_loc, line = locate(root, tuple(key.split(".")))
            return Problem(name, line, field_name(field_loc), message)
        return Problem(exc.file, None, key, message)
    column = "" if exc.column is None else f"column {clip(exc.column, 40)}"
    return Problem(exc.file, exc.line, column, exc.message)


def _check_csv(recipients: Recipients, columns: list[tuple[Loc, str]], root: yaml.Node, name: str) -> list[Problem]:
    def problem(loc: Loc, message: str) -> Problem:
        field_loc, line = locate(root, loc)
        return Problem(name, line, field_name(field_loc), clip(message))

    try:
        header = read_header(recipients)
    except RecipientFileError as exc:
        return [_csv_problem(exc, root, name)]
    csv_name = recipients.file.name
    counts = Counter(header)
    problems = [
        problem(("recipients", "file"), f"column {shown(col)} appears twice in the header of {csv_name}")
        for col in sorted(c for c, n in counts.items() if n > 1)[:10]
    ]
    wanted = [(("recipients", "email_column"), recipients.email_column), *columns]
    hint = " (it starts with a byte-order mark: use encoding utf-8-sig)" if header[0].startswith("\ufeff") else ""
    if not hint and len(header) == 1:  # one column: most likely another separator than the one set
        found = next((d for d in ";\t|," if d != recipients.delimiter and d in header[0]), None)
        if found is not None:
            hint = f" (the header looks separated by {found!r}: set recipients.delimiter: {_yaml_char(found)})"
    for loc, column in wanted:
        if column not in counts:
            listed = clip(", ".join(header), 200)
            msg = f"no column {shown(column)} in the header of {csv_name} (columns: {listed}){hint}"
            problems.append(problem(loc, msg))
    return problems
