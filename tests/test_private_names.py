"""Product code uses Django and its libraries through their public API only: an AST scan of every
app package, bench/ and clients/python/ fails on an attribute, an import or a getattr-style
string naming an underscore name that is not our own. A Django or library upgrade can change
its private names without notice; ours it cannot.

A name is "our own" when product code defines it (a function, a class, a module-level name, an
attribute assigned on `self`/`cls`, a parameter or keyword). Names that Django and the libraries
are known to keep private are refused even if we happened to define the same name, so a
coincidence cannot hide `obj._state.db`. A class-body definition of an underscore name that a
library base class already has (an override of a private hook, like `_raw_delete = delete`) is
refused too.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN_PACKAGES = {
    path.parent.name
    for path in ROOT.glob("*/__init__.py")
    if path.parent.name not in {"tests", "scripts"}
}
PRODUCT_DIRS = [
    *(ROOT / name for name in sorted(OWN_PACKAGES)),
    ROOT / "bench",
    ROOT / "clients" / "python",
]
OWN_TOP_LEVEL = OWN_PACKAGES | {"inloop", "bench"}  # inloop: clients/python

# Underscore names that are documented, public API despite the underscore.
ALLOWED = {
    "_meta",  # Model._meta, the documented Model _meta API
    "_replace",  # namedtuple's documented methods and attribute
    "_asdict",
    "_fields",
    "_make",
}

# Private names of Django and its libraries: refused even where product code defines the same.
KNOWN_PRIVATE = {
    "_state",
    "_prefetched_objects_cache",
    "_raw_delete",
    "_from_testcase",
    "_cache",
    "_context",
    "_result_cache",
    "_do_insert",
    "_do_update",
    "_insert",
    "_batched_insert",
    "_get_pk_val",
    "_task_to_db_task",
    "_pool_class",
    "_pool_options",
    "_servers",
}

# Uses still in product code that other work removes; each entry says which and is dropped when
# that lands. (path relative to the repo, name)
PENDING: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    name: str
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.how} {self.name}"


def _is_private(name: str) -> bool:
    return (
        name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and name != "_"
    )


def _own_module(module: str | None) -> bool:
    return module is None or module.split(".")[0] in OWN_TOP_LEVEL


def defined_names(tree: ast.AST) -> set[str]:
    """Underscore names the code in `tree` defines."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in {"self", "cls"}
        ):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ImportFrom) and _own_module(node.module):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return {name for name in names if _is_private(name)}


def _refused(name: str, own: set[str]) -> bool:
    if not _is_private(name) or name in ALLOWED:
        return False
    return name in KNOWN_PRIVATE or name not in own


def scan(source: str, path: str, own: set[str]) -> list[Finding]:
    """What `source` uses of others' underscore names, given the names product code defines."""
    tree = ast.parse(source)
    found: list[Finding] = []

    def add(node: ast.AST, name: str, how: str) -> None:
        if (path, name) not in PENDING:
            found.append(Finding(path, getattr(node, "lineno", 0), name, how))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _refused(node.attr, own):
            add(node, node.attr, "attribute")
        elif isinstance(node, ast.ImportFrom) and not _own_module(node.module):
            if node.module and any(_is_private(part) for part in node.module.split(".")):
                add(node, node.module, "import from")
            for alias in node.names:
                if _is_private(alias.name):
                    add(node, alias.name, "import of")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if not _own_module(alias.name) and any(_is_private(p) for p in parts):
                    add(node, alias.name, "import of")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _refused(node.args[1].value, own)
        ):
            add(node, node.args[1].value, f"{node.func.id}() of")
    return found


def product_files() -> Iterable[Path]:
    for directory in PRODUCT_DIRS:
        for path in sorted(directory.rglob("*.py")):
            if not any(part in {".venv", "build", "node_modules"} for part in path.parts):
                yield path


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _sources() -> dict[str, str]:
    return {_relative(path): path.read_text() for path in product_files()}


