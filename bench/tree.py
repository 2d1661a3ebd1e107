"""Which package composes a checkout: `inloop_site` since the layers were split, `marketplace`
before. Benchmarks that start daphne from another tree (an older commit, for before/after
rounds) ask here, so both trees start with their own settings and ASGI entry."""

from __future__ import annotations

from pathlib import Path


def site_package(root: Path) -> str:
    return "inloop_site" if (root / "inloop_site" / "asgi.py").is_file() else "marketplace"


def asgi_application(root: Path) -> str:
    return f"{site_package(root)}.asgi:application"


def settings_module(root: Path) -> str:
    return f"{site_package(root)}.settings"
