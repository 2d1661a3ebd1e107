"""No function or method in application code is longer than 80 lines (STYLE.md: "functions read
top to bottom in one screen: validate, then act"). An AST walk of every module of the app
packages, migrations and tests excluded; bench/ and clients/ are not application code. A
function's length is `end_lineno - lineno + 1`: from its `def` line to its last line, docstring
and comments included, decorators not. Nested functions are measured on their own as well as
inside their parent."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = (
    "marketplace",
    "experts",
    "billing",
    "oversight",
    "review_requests",
    "evidence",
    "datasets",
    "inloop_site",
)
EXCLUDED_DIRS = {"migrations", "tests"}
MAX_LINES = 80


@dataclass(frozen=True)
class LongFunction:
    path: str
    line: int
    name: str
    length: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} is {self.length} lines (max {MAX_LINES})"


def long_functions(source: str, path: str) -> list[LongFunction]:
    found = []
    parents: dict[ast.AST, ast.AST] = {}
    tree = ast.parse(source, filename=path)
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = node.end_lineno - node.lineno + 1
        if length > MAX_LINES:
            found.append(LongFunction(path, node.lineno, _qualified_name(node, parents), length))
    return sorted(found, key=lambda item: item.line)


def _qualified_name(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    names = []
    while not isinstance(node, ast.Module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        node = parents[node]
    return ".".join(reversed(names))


def application_modules() -> list[Path]:
    modules = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if EXCLUDED_DIRS.isdisjoint(path.relative_to(ROOT).parts):
                modules.append(path)
    return modules


def test_the_walk_covers_every_app():
    modules = application_modules()
    for app in APPS:
        assert any(path.relative_to(ROOT).parts[0] == app for path in modules), app
    assert not any("migrations" in path.parts for path in modules)
    assert (ROOT / "billing" / "services.py") in modules


def test_no_function_is_longer_than_80_lines():
    found = []
    for path in application_modules():
        found.extend(long_functions(path.read_text(), str(path.relative_to(ROOT))))
    assert not found, "split these (validate, then act):\n" + "\n".join(map(str, found))


def _planted(body_lines: int, indent: str = "    ") -> str:
    body = "".join(f"{indent}x{i} = {i}\n" for i in range(body_lines))
    return f'def planted():\n{indent}"""Docstring."""\n{body}'


def test_a_planted_81_line_function_is_named():
    source = _planted(79)  # def + docstring + 79 statements = 81 lines
    assert long_functions(source, "planted.py") == [LongFunction("planted.py", 1, "planted", 81)]


def test_an_80_line_function_passes():
    assert long_functions(_planted(78), "planted.py") == []


def test_a_long_method_and_a_long_nested_function_are_named_with_their_owner():
    method = "class Service:\n" + "".join(
        f"    {line}\n" for line in _planted(79).splitlines()
    ).replace("def planted():", "async def act(self):")
    nested = "def outer():\n" + "".join(f"    {line}\n" for line in _planted(79).splitlines())
    found = long_functions(method + "\n\n" + nested, "planted.py")
    assert [(item.name, item.length) for item in found] == [
        ("Service.act", 81),
        ("outer", 82),
        ("outer.planted", 81),
    ]
