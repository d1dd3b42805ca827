"""Reading the emulator's world file (YAML or JSON) safely: a regular file, bounded, every problem one line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from orchestrator.input_files import describe_os_error, open_regular
from orchestrator.ses.emulator.params import MAX_JSON_DEPTH, too_deep
from orchestrator.ses.emulator.world import World, WorldFileError, validate_world

#: A world file is a few kilobytes; anything past this is refused before it is parsed.
MAX_WORLD_FILE_BYTES = 1 << 20
#: An integer written with more characters than this is refused (Python will not print a 5,000-digit one).
MAX_INT_CHARS = 100


def load_world(path: str | Path) -> World:
    """Read a world file (YAML, or JSON); each problem names the file, its line and the field."""
    p = Path(path)
    text = _read(p)
    data = _parse_json(p, text) if p.suffix == ".json" else _parse_yaml(p, text)
    if not isinstance(data, dict):
        raise WorldFileError([f"{p}:1: a world file is a mapping (accounts:, identities:, templates:, ...)"])
    return validate_world(data, lambda loc: f"{p}:{_line_of(text, loc)}: ")


def _read(p: Path) -> str:
    try:
        with open_regular(p) as f:
            raw = f.read(MAX_WORLD_FILE_BYTES + 1)
    except OSError as exc:
        raise WorldFileError([f"{p}: {describe_os_error(exc, 'a world file')}"]) from None
    if len(raw) > MAX_WORLD_FILE_BYTES:
        msg = f"{p}: the file is larger than {MAX_WORLD_FILE_BYTES >> 20} MiB; a world file is a few kilobytes"
        raise WorldFileError([msg])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WorldFileError([f"{p}:{line}: not UTF-8 text; save the file as UTF-8"]) from None


def _json_int(text: str) -> int:
    if len(text) > MAX_INT_CHARS:
        msg = f"an integer longer than {MAX_INT_CHARS} characters"
        raise ValueError(msg)
    return int(text)


def _parse_json(p: Path, text: str) -> Any:
    if too_deep(text):
        raise WorldFileError([f"{p}: brackets nest deeper than {MAX_JSON_DEPTH} levels or do not match"])
    try:
        return json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise WorldFileError([f"{p}:{exc.lineno}: {exc.msg}"]) from None
    except ValueError as exc:  # our own words (_json_int): no value in them
        raise WorldFileError([f"{p}: refused: {exc}"]) from None


class _WorldLoader(yaml.SafeLoader):
    """SafeLoader refusing an integer too long to convert or to print."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        if len(str(node.value)) > MAX_INT_CHARS:
            problem = f"refused: an integer longer than {MAX_INT_CHARS} characters"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        return super().construct_yaml_int(node)


_WorldLoader.add_constructor("tag:yaml.org,2002:int", _WorldLoader.construct_yaml_int)


def _parse_yaml(p: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_WorldLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise WorldFileError([f"{p}:{line}: {exc.problem or exc.context or 'not YAML'}"]) from None
    except yaml.YAMLError as exc:
        raise WorldFileError([f"{p}: {' '.join(str(exc).split())[:200]}"]) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise WorldFileError([f"{p}: the file nests too deeply to be a world file"]) from None


def _line_of(text: str, loc: Sequence[int | str]) -> int:
    """The 1-based line of the deepest YAML node on the path `loc` (1 if the text cannot be composed)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return 1
    line = 0
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line
        node = _child(node, part)
    if node is not None:
        line = node.start_mark.line
    return line + 1


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if str(k.value) == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
