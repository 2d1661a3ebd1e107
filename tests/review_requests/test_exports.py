"""Results export: JSONL and CSV of the current filter, streamed, one row per request."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse

from review_requests.exports import CSV_COLUMNS
from tests.conftest import login_client
from tests.factories import AssignmentFactory, ReviewRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def requests_made(organization):
    done = ReviewRequestFactory(
        organization=organization,
        title="Done",
        status="completed",
        metadata={"batch": "june"},
        cost_cents=2_500,
        result={
            "verdict": "corrected",
            "corrected_output": "Fixed text",
            "summary": '=HYPERLINK("http://evil")',
            "scores": {"accuracy": 4},
            "annotations": [{"start": 0, "end": 3, "quote": "The", "comment": "x"}],
            "reviews": [],
            "agreement": None,
        },
    )
    AssignmentFactory(
        review_request=done, held=False, status="submitted", billed_seconds=900, cost_cents=2_500
    )
    queued = ReviewRequestFactory(
        organization=organization, title="Still queued", metadata={"batch": "july"}
    )
    return done, queued


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_jsonl_has_one_contract_object_per_request(company_member, requests_made):
    done, queued = requests_made
    response = login_client(company_member).get("/company/requests/export.jsonl")
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert "attachment;" in response["Content-Disposition"]
    lines = [json.loads(line) for line in _body(response).splitlines()]
    assert [line["id"] for line in lines] == [str(queued.pk), str(done.pk)]
    assert lines[1]["result"]["verdict"] == "corrected"
    assert lines[1]["assignments"][0]["billed_seconds"] == 900
    assert set(lines[0]) >= {"id", "status", "title", "metadata", "assignments", "result"}


def test_exports_follow_the_current_filter(company_member, requests_made):
    done, _ = requests_made
    client = login_client(company_member)
    lines = _body(client.get("/company/requests/export.jsonl?status=completed")).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [str(done.pk)]
    rows = list(csv.reader(io.StringIO(_body(client.get("/company/requests/export.csv?q=july")))))
    assert len(rows) == 2 and rows[1][CSV_COLUMNS.index("title")] == "Still queued"


def test_csv_is_flattened_and_defuses_formulas(company_member, requests_made):
    response = login_client(company_member).get("/company/requests/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert list(rows[0]) == CSV_COLUMNS
    done = next(row for row in rows if row["title"] == "Done")
    assert done["verdict"] == "corrected"
    assert done["billed_seconds"] == "900"
    assert done["assignments"] == "1"
    assert done["annotations"] == "1"
    assert json.loads(done["scores"]) == {"accuracy": 4}
    assert json.loads(done["metadata"]) == {"batch": "june"}
    # A spreadsheet must not run the AI's or the reviewer's text as a formula.
    assert done["summary"] == '\'=HYPERLINK("http://evil")'


def test_an_unknown_format_is_404(company_member):
    assert login_client(company_member).get("/company/requests/export.xlsx").status_code == 404


def test_export_query_count_does_not_grow_with_rows(
    company_member, organization, django_assert_max_num_queries
):
    for index in range(60):
        rr = ReviewRequestFactory(organization=organization, title=f"R{index}")
        AssignmentFactory(review_request=rr, held=False)
    client = login_client(company_member)
    # session, user, membership; then per chunk of 500: requests, assignments+experts.
    with django_assert_max_num_queries(6):
        lines = _body(client.get("/company/requests/export.jsonl")).splitlines()
    assert len(lines) == 60
