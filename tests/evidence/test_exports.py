"""The exports: the company page (download JSON / PDF, chain position and hash), the period
export, the API (`GET /api/v1/review-requests/{id}/evidence`, `?format=pdf`) and the console's
anchors. The PDF's text is read back with pypdf, appendix included."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from evidence import services
from evidence.canonical import link_hash
from tests.conftest import give_operator_mfa, login_client
from tests.evidence.support import completed_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(organization, expert, operator, django_capture_on_commit_callbacks):
    return completed_request(organization, expert, operator, django_capture_on_commit_callbacks)


def pdf_text(content: bytes) -> str:
    """The text of every page, runs of whitespace (table cells wrap) as one space."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_the_json_export_carries_the_entries_with_hashes_that_recompute(company_member, recorded):
    assignment, record = recorded
    response = login_client(company_member).get(
        f"/company/requests/{assignment.review_request_id}/evidence.json"
    )
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    export = json.loads(response.content)
    assert (export["schema_name"], export["schema_version"]) == ("inloop.evidence.export", 1)
    (entry,) = export["entries"]
    assert entry["entry_hash"] == record.entry_hash
    fields = {k: v for k, v in entry.items() if k not in ("previous_hash", "entry_hash")}
    # What an auditor does: recompute the hash from the exported entry alone.
    assert link_hash(entry["previous_hash"], fields) == entry["entry_hash"]
    assert export["chain_head"] == {"position": 1, "hash": record.entry_hash}


def test_the_pdf_says_what_the_record_says_and_ends_with_the_appendix(company_member, recorded):
    assignment, record = recorded
    response = login_client(company_member).get(
        f"/company/requests/{assignment.review_request_id}/evidence.pdf"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    body = record.body
    for expected in (
        "Oversight evidence",
        record.entry_hash,
        body["ai_output"]["sha256"],
        "Summarize the X-ray.",
        "Dr Erin",
        "Medical Board of California",
        "A-12345",
        "draft.updated",
        "corrected",
        "Appendix: fields and the EU AI Act",
    ):
        assert expected in text, expected
    appendix = text[text.index("Appendix") :]
    for article in ("Art. 12", "Art. 14(4)", "Art. 14(5)", "Art. 19", "Art. 26(2)", "Art. 26(6)"):
        assert article in appendix


def test_the_api_gives_json_and_pdf_to_the_owner_only(client, api_key, other_api_key, recorded):
    assignment, record = recorded
    url = f"/api/v1/review-requests/{assignment.review_request_id}/evidence"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    response = client.get(url, **auth)
    assert response.status_code == 200
    assert response.json()["entries"][0]["entry_hash"] == record.entry_hash
    pdf = client.get(url + "?format=pdf", **auth)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert record.entry_hash in pdf_text(pdf.content)
    assert client.get(url + "?format=xml", **auth).status_code == 422
    other = client.get(url, HTTP_AUTHORIZATION=f"Bearer {other_api_key}")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/review-requests/nope/evidence", **auth).status_code == 404


def test_a_request_without_a_record_is_a_404_on_the_api(client, api_key, assignment):
    url = f"/api/v1/review-requests/{assignment.review_request_id}/evidence"
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 404


def test_the_company_page_shows_position_and_hash(company_member, recorded):
    assignment, record = recorded
    page = login_client(company_member).get(
        f"/company/requests/{assignment.review_request_id}/evidence/"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert record.entry_hash in html and "#1" in html
    assert "Download JSON" in html and "Download PDF" in html
    detail = login_client(company_member).get(f"/company/requests/{assignment.review_request_id}/")
    assert f"/company/requests/{assignment.review_request_id}/evidence/" in detail.content.decode()


def test_the_company_page_before_the_record_says_when_it_comes(company_member, assignment):
    page = login_client(company_member).get(
        f"/company/requests/{assignment.review_request_id}/evidence/"
    )
    assert page.status_code == 200 and "No evidence record yet" in page.content.decode()


def test_another_company_gets_a_404(other_company_member, recorded):
    assignment, _ = recorded
    client = login_client(other_company_member)
    base = f"/company/requests/{assignment.review_request_id}/evidence"
    assert client.get(base + "/").status_code == 404
    assert client.get(base + ".json").status_code == 404


def test_the_period_export_holds_the_entries_of_those_days(company_member, recorded):
    _assignment, record = recorded
    client = login_client(company_member)
    day = record.created_at.date().isoformat()
    response = client.get(
        "/company/evidence/", {"first_day": day, "last_day": day, "format": "json"}
    )
    export = json.loads(response.content)
    assert export["scope"] == {"from": day, "to": day}
    assert [e["entry_hash"] for e in export["entries"]] == [record.entry_hash]
    pdf = client.get("/company/evidence/", {"first_day": day, "last_day": day, "format": "pdf"})
    assert record.entry_hash in pdf_text(pdf.content)
    form = client.get(
        "/company/evidence/", {"first_day": day, "last_day": "2000-01-01", "format": "json"}
    )
    assert form.status_code == 200 and "comes before the first" in form.content.decode()


def test_the_console_shows_and_exports_the_anchors(operator, recorded):
    anchor = services.evidence_anchor_daily()
    give_operator_mfa(operator)
    client = login_client(operator)
    page = client.get("/console/evidence/")
    assert page.status_code == 200 and anchor.anchor_hash in page.content.decode()
    export = json.loads(client.get("/console/evidence/anchors.json").content)
    assert export["anchors"][0]["anchor_hash"] == anchor.anchor_hash
