"""The browser test of the Content-Security-Policy (tests/e2e/test_csp_e2e.py) loads every page:
this finds every route of the project by itself and fails on one that is neither in its list of
pages nor named as something else (tests/e2e/csp_pages.py)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.e2e.csp_pages import NOT_PAGES, PAGES, SAMPLES


def _route_names(patterns, namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _route_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield namespace + pattern.name


def _listed() -> set[str]:
    names = set()
    for urls in PAGES.values():
        for template in urls:
            path = template.format(**SAMPLES).split("?", 1)[0]
            names.add(resolve(path).view_name)
    return names


def test_every_route_is_a_listed_page_or_named_as_something_else():
    # Django's admin pages come from the admin registry at run time; the API's JSON operations
    # are the contract's, fuzzed by schemathesis (its HTML docs page is listed).
    routes = {
        name
        for name in _route_names(get_resolver().url_patterns)
        if not name.startswith("admin:")
        and (not name.startswith("api:") or name == "api:openapi-view")
    }
    missing = routes - _listed() - set(NOT_PAGES)
    assert missing == set(), "add these pages to tests/e2e/csp_pages.py"


def test_every_listed_page_exists():
    stale = set(NOT_PAGES) - set(_route_names(get_resolver().url_patterns))
    assert stale == set()
    assert "api:openapi-view" in _listed()
