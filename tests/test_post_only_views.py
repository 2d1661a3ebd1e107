"""A POST-only view never draws a page: it redirects (post/redirect/get) or answers JSON. A page
drawn at a POST-only URL (a form shown again with its errors) gives a blank 405 when it is
reloaded or its address is opened again, so such forms post to their page's own URL instead
(the expert profile: tests/experts/test_profile_post_redirect_get.py).

An AST walk of every views module: each function decorated `require_POST` or
`require_http_methods(["POST"])` must not call `render` or `TemplateResponse`, directly or
through the functions of its module that it calls."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("marketplace", "experts", "billing", "review_requests", "inloop_site")
DRAWS = {"render", "render_to_response", "TemplateResponse"}


def _views_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts and "views" in path.stem:
                yield path


def _post_only(node: ast.FunctionDef) -> bool:
    for decorator in node.decorator_list:
        text = ast.unparse(decorator)
        if text.endswith("require_POST"):
            return True
        if "require_http_methods" in text and isinstance(decorator, ast.Call):
            methods = decorator.args[0] if decorator.args else None
            if isinstance(methods, ast.List | ast.Tuple):
                values = {e.value for e in methods.elts if isinstance(e, ast.Constant)}
                if values == {"POST"}:
                    return True
    return False


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _draws(name: str, functions: dict[str, ast.FunctionDef], seen: set[str]) -> bool:
    if name in seen or name not in functions:
        return False
    seen.add(name)
    called = _called_names(functions[name])
    return bool(called & DRAWS) or any(_draws(c, functions, seen) for c in called)


def post_only_views_that_draw() -> list[str]:
    found = []
    for path in _views_modules():
        tree = ast.parse(path.read_text())
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for name, node in functions.items():
            if _post_only(node) and _draws(name, functions, set()):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_no_post_only_view_draws_a_page():
    assert post_only_views_that_draw() == []


def test_the_walk_sees_post_only_views_and_their_helpers(tmp_path, monkeypatch):
    """The check can fail: a POST-only view drawing through a helper is found."""
    app = tmp_path / "marketplace"
    app.mkdir()
    (app / "views.py").write_text(
        "from django.shortcuts import render\n"
        "from django.views.decorators.http import require_POST, require_http_methods\n"
        "def _page(request):\n    return render(request, 'x.html')\n"
        "@require_POST\ndef act(request):\n    return _page(request)\n"
        "@require_http_methods(['POST'])\ndef other(request):\n    return render(request, 'y')\n"
        "@require_http_methods(['GET', 'POST'])\ndef fine(request):\n    return _page(request)\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    found = post_only_views_that_draw()
    assert [entry.split()[-1] for entry in found] == ["act", "other"]
