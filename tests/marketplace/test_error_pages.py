"""Our own 403, 404 and 500 pages: the product's header and menu, a heading that says what
happened, and a way back that fits the viewer (templates/403.html, 404.html, 500.html)."""

from __future__ import annotations

from django.test import RequestFactory
from django.views import defaults

from tests.conftest import login_client


def test_a_missing_page_is_ours_with_the_viewers_menu(expert):
    response = login_client(expert).get("/no-such-page/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "<h1" in content and "Page not found" in content
    assert 'aria-label="Main"' in content
    assert 'href="/expert/offers/"' in content  # the expert's menu
    assert 'href="/expert/">Go to your dashboard' in content


def test_a_forbidden_page_is_ours(expert):
    response = login_client(expert).get("/console/")
    assert response.status_code == 403
    content = response.content.decode()
    assert "You can&#x27;t open this page" in content or "You can't open this page" in content
    assert 'aria-label="Main"' in content
    assert "403 Forbidden" not in content


def test_the_server_error_page_renders_without_a_request_context(db):
    """Django renders 500.html with an empty context: it still has the look and a way home."""
    response = defaults.server_error(RequestFactory().get("/boom/"))
    assert response.status_code == 500
    content = response.content.decode()
    assert "Something went wrong on our side" in content
    assert "inloop.css" in content
    assert 'href="/">Go to the home page' in content
