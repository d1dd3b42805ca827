"""Generated campaign files: a valid campaign bent in known ways (the field each bend must be reported at),
then maybe damaged as bytes (BOMs, NUL and control bytes, bytes of another encoding, tabs, cuts, long lines).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

import yaml

BASE: dict[str, Any] = {
    "name": "spring-news",
    "mode": "warmup",
    "timezone": "Asia/Seoul",
    "sending_window": "08:00-22:00",
    "identities": [
        {"id": "news-a", "from": "Acme News <news@a.example.com>", "daily_quota": 500},
        {"id": "news-b", "from": "Acme News <news@b.example.com>"},
    ],
    "pool": {"multiplier": 5},
    "plan": {"table": "default", "scale": 1.0},
    "template": {"id": 12345, "subject": "Spring news for {{name}}", "data": {"name": {"column": "first_name"}}},
    "recipients": {"file": "recipients.csv", "email_column": "email", "shuffle_seed": 42},
    "retry": {"max_attempts": 8, "base_delay_s": 30, "max_delay_s": 3600},
}
CSV = "email,first_name\njiwoo@naver.com,Jiwoo\n"

#: (path, a value the model must refuse there): the problem must name this field.
WRONG: list[tuple[tuple[str | int, ...], Any]] = [
    (("name",), ["a", "list"]),
    (("name",), {"a": 1}),
    (("mode",), "turbo"),
    (("timezone",), "Mars/Olympus_Mons"),
    (("sending_window",), "25:00-26:00"),
    (("identities",), "news-a"),
    (("identities", 0, "id"), {"x": 1}),
    (("identities", 1, "from"), "not an address"),
    (("identities", 0, "daily_quota"), -5),
    (("pool", "multiplier"), "many"),
    (("plan", "scale"), -1),
    (("template", "id"), "twelve"),
    (("template", "subject"), ""),
    (("template", "data"), [1, 2]),
    (("recipients", "email_column"), ["e"]),
    (("recipients", "delimiter"), "ab"),
    (("recipients", "max_row_bytes"), 1),
    (("retry", "max_attempts"), 0),
    (("retry", "base_delay_s"), ".nan"),
]
REQUIRED = ["name", "identities", "template", "recipients"]
#: Text a hostile file may hold in keys and values.
ODD = ["\x1b[31m", "\u202e", "\ufeff", "'\"", "{{x}}", "=cmd|' /C calc'!A0", "<script>", "한국어", "\U0001f4e7", "\\"]


@dataclass
class YamlCase:
    """A campaign file's bytes and the fields whose problems it must report (when not damaged as bytes)."""

    data: bytes
    fields: list[tuple[str | int, ...]] = field(default_factory=list)
    damaged: bool = False

    @property
    def field_names(self) -> set[str]:
        return {field_name(loc) for loc in self.fields}


def field_name(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _odd_text(rng: random.Random) -> str:
    n = rng.choice([1, 3, 10, 10, 100, 100, 1000])
    return "".join(rng.choice([*ODD, "a", "b", " ", chr(rng.randrange(0x20, 0x3000))]) for _ in range(n))


def _odd_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 2 else 5)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1, 2**70, 1e308, float("inf")])
    if kind in (1, 2, 3, 4):
        return _odd_text(rng)
    if kind in (5, 6):
        return [_odd_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_odd_text(rng)[:50]: _odd_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _set(doc: Any, loc: tuple[str | int, ...], value: Any) -> None:
    for part in loc[:-1]:
        doc = doc[part]
    doc[loc[-1]] = value


def _mappings(doc: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of the campaign's own mappings (where an unknown key is an error)."""
    out: list[tuple[str | int, ...]] = []
    if isinstance(doc, dict) and loc[:2] != ("template", "data"):
        out.append(loc)
        for k, v in doc.items():
            out += _mappings(v, (*loc, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _mappings(v, (*loc, i))
    return out


def _expect(fields: list[tuple[str | int, ...]], loc: tuple[str | int, ...]) -> None:
    """Expect a problem at `loc`, unless one is expected around it already (it covers this one).

    A problem expected inside what `loc` replaced no longer exists.
    """
    if any(loc[: len(f)] == f for f in fields):
        return
    fields[:] = [f for f in fields if f[: len(loc)] != loc]
    fields.append(loc)


def _bend(rng: random.Random, doc: dict[str, Any], fields: list[tuple[str | int, ...]]) -> None:
    """One change the model must refuse, and the field the problem must name."""
    kind = rng.randrange(3)
    try:
        if kind == 0:
            loc, value = rng.choice(WRONG)
            _set(doc, loc, float("nan") if value == ".nan" else copy.deepcopy(value))
            _expect(fields, loc)
        elif kind == 1:
            where = rng.choice(_mappings(doc))
            key = "x" + _odd_text(rng)[:80]
            target: Any = doc
            for part in where:
                target = target[part]
            target[key] = _odd_value(rng)
            _expect(fields, (*where, key))
        elif (key := rng.choice(REQUIRED)) in doc:
            del doc[key]
            _expect(fields, (key,))
    except (KeyError, IndexError, TypeError):  # the place was bent away by an earlier change
        pass


def _damage(rng: random.Random, data: bytes) -> bytes:
    """Bytes a broken editor, a concatenation or a wrong export leaves behind."""
    pos = rng.randrange(len(data) + 1)
    kind = rng.randrange(7)
    if kind == 0:
        return b"\xef\xbb\xbf" * rng.randint(1, 3) + data
    if kind == 1:
        return data[:pos] + bytes([rng.choice([0, 1, 7, 8, 0x1B, 0x7F, 0x0B, 0x0C])]) + data[pos:]
    if kind == 2:
        return data[:pos] + rng.choice([b"\xff", b"\xc0\xaf", "김".encode("cp949"), b"\xe9"]) + data[pos:]
    if kind == 3:
        return data.replace(b"\n  ", b"\n\t", rng.randint(1, 3))
    if kind == 4:
        return data[:pos]
    if kind == 5:
        return data[:pos] + b"#" + b"x" * rng.choice([500, 500, 20_000]) + b"\n" + data[pos:]
    return data.replace(b"\n", b"\r\n") if rng.random() < 0.5 else data.replace(b"\n", b"\r")


def yaml_case(seed: int) -> YamlCase:
    """A campaign file: the valid base, 0 to 3 known bends, sometimes odd values, sometimes damaged bytes."""
    rng = random.Random(seed)
    doc = copy.deepcopy(BASE)
    case = YamlCase(b"")
    for _ in range(rng.randint(0, 3)):
        _bend(rng, doc, case.fields)
    text = yaml.safe_dump(doc, allow_unicode=rng.random() < 0.5, sort_keys=False, width=rng.choice([80, 10**6]))
    case.data = text.encode("utf-8")
    if rng.random() < 0.4:
        case.data = _damage(rng, case.data)
        case.damaged = True
    return case
