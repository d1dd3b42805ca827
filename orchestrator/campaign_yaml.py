"""The campaign file's YAML: read with limits, parsed with the line of every node, duplicate keys found.

Every problem is a `Problem` (file, line, field, message); `locate` maps a field path to its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.core.text import CUT
from orchestrator.input_files import describe_os_error, open_regular

#: A campaign file is a few kilobytes; anything past this is refused before it is parsed.
MAX_CAMPAIGN_FILE_BYTES = 1 << 20
#: YAML nesting deeper than this is refused (the campaign model is at most 5 levels deep).
MAX_YAML_DEPTH = 50
#: The document's nodes counted with every alias expanded: a bound on what anchors can multiply.
MAX_YAML_NODES = 100_000
#: An integer written with more characters than this is refused (Python will not even print a 5,000-digit one).
MAX_INT_CHARS = 100
#: The longest message a problem carries (a value echoed in it is cut anyway).
MAX_MESSAGE_CHARS = 500

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a campaign file, and where: `file:line: field: message`."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{place}: {self.field}: {self.message}" if self.field else f"{place}: {self.message}"


def read_text(path: Path, name: str) -> tuple[str | None, list[Problem]]:
    """The file's text, or None and the problem (unreadable, too large, not UTF-8)."""
    try:
        with open_regular(path) as f:
            raw = f.read(MAX_CAMPAIGN_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Problem(name, None, "", describe_os_error(exc, "a campaign file"))]
    if len(raw) > MAX_CAMPAIGN_FILE_BYTES:
        msg = f"the file is larger than {MAX_CAMPAIGN_FILE_BYTES >> 20} MiB; a campaign file is a few kilobytes"
        return None, [Problem(name, None, "", msg)]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1].hex()
        return None, [Problem(name, line, "", f"not UTF-8 text (byte 0x{byte}); save the file as UTF-8")]


class _LimitError(yaml.MarkedYAMLError):
    """The document is nested too deep or its aliases expand too far."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(None, None, problem, mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader with limits on nesting and on alias expansion (no "billion laughs").

    It also leaves an impossible date ('2026-13-01') as text for the model to reject.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0  # nodes so far, each alias counted as the size of the node it names
        self._sizes: dict[int, int] = {}  # id(node) -> its size, aliases expanded; set once composed

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None:  # an undefined alias is the composer's own error
                if id(node) not in self._sizes:
                    problem = f"the alias *{clip(str(event.anchor), 40)} is inside the node it names"
                    raise _LimitError(problem, event.start_mark)
                self._count(self._sizes[id(node)], event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _LimitError(f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark)
        before = self._expanded
        self._count(1, event)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._expanded - before
        return node

    def _count(self, nodes: int, event: yaml.Event) -> None:
        self._expanded += nodes
        if self._expanded > MAX_YAML_NODES:
            problem = f"aliases expand the document past {MAX_YAML_NODES:,} values (anchors used to multiply data?)"
            raise _LimitError(problem, event.start_mark)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        if len(str(node.value)) > MAX_INT_CHARS:
            raise _LimitError(f"an integer longer than {MAX_INT_CHARS} characters", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return node.value


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def parse_yaml(text: str, name: str) -> tuple[yaml.Node | None, Any, list[Problem]]:
    """(root node, data, problems) of the YAML text; root and data are None when it cannot be parsed."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character, found before any parsing
        line = text[: exc.position].count("\n") + 1
        msg = f"not valid YAML: character #x{exc.character:04x} is not allowed"
        return None, None, [Problem(name, line, "", msg)]
    try:
        root = loader.get_single_node()
        if root is None:
            msg = "the file is empty: a campaign needs at least name, identities, template and recipients"
            return None, None, [Problem(name, None, "", msg)]
        problems = list(_duplicate_keys(root, (), name, set()))  # before merge keys are flattened
        return root, loader.construct_document(root), problems
    except _LimitError as exc:
        mark = exc.problem_mark
        return None, None, [Problem(name, mark.line + 1 if mark else None, "", f"refused: {exc.problem}")]
    except yaml.MarkedYAMLError as exc:
        mark, hint = _yaml_hint(exc)
        at = mark.line + 1 if mark else None
        opened = _unclosed_quote_line(text, at)
        if opened is not None and opened != at:  # the usual cause of a complaint lines further down
            hint = f" (a quote opened on line {opened} is not closed on that line)"
        reason = clip(": ".join(s for s in (exc.context, exc.problem) if s))
        return None, None, [Problem(name, at, "", f"not valid YAML: {reason}{hint}")]
    except yaml.YAMLError as exc:
        return None, None, [Problem(name, None, "", f"not valid YAML: {clip(str(exc))}")]
    finally:
        loader.dispose()


