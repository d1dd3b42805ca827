"""Size limits on the code: no module over 400 lines unless it says it is a data table, no function over 60 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "workers")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Words in the first line of a module's docstring that exempt it from the module limit (never from the function one).
DATA_TABLE_MARK = "data table"


def _is_data_table(tree: ast.Module) -> bool:
    docstring = ast.get_docstring(tree, clean=True)
    return bool(docstring) and DATA_TABLE_MARK in docstring.splitlines()[0].lower()


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method under `tree`, nested ones included, with its dotted name."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{node.name}", node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _offences(name: str, source: str) -> tuple[list[str], list[str]]:
    """(the module if it is too long, each function that is too long) of one module's source."""
    tree = ast.parse(source, filename=name)
    lines = len(source.splitlines())
    long_module = [f"{name}: {lines} lines"] if lines > MAX_MODULE_LINES and not _is_data_table(tree) else []
    long_functions = []
    for qualname, node in _functions(tree):
        # lineno is the `def` line: decorators above it do not count.
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            long_functions.append(f"{name}:{node.lineno} {qualname}: {length} lines")
    return long_module, long_functions


def _offenders() -> tuple[list[str], list[str]]:
    long_modules: list[str] = []
    long_functions: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules, functions = _offences(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
            long_modules += modules
            long_functions += functions
    return long_modules, long_functions


def _function(name: str, body_lines: int, decorators: int = 0, indent: str = "") -> str:
    head = [f"{indent}@staticmethod"] * decorators + [f"{indent}def {name}() -> None:"]
    return "\n".join(head + [f"{indent}    x = {i}" for i in range(body_lines)]) + "\n"


@pytest.mark.parametrize(
    ("source", "long_module", "long_functions"),
    [
        pytest.param('"""Short."""\n' + _function("f", 59), [], [], id="60-line-function-passes"),
        pytest.param(_function("f", 60), [], ["m.py:1 f: 61 lines"], id="61-line-function-fails"),
        pytest.param(
            "class C:\n" + _function("g", 59, decorators=5, indent="    "), [], [], id="decorators-do-not-count"
        ),
        pytest.param("class C:\n" + _function("g", 60, indent="    "), [], ["m.py:2 C.g: 61 lines"], id="method-named"),
        pytest.param("x = 1\n" * 401, ["m.py: 401 lines"], [], id="401-line-module-fails"),
        pytest.param('"""Error codes: a data table."""\n' + "x = 1\n" * 400, [], [], id="data-table-exempt"),
        pytest.param(
            '"""Helpers.\n\nNot a data table."""\n' + "x = 1\n" * 400,
            ["m.py: 403 lines"],
            [],
            id="data-table-only-on-the-first-line",
        ),
    ],
)
def test_limits_count_lines_as_the_rule_says(source: str, long_module: list[str], long_functions: list[str]) -> None:
    """Functions count from `def` to their last line; only a docstring opening with 'data table' exempts a module."""
    assert _offences("m.py", source) == (long_module, long_functions)


def test_no_module_is_over_the_line_limit() -> None:
    """Every module in orchestrator/ and workers/ is at most 400 lines, unless it opens by saying it is a data table."""
    long_modules, _ = _offenders()
    assert long_modules == [], "modules over 400 lines:\n" + "\n".join(long_modules)


def test_no_function_is_over_the_line_limit() -> None:
    """Every function and method in orchestrator/ and workers/ is at most 60 lines from its def to its last line."""
    _, long_functions = _offenders()
    assert long_functions == [], "functions over 60 lines:\n" + "\n".join(long_functions)
