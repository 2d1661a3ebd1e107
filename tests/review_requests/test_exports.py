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


# Oversight columns (issue #18) -------------------------------------------------------------------

EARLIER_COLUMNS = [
    "id",
    "status",
    "title",
    "specialization",
    "created_at",
    "completed_at",
    "deadline",
    "reviewers",
    "max_hours",
    "assignments",
    "billed_seconds",
    "cost_cents",
    "currency",
    "verdict",
    "summary",
    "scores",
    "agreement",
    "annotations",
    "corrected_output",
    "metadata",
]
OVERSIGHT_COLUMNS = [
    "policy",
    "policy_version",
    "policy_rule",
    "oversight_outcome",
    "audit",
    "confidence",
]


@pytest.fixture
def decided(organization):
    """Three items of policy "triage" v2 (auto-approved by a rule named like a formula, an
    audited sample, no rule matched) and one request no policy applied to."""
    from tests.review_requests.oversight_support import day, policy_with_versions, stored_item

    rules = [{"name": "x", "outcome": "review"}]
    version = policy_with_versions(organization, "triage", rules, rules).versions.get(number=2)
    made = {
        "auto": stored_item(
            organization=organization,
            version=version,
            at=day(12, 1),
            outcome="auto_approve",
            rule="=SUM(A1:A9)",
            confidence=0.97,
        ),
        "audit": stored_item(
            organization=organization,
            version=version,
            at=day(12, 2),
            outcome="sample",
            rule="watch",
            audit=True,
            confidence=0.5,
        ),
        "unmatched": stored_item(
            organization=organization, version=version, at=day(12, 3), outcome="review"
        ),
        "none": stored_item(organization=organization, version=None, at=day(12, 4)),
    }
    return {name: str(rr.pk) for name, rr in made.items()}


def test_csv_appends_the_oversight_columns_and_reads_back(company_member, decided):
    assert CSV_COLUMNS == EARLIER_COLUMNS + OVERSIGHT_COLUMNS  # appended: positions kept
    body = _body(login_client(company_member).get("/company/requests/export.csv"))
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(body))}
    assert len(rows) == 4

    def oversight(name: str) -> list[str]:
        return [rows[decided[name]][column] for column in OVERSIGHT_COLUMNS]

    # A rule's name is the company's own text: a spreadsheet must not run it as a formula.
    assert oversight("auto") == ["triage", "2", "'=SUM(A1:A9)", "auto_approve", "false", "0.97"]
    assert oversight("audit") == ["triage", "2", "watch", "sample", "true", "0.5"]
    assert oversight("unmatched") == ["triage", "2", "", "review", "false", ""]
    assert oversight("none") == ["", "", "", "", "false", ""]
    assert rows[decided["auto"]]["status"] == "auto_approved"


def test_jsonl_carries_the_oversight_object(company_member, decided):
    body = _body(login_client(company_member).get("/company/requests/export.jsonl"))
    lines = {line["id"]: line for line in map(json.loads, body.splitlines())}
    auto = lines[decided["auto"]]
    assert auto["oversight"] == {
        "policy": "triage",
        "policy_version": 2,
        "rule": "=SUM(A1:A9)",
        "outcome": "auto_approve",
    }
    assert (auto["confidence"], auto["audit"]) == (0.97, False)
    assert lines[decided["audit"]]["audit"] is True
    assert lines[decided["none"]]["oversight"] is None


def test_oversight_columns_cost_no_query_per_row(
    company_member, organization, django_assert_max_num_queries
):
    from tests.review_requests.oversight_support import day, policy_with_versions, stored_item

    version = policy_with_versions(
        organization, "triage", [{"name": "x", "outcome": "review"}]
    ).versions.get()
    for index in range(40):
        stored_item(organization=organization, version=version, at=day(11, 1 + index % 28))
    client = login_client(company_member)
    # session, user, membership; then per chunk of 500: requests (with their policy versions and
    # policies joined), assignments+experts.
    with django_assert_max_num_queries(6):
        rows = list(csv.DictReader(io.StringIO(_body(client.get("/company/requests/export.csv")))))
    assert len(rows) == 40 and {row["policy"] for row in rows} == {"triage"}