def _yaml_hint(exc: yaml.MarkedYAMLError) -> tuple[Any, str]:
    """Where to point and a plain-words hint for PyYAML's commonest complaints."""
    context, problem = exc.context or "", exc.problem or ""
    if "end of stream" in problem and "quoted scalar" in context and exc.context_mark is not None:
        return exc.context_mark, " (a quote opened on this line is never closed)"  # not the file's last line
    mark = exc.problem_mark or exc.context_mark
    if "'\\t'" in problem:
        return mark, " (indent with spaces, not tabs)"
    if "expected <block end>" in problem:
        return mark, " (check the indentation: this line does not line up with the keys or items above it)"
    if "mapping values are not allowed" in problem:
        return mark, ' (a value holding ": " must be in quotes)'
    return mark, ""


def _unclosed_quote_line(text: str, until: int | None) -> int | None:
    """The first line (up to `until`) that leaves a quoted value open at its end: legal YAML (a quoted
    value may span lines) but, in a campaign file that fails to parse, nearly always a missing quote."""
    for number, raw in enumerate(text.splitlines()[: until or None], start=1):
        quote = ""
        for k, ch in enumerate(raw):
            if quote:
                if ch == quote and not (quote == '"' and k and raw[k - 1] == "\\"):
                    quote = ""
            elif ch in "\"'" and (k == 0 or raw[k - 1] in " :[{,-"):
                quote = ch
            elif ch == "#" and (k == 0 or raw[k - 1] in " \t"):
                break
        if quote:
            return number
    return None


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


def _duplicate_keys(node: yaml.Node, loc: Loc, name: str, seen: set[int]) -> Iterator[Problem]:
    if id(node) in seen:  # an alias: already checked (and `&a [*a]` would never end)
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in first_line:
                msg = f"duplicate key (first on line {first_line[key.value]}); YAML would keep only the last"
                yield Problem(name, line, field_name((*loc, key.value)), msg)
            first_line.setdefault(key.value, line)
            yield from _duplicate_keys(value, (*loc, key.value), name, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, i), name, seen)


def _child(node: yaml.Node | None, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(the node that marks the place, the value) of `part` under `node`, or None."""
    if isinstance(node, yaml.MappingNode):
        for key, value in reversed(node.value):  # the last of duplicate keys is the one used
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part], node.value[part]
    return None


def _walk(root: yaml.Node, loc: Loc) -> tuple[Loc, int | None, yaml.Node | None]:
    """The field path (without pydantic's union tags), the line of the deepest part found, and the node
    the whole path names (None when a part is missing from the file)."""
    node: yaml.Node | None = root
    kept: list[str | int] = []
    line: int | None = None
    for part in loc:
        found = _child(node, part)
        if found is not None:
            line = found[0].start_mark.line + 1
            node = found[1]
            kept.append(part)
        elif not (isinstance(part, str) and (part[:1].isupper() or "[" in part)):
            kept.append(part)  # a missing key: the line stays its parent's
            node = None
    return tuple(kept), line, node


def locate(root: yaml.Node, loc: Loc) -> tuple[Loc, int | None]:
    """The field path (without pydantic's union tags) and the line of the deepest part found."""
    kept, line, _ = _walk(root, loc)
    return kept, line


def scalar_source(root: yaml.Node, loc: Loc) -> str | None:
    """The text a scalar at `loc` was written as (`007`, `yes`, `0x1F`), before YAML read it as a number
    or a boolean; None when the path does not end on a scalar of the file."""
    node = _walk(root, loc)[2]
    return node.value if isinstance(node, yaml.ScalarNode) and node is not root else None


def field_name(loc: Loc) -> str:
    """The field path as the user writes it: `identities[2].id`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
