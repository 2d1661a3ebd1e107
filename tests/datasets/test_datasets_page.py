"""The company's Datasets page: the form creates an export (post/redirect/get), errors stay next
to their fields, and the list shows each export's progress, hash and download link."""

from __future__ import annotations

import pytest

from datasets.models import Export
from tests.conftest import login_client
from tests.factories import ExportFactory, completed_export

pytestmark = pytest.mark.django_db


def test_the_page_lists_our_exports_with_hash_and_download(
    company_member, organization, other_organization
):
    done = completed_export(organization=organization)
    queued = ExportFactory(organization=organization, format="sft")
    theirs = completed_export(organization=other_organization, body=b'{"theirs":1}\n')
    page = login_client(company_member).get("/company/datasets/")
    assert page.status_code == 200
    html = page.content.decode()
    assert done.sha256 in html and f"/api/v1/exports/{done.pk}/download" in html
    assert f'data-export="{queued.pk}"' in html and 'data-status="queued"' in html
    assert str(theirs.pk) not in html and theirs.sha256 not in html
    assert "js/datasets.js" in html


def test_the_form_creates_an_export_and_redirects(company_member, organization):
    client = login_client(company_member)
    response = client.post(
        "/company/datasets/",
        {
            "format": "dpo",
            "specialization": "medicine",
            "status": ["completed", "disputed"],
            "agreement_min": "0.6",
            "completed_after": "2026-01-01",
            "policy": "safety-v2",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/company/datasets/"
    export = Export.objects.get()
    assert export.created_by == company_member and export.format == "dpo"
    assert export.filters == {
        "specialization": "medicine",
        "status": ["completed", "disputed"],
        "agreement_min": 0.6,
        "completed_after": "2026-01-01T00:00:00Z",
        "policy": "safety-v2",
    }
    assert "Export queued" in client.get("/company/datasets/").content.decode()


def test_errors_stay_next_to_their_field_and_nothing_is_made(company_member):
    response = login_client(company_member).post(
        "/company/datasets/",
        {
            "format": "dpo",
            "status": ["completed"],
            "agreement_min": "3",
            "completed_after": "2026-05-01",
            "completed_before": "2026-01-01",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "field--error" in html
    assert not Export.objects.exists()


def test_the_limit_is_shown_on_the_form(company_member, organization, settings):
    settings.EXPORTS_MAX_ACTIVE = 1
    ExportFactory(organization=organization)
    response = login_client(company_member).post(
        "/company/datasets/", {"format": "sft", "status": ["completed"]}
    )
    assert response.status_code == 200
    assert "already queued or running" in response.content.decode()
    assert Export.objects.count() == 1


def test_an_expert_or_anonymous_cannot_open_it(expert, client):
    assert client.get("/company/datasets/").status_code == 302
    assert login_client(expert).get("/company/datasets/").status_code == 403
