"""Every vendored browser package is used and has its licence: a package no page or test loads
(htmx once sat here unused while offers.js did its job by hand) is dead weight to keep patched."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
USERS = [ROOT / "templates", ROOT / "static" / "js", ROOT / "tests" / "e2e"]


def _vendored() -> list[str]:
    return sorted(path.name for path in VENDOR.iterdir() if path.is_dir())


def _text_of_users() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for folder in USERS
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in {".html", ".js", ".py"}
    )


@pytest.mark.parametrize("package", _vendored())
def test_vendored_package_is_loaded_somewhere_and_licensed(package):
    assert (VENDOR / package / "LICENSE").is_file()
    name = package.rsplit("-", 1)[0]  # the e2e test finds axe-core by name, not version
    assert f"vendor/{name}-" in _text_of_users(), f"nothing loads static/vendor/{package}"


def test_htmx_is_neither_vendored_nor_referenced():
    assert not [name for name in _vendored() if name.startswith("htmx")]
    assert "htmx" not in (ROOT / "scripts" / "vendor.sh").read_text(encoding="utf-8").lower()
    templates = ROOT / "templates"
    offenders = [
        str(path.relative_to(ROOT))
        for path in templates.rglob("*.html")
        if "htmx" in path.read_text(encoding="utf-8").lower()
    ]
    assert offenders == []
