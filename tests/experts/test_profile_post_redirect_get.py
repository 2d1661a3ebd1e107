"""The expert profile's forms post to /expert/profile/ itself (each names its section): a form
refused with errors is shown again at /expert/profile/, so reloading or reopening that address is
a GET of the page (never a 405 of an action URL), and a saved form redirects there."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import login_client
from tests.factories import ExpertProfileFactory

pytestmark = pytest.mark.django_db

TODAY = date.today()
BAD = {
    "basics": {"display_name": "Erin", "hourly_rate": "9.99", "timezone": "UTC"},
    "specialization": {"specialization": "nope", "years": "1"},
    "availability": {"day_1": "12:00-09:00"},
    "time_off": {"start_date": TODAY + timedelta(days=3), "end_date": TODAY},
    "credential": {"kind": "medical_license", "field": "medicine", "issuer": ""},
}
GOOD = {
    "basics": {
        "display_name": "Erin",
        "hourly_rate": "100",
        "timezone": "UTC",
        "max_concurrent": "2",
    },
    "specialization": {"specialization": "medicine.radiology", "years": "4"},
    "availability": {"day_0": "09:00-12:00"},
    "time_off": {"start_date": TODAY, "end_date": TODAY + timedelta(days=1)},
    "credential": {
        "kind": "medical_license",
        "field": "medicine",
        "issuer": "Medical Board of California",
        "number": "A1",
        "jurisdiction": "CA",
    },
}


@pytest.fixture
def client(expert):
    ExpertProfileFactory(user=expert, display_name="Erin", timezone="Europe/Berlin")
    return login_client(expert)


def test_every_profile_form_posts_to_the_page_itself(client):
    html = client.get("/expert/profile/").content.decode()
    sections = re.findall(
        r'<form method="post" action="/expert/profile/"[^>]*>\s*'
        r'<input type="hidden" name="section" value="([a-z_]+)">',
        html,
    )
    assert sorted(sections) == sorted(BAD)
    # The only other forms are the removal buttons, which redirect whatever happens.
    main = html[html.index("<main") : html.index("</main>")]
    others = re.findall(r'<form method="post" action="([^"]+)"', main)
    assert all(a == "/expert/profile/" or a.endswith("/remove/") for a in others), others


@pytest.mark.parametrize("section", sorted(BAD))
def test_a_refused_form_is_shown_at_the_page_and_a_reload_is_a_get(client, section):
    refused = client.post("/expert/profile/", {"section": section, **BAD[section]})
    assert refused.status_code == 400
    assert refused.wsgi_request.path == "/expert/profile/"
    assert 'class="errorlist' in refused.content.decode()
    reload = client.get(refused.wsgi_request.path)
    assert reload.status_code == 200
    assert "<h1" in reload.content.decode()


@pytest.mark.parametrize("section", sorted(GOOD))
def test_a_saved_form_redirects_to_the_page(client, section):
    data = {"section": section, **GOOD[section]}
    if section == "credential":
        data["document"] = SimpleUploadedFile(
            "license.pdf", b"%PDF-1.4 test", content_type="application/pdf"
        )
    saved = client.post("/expert/profile/", data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert saved["Location"] == "/expert/profile/"
    assert client.get(saved["Location"]).status_code == 200


def test_a_post_without_a_known_section_changes_nothing_and_redirects(client):
    response = client.post("/expert/profile/", {"section": "nope", **GOOD["basics"]}, follow=True)
    assert response.redirect_chain == [("/expert/profile/", 302)]
    assert "nothing was saved" in response.content.decode()