def _all_defined(sources: dict[str, str]) -> set[str]:
    own: set[str] = set()
    for source in sources.values():
        own |= defined_names(ast.parse(source))
    return own


def test_product_code_uses_no_private_name_of_django_or_a_library():
    sources = _sources()
    assert len(sources) > 100  # the scan sees the product code
    own = _all_defined(sources)
    findings = [f for path, source in sources.items() for f in scan(source, path, own)]
    assert not findings, "\n".join(map(str, findings))


def _module_name(path: str) -> str | None:
    if not path.endswith(".py") or path.startswith(("bench/", "clients/")):
        return None
    return path[: -len(".py")].replace("/", ".").removesuffix(".__init__")


def test_no_class_overrides_a_private_name_of_a_library_base():
    """`class Q(QuerySet): _raw_delete = delete` defines the name, so the scan above counts it as
    ours; here each class body's underscore names are looked up on the library bases."""
    overrides = []
    for path, source in _sources().items():
        module_name = _module_name(path)
        if module_name is None or "/migrations/" in path:
            continue
        for node in ast.parse(source).body:
            if not isinstance(node, ast.ClassDef):
                continue
            members = {
                name
                for item in node.body
                for name in _class_body_names(item)
                if _is_private(name) and name not in ALLOWED
            }
            if not members:
                continue
            cls = getattr(importlib.import_module(module_name), node.name, None)
            if not inspect.isclass(cls):
                continue
            overrides.extend(
                f"{path}: {node.name}.{name} overrides {base}"
                for name, base in library_overrides(cls, members)
                if (path, name) not in PENDING
            )
    assert not overrides, "\n".join(overrides)


def library_overrides(cls: type, members: set[str]) -> list[tuple[str, str]]:
    """The names among `members` that a base class of `cls` from outside our code defines."""
    return [
        (name, base.__qualname__)
        for base in cls.__mro__[1:]
        if base is not object and not _own_module(base.__module__)
        for name in sorted(members & set(vars(base)))
    ]


def _class_body_names(item: ast.stmt) -> list[str]:
    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [item.name]
    if isinstance(item, ast.Assign):
        return [t.id for t in item.targets if isinstance(t, ast.Name)]
    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
        return [item.target.id]
    return []


# The scan catches what it is for: planted examples, scanned with the real set of own names.

PLANTED = {
    "obj._state.db": "_state",
    "from django.db.models.query import _y": "_y",
    "from django.db._private import thing": "django.db._private",
    "import django.db._private": "django.db._private",
    "review_request._prefetched_objects_cache = {}": "_prefetched_objects_cache",
    "self._context.wrap_socket(sock)": "_context",
    "cache._cache.get_client()": "_cache",
    "getattr(block, '_from_testcase', False)": "_from_testcase",
    "connection._nodb_cursor()": "_nodb_cursor",
}


def test_the_scan_catches_planted_uses():
    own = _all_defined(_sources())
    for source, name in PLANTED.items():
        found = scan(source, "planted.py", own)
        assert [f.name for f in found] == [name], source


def test_the_scan_lets_own_and_documented_names_through():
    own = _all_defined(_sources()) | defined_names(ast.parse("def _helper(): pass"))
    for source in (
        "_helper()",
        "module._helper()",
        "Model._meta.get_field('x')",
        "point._replace(x=1)",
        "from marketplace.services import _sha256",
        "from django.utils.translation import gettext_lazy as _",
        "type(self).__name__",
    ):
        assert scan(source, "planted.py", own) == [], source


def test_a_class_overriding_a_private_hook_is_found():
    from django.db.models import QuerySet

    source = "class Planted(QuerySet):\n    _raw_delete = QuerySet.delete\n    _ours = 1\n"
    [node] = ast.parse(source).body
    members = {name for item in node.body for name in _class_body_names(item)}
    namespace: dict = {"QuerySet": QuerySet}
    exec(source, namespace)
    assert library_overrides(namespace["Planted"], members) == [("_raw_delete", "QuerySet")]
