"""The exports API: create (validated, at most EXPORTS_MAX_ACTIVE queued or running), list, get
and download; another organization's export is a 404 everywhere."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from django.test import Client

from datasets import writer
from datasets.models import Export
from tests.conftest import login_client
from tests.datasets.conftest import corrected_request
from tests.factories import ExportFactory, completed_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(api_key) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key}"})


def _post(client: Client, body: dict):
    return client.post("/api/v1/exports", body, content_type="application/json")


def test_create_queues_an_export_and_answers_its_object(api, organization):
    response = _post(api, {"format": "dpo", "filters": {"specialization": "medicine"}})
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "queued" and data["format"] == "dpo"
    assert data["schema_version"] == "inloop.dpo.v1"
    assert data["filters"] == {"specialization": "medicine", "status": ["completed"]}
    assert data["progress"] == {"rows_done": 0, "rows_total": None}
    assert data["sha256"] is None and data["download_url"] is None and data["rows"] is None
    export = Export.objects.get(pk=data["id"])
    assert export.organization == organization and export.created_by_key is not None


def test_a_company_session_creates_one_too(company_member):
    response = _post(login_client(company_member), {"format": "sft"})
    assert response.status_code == 201
    assert Export.objects.get(pk=response.json()["id"]).created_by == company_member


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv"}, "format"),
        ({}, "format"),
        ({"format": "dpo", "filterz": {}}, "filterz"),
        ({"format": "dpo", "filters": {"agreement_min": 1.5}}, "filters.agreement_min"),
        ({"format": "dpo", "filters": {"status": ["queued"]}}, "filters.status[0]"),
        ({"format": "dpo", "filters": {"status": []}}, "filters.status"),
        ({"format": "dpo", "filters": {"completed_after": "2026-01-01T00:00:00"}}, "filters.completed_after"),
        ({"format": "dpo", "filters": {"specialization": "astrology"}}, "filters.specialization"),
        ({"format": "dpo", "filters": {"policy": "a\u0000b"}}, "filters.policy"),
        ({"format": "dpo", "filters": {"unknown": 1}}, "filters.unknown"),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_naming_the_field_and_creates_nothing(api, body, field):
    response = _post(api, body)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == field
    assert not Export.objects.exists()


def test_a_period_in_the_wrong_order_is_refused(api):
    response = _post(
        api,
        {
            "format": "sft",
            "filters": {
                "completed_after": "2026-06-01T00:00:00Z",
                "completed_before": "2026-01-01T00:00:00Z",
            },
        },
    )
    assert response.status_code == 422
    assert "completed_before" in response.json()["error"]["message"]


def test_at_most_the_limit_runs_at_once(api, organization, settings):
    settings.EXPORTS_MAX_ACTIVE = 2
    first = _post(api, {"format": "sft"}).json()
    assert _post(api, {"format": "sft"}).status_code == 201
    refused = _post(api, {"format": "sft"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "too_many_exports"
    assert Export.objects.count() == 2
    writer.export_write(export_id=first["id"])  # one finishes: a slot is free again
    assert _post(api, {"format": "sft"}).status_code == 201


def test_the_limit_is_per_organization(api, other_organization, settings):
    settings.EXPORTS_MAX_ACTIVE = 1
    ExportFactory(organization=other_organization)
    assert _post(api, {"format": "sft"}).status_code == 201


def test_list_is_newest_first_with_a_cursor_and_only_our_own(api, organization, other_organization):
    made = [ExportFactory(organization=organization) for _ in range(3)]
    ExportFactory(organization=other_organization)
    page = api.get("/api/v1/exports?limit=2").json()
    assert [e["id"] for e in page["data"]] == [str(made[2].pk), str(made[1].pk)]
    rest = api.get(f"/api/v1/exports?limit=2&cursor={page['next_cursor']}").json()
    assert [e["id"] for e in rest["data"]] == [str(made[0].pk)] and rest["next_cursor"] is None
    assert api.get("/api/v1/exports?cursor=nope").status_code == 422
    assert api.get("/api/v1/exports?limit=0").status_code == 422


def test_get_answers_status_progress_hash_schema_and_rows(api, organization):
    corrected_request(organization)
    created = _post(api, {"format": "dpo"}).json()
    writer.export_write(export_id=created["id"])
    data = api.get(f"/api/v1/exports/{created['id']}").json()
    assert data["status"] == "completed"
    assert data["progress"] == {"rows_done": 1, "rows_total": 1}
    assert data["rows"] == 1 and len(data["sha256"]) == 64
    assert data["download_url"] == f"/api/v1/exports/{created['id']}/download"


def test_another_organizations_export_is_a_404_everywhere(api, other_organization):
    theirs = completed_export(organization=other_organization)
    for path in (f"/api/v1/exports/{theirs.pk}", f"/api/v1/exports/{theirs.pk}/download"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/exports/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/exports/not-a-uuid").status_code == 404


def test_download_is_409_until_completed(api, organization):
    export = ExportFactory(organization=organization)
    response = api.get(f"/api/v1/exports/{export.pk}/download")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "export_not_ready"


def test_download_streams_the_file_with_its_digest(api, organization):
    body = b'{"prompt":"p","chosen":"a","rejected":"b"}\n' * 3
    export = completed_export(organization=organization, body=body)
    response = api.get(f"/api/v1/exports/{export.pk}/download")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert f"inloop-dpo-{export.pk}.jsonl" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    assert content == body
    digest = hashlib.sha256(body).digest()
    assert response["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert response["ETag"] == f'"{digest.hex()}"'
    assert response["Inloop-Schema-Version"] == "inloop.dpo.v1"


def test_anonymous_is_401_and_a_wrong_method_405(organization):
    export = ExportFactory(organization=organization)
    anonymous = Client()
    assert anonymous.get("/api/v1/exports").status_code == 401
    assert anonymous.post("/api/v1/exports", {}, content_type="application/json").status_code == 401
    assert anonymous.get(f"/api/v1/exports/{export.pk}/download").status_code == 401


def test_wrong_method_is_405(api, organization):
    export = ExportFactory(organization=organization)
    assert api.delete(f"/api/v1/exports/{export.pk}").status_code == 405
    assert api.post(f"/api/v1/exports/{export.pk}/download").status_code == 405


def test_the_list_takes_a_fixed_number_of_queries(api, organization, django_assert_max_num_queries):
    for _ in range(5):
        ExportFactory(organization=organization)
    # key lookup, key touch / rate limit, the page: never one per export.
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/exports").json()["data"]) == 5
