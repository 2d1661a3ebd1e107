"""The layers of DESIGN.md hold: an AST walk of every import in every module of each app (also
imports inside functions, relative imports and literal dynamic imports).

    inloop_site       the composition package: may import every app; no app imports it
    evidence          -> review_requests, experts, billing, marketplace
    datasets          -> review_requests, marketplace
    review_requests   -> experts, billing, oversight, marketplace
    experts           -> marketplace
    billing           -> marketplace
    oversight         -> marketplace
    marketplace       the platform core: imports no app

Between our own apps an import is plain: no `try: import ... except ImportError` and no
`import_module`/`__import__` at all (`import_string` only of names not written in the code: the
backends in settings), so that a renamed function fails at import instead of silently switching
a feature off."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# app -> the apps it may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "marketplace": frozenset(),
    "experts": frozenset({"marketplace"}),
    "billing": frozenset({"marketplace"}),
    "oversight": frozenset({"marketplace"}),
    "review_requests": frozenset({"marketplace", "experts", "billing", "oversight"}),
    "evidence": frozenset({"marketplace", "experts", "billing", "review_requests"}),
    "datasets": frozenset({"marketplace", "review_requests"}),
    "inloop_site": frozenset(
        {
            "marketplace",
            "experts",
            "billing",
            "oversight",
            "review_requests",
            "evidence",
            "datasets",
        }
    ),
}
DYNAMIC_IMPORTERS = {"import_module", "__import__", "import_string"}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of `from <node.module> import ...`, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    # A module's level-1 package is its parent; a package's own __init__ is its own package.
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def _imported_names(module: str, is_package: bool, tree: ast.AST):
    """(line, dotted name, how) for every import in the module, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, "import"
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, _resolve(module, is_package, node), "import"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in DYNAMIC_IMPORTERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield node.lineno, first.value, "dynamic"
                elif name != "import_string":
                    # A module chosen at run time (`_optional(module, name)`) hides the edge
                    # from this walk. import_string stays for backends named in settings.
                    yield node.lineno, "", "unknown"


def _guarded_imports(tree: ast.AST):
    """(line, dotted name) of imports inside a `try` whose handler catches ImportError."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {getattr(kind, "id", None) for kind in kinds}
        if not caught & {"ImportError", "ModuleNotFoundError"}:
            continue
        for statement in node.body:
            for inner in ast.walk(statement):
                if isinstance(inner, ast.Import):
                    yield from ((inner.lineno, alias.name) for alias in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.module:
                    yield inner.lineno, inner.module


def layer_violations(root: Path, allowed: dict[str, frozenset[str]] = ALLOWED) -> list[Violation]:
    found: list[Violation] = []
    for app in sorted(allowed):
        for path in sorted((root / app).rglob("*.py")):
            relative = str(path.relative_to(root))
            tree = ast.parse(path.read_text(), filename=relative)
            module = _module_name(root, path)
            is_package = path.name == "__init__.py"
            for line, name, how in _imported_names(module, is_package, tree):
                if how == "unknown":
                    found.append(Violation(relative, line, "import of a module named at run time"))
                    continue
                target = name.split(".")[0]
                if target not in allowed or target == app:
                    continue
                if how == "dynamic":
                    found.append(Violation(relative, line, f"dynamic import of {name}"))
                if target not in allowed[app]:
                    found.append(Violation(relative, line, f"{app} must not import {name}"))
            for line, name in _guarded_imports(tree):
                if name.split(".")[0] in allowed and name.split(".")[0] != app:
                    found.append(Violation(relative, line, f"import of {name} guarded by except"))
    return found


def test_every_app_imports_only_the_layers_below_it():
    assert layer_violations(ROOT) == []


def test_every_app_of_the_rules_is_walked():
    # A rule for an app that is not there, or a top-level app without a rule, would hide imports.
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(ALLOWED)
    for app in ALLOWED:
        assert len(list((ROOT / app).rglob("*.py"))) > 3, app


def _plant(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_planted_violation_fails(tmp_path):
    for app in ALLOWED:
        _plant(tmp_path, f"{app}/__init__.py", "")
    _plant(
        tmp_path,
        "experts/views.py",
        "def page():\n    from review_requests.models import Assignment\n    return Assignment\n",
    )
    _plant(tmp_path, "billing/services.py", "from experts import selectors\n")
    _plant(tmp_path, "marketplace/urls.py", "import billing.urls\n")
    _plant(tmp_path, "marketplace/sub/views.py", "from ...inloop_site import console\n")
    _plant(tmp_path, "review_requests/api.py", "from inloop_site.api import api\n")
    _plant(
        tmp_path,
        "review_requests/workspace.py",
        "import importlib\n"
        "try:\n    from experts.services import expert_load_set\n"
        "except ImportError:\n    expert_load_set = None\n"
        "def f():\n    return importlib.import_module('billing.selectors')\n"
        "def _optional(module, name):\n    return getattr(__import__(module), name, None)\n",
    )
    _plant(tmp_path, "inloop_site/urls.py", "from review_requests import urls\nfrom . import api\n")

    found = {(v.path, v.line, v.message) for v in layer_violations(tmp_path)}

    assert found == {
        ("experts/views.py", 2, "experts must not import review_requests.models"),
        ("billing/services.py", 1, "billing must not import experts"),
        ("marketplace/urls.py", 1, "marketplace must not import billing.urls"),
        ("marketplace/sub/views.py", 1, "marketplace must not import inloop_site"),
        ("review_requests/api.py", 1, "review_requests must not import inloop_site.api"),
        ("review_requests/workspace.py", 3, "import of experts.services guarded by except"),
        ("review_requests/workspace.py", 7, "dynamic import of billing.selectors"),
        ("review_requests/workspace.py", 9, "import of a module named at run time"),
    }
