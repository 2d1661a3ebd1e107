"""The company's oversight pages through the test client: members read and simulate, owners and
admins add policies, change rules (a new version each time) and set the default; the editor's
add/remove/move buttons save nothing; a bad rule is refused with its error next to its field."""

from __future__ import annotations

import pytest

from oversight.models import Policy
from tests.conftest import login_client
from tests.review_requests.oversight_support import policy_with_versions

pytestmark = pytest.mark.django_db
RULES = [
    {"name": "sure", "when": {"confidence_gte": 0.9}, "outcome": "sample", "audit_rate": 0.1},
    {"name": "rest", "when": {}, "outcome": "review"},
]
FIELDS = [
    "name", "outcome", "audit_percent", "confidence_gte", "confidence_lt", "specialization",
    "model", "metadata", "sample_percent", "reviewers", "max_hours", "rate_cap", "deadline_hours",
]  # fmt: skip


@pytest.fixture
def policy(organization):
    return policy_with_versions(organization, "support", RULES)


def rows_post(rows: list[dict], op: str, **extra) -> dict:
    data = {
        "rules-TOTAL_FORMS": str(len(rows)),
        "rules-INITIAL_FORMS": str(len(rows)),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "50",
        "op": op,
        **extra,
    }
    for index, row in enumerate(rows):
        for field in FIELDS:
            data[f"rules-{index}-{field}"] = row.get(field, "")
    return data


SURE = {"name": "sure", "outcome": "sample", "audit_percent": "10", "confidence_gte": "0.9"}
REST = {"name": "rest", "outcome": "review"}


def test_the_list_marks_the_default_and_members_get_no_form(organization, plain_member, policy):
    policy.is_default = True
    policy.save(update_fields=["is_default"])
    page = login_client(plain_member).get("/company/oversight/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "support" in html and "Default" in html
    assert "Add a policy" not in html


def test_an_owner_adds_a_policy_from_a_starter(organization, company_member):
    response = login_client(company_member).post(
        "/company/oversight/", {"name": "pipeline", "starter": "on_the_loop"}
    )
    assert response.status_code == 302
    policy = Policy.objects.get(organization=organization, name="pipeline")
    assert [rule["name"] for rule in policy.current_version().rules] == ["confident", "the-rest"]


def test_a_member_cannot_add_a_policy(organization, plain_member):
    response = login_client(plain_member).post(
        "/company/oversight/", {"name": "pipeline", "starter": "on_the_loop"}
    )
    assert response.status_code == 403
    assert not Policy.objects.filter(name="pipeline").exists()


def test_the_policy_page_shows_rules_figures_and_versions(
    organization, company_member, policy, django_assert_max_num_queries
):
    client = login_client(company_member)
    client.get("/company/oversight/support/")  # warm the session and the taxonomy
    with django_assert_max_num_queries(14):
        page = client.get("/company/oversight/support/?from_day=2026-11-01&to_day=2026-11-30")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="rule-row card"') == 2
    assert 'id="figures-by-week"' in html and "<svg" in html
    assert "Version 1" in html


def test_moving_a_rule_saves_nothing(company_member, policy):
    page = login_client(company_member).post(
        "/company/oversight/support/", rows_post([SURE, REST], "down-0")
    )
    assert page.status_code == 200
    forms = page.context["formset"].forms
    assert [form.initial["name"] for form in forms] == ["rest", "sure"]
    assert policy.versions.count() == 1


def test_adding_and_removing_rows_saves_nothing(company_member, policy):
    client = login_client(company_member)
    added = client.post("/company/oversight/support/", rows_post([SURE, REST], "add"))
    assert len(added.context["formset"].forms) == 3
    removed = client.post("/company/oversight/support/", rows_post([SURE, REST], "remove-0"))
    assert [form.initial["name"] for form in removed.context["formset"].forms] == ["rest"]
    assert policy.versions.count() == 1


def test_a_bad_rule_shows_its_error_next_to_its_field(company_member, policy):
    bad = {**SURE, "confidence_gte": "1.5"}
    page = login_client(company_member).post(
        "/company/oversight/support/", rows_post([REST, bad], "save")
    )
    assert page.status_code == 200
    second = page.context["formset"].forms[1]
    assert "confidence_gte" in second.errors
    assert not page.context["formset"].forms[0].errors
    assert policy.versions.count() == 1


def test_two_rules_of_one_name_are_both_marked(company_member, policy):
    page = login_client(company_member).post(
        "/company/oversight/support/", rows_post([REST, REST], "save")
    )
    assert all("name" in form.errors for form in page.context["formset"].forms)
    assert policy.versions.count() == 1


def test_a_bad_metadata_line_is_an_error_on_that_field(company_member, policy):
    page = login_client(company_member).post(
        "/company/oversight/support/", rows_post([{**REST, "metadata": "region"}], "save")
    )
    assert "metadata" in page.context["formset"].forms[0].errors


def test_saving_makes_a_new_version_and_says_what_changed(company_member, policy):
    lowered = {**SURE, "confidence_gte": "0.85", "metadata": 'region in ["eu", "uk"]'}
    response = login_client(company_member).post(
        "/company/oversight/support/", rows_post([lowered, REST], "save", note="lower it")
    )
    assert response.status_code == 302
    version = policy.current_version()
    assert version.number == 2 and version.note == "lower it"
    assert version.rules[0]["when"]["confidence_gte"] == 0.85
    assert version.rules[0]["when"]["metadata"] == [
        {"field": "region", "op": "in", "value": ["eu", "uk"]}
    ]
    assert version.rules[0]["audit_rate"] == pytest.approx(0.1)
    page = login_client(company_member).get("/company/oversight/support/").content.decode()
    assert "confidence at least 0.9 → 0.85" in page


def test_a_member_reads_the_rules_and_cannot_save(plain_member, policy):
    client = login_client(plain_member)
    html = client.get("/company/oversight/support/").content.decode()
    assert 'class="rule-list"' in html and 'class="rule-row card"' not in html
    response = client.post("/company/oversight/support/", rows_post([REST], "save"))
    assert response.status_code == 403
    assert policy.versions.count() == 1


def test_the_default_is_set_by_an_admin_only(company_member, plain_member, policy):
    assert login_client(plain_member).post("/company/oversight/support/default/").status_code == 403
    response = login_client(company_member).post("/company/oversight/support/default/")
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.is_default


def test_a_member_runs_the_simulator(plain_member, policy):
    page = login_client(plain_member).post(
        "/company/oversight/support/simulate/",
        rows_post([REST], "simulate", from_day="2026-11-01", to_day="2026-11-30"),
    )
    assert page.status_code == 200
    assert page.context["result"]["items"] == 0
    assert page.context["result"]["simulated"]["sent_to_review"] == 0
    assert "What these rules would have done" in page.content.decode()


def test_another_tenants_policy_is_a_404(other_company_member, policy):
    client = login_client(other_company_member)
    assert client.get("/company/oversight/support/").status_code == 404
    assert client.get("/company/oversight/support/simulate/").status_code == 404
