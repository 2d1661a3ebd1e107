"""Proven experts' pages (issue #20): operators define golden items and tests in the console and
see every expert's standing; a company keeps golden items for its own pool; the expert sees each
test with its cap and pay before starting, their accuracy with its n, and why offers paused;
companies see the accuracy badge with the figure."""

from __future__ import annotations

import pytest
from django.utils import timezone

from experts.models import GoldenItem, QualificationTest, SpecializationStanding
from marketplace.models import AuditLog
from tests.conftest import give_operator_mfa, login_client
from tests.factories import GoldenItemFactory, QualificationTestFactory, specialization
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db

ITEM = {
    "item-specialization": "medicine.radiology",
    "item-title": "Fracture missed?",
    "item-content_type": "text",
    "item-body": "No fracture is visible.",
    "item-expected_verdict": "rejected",
    "item-rubric_lines": "accuracy: 2/5\nclarity: 3/3",
    "item-tolerance": "1",
    "item-max_hours": "0.5",
}


@pytest.fixture
def mfa_operator(operator):
    give_operator_mfa(operator)
    return operator


def test_an_operator_adds_a_golden_item_and_a_test(mfa_operator):
    client = login_client(mfa_operator)
    assert client.get("/console/golden/").status_code == 200
    response = client.post("/console/golden/items/", ITEM)
    assert response.status_code == 302, response.content.decode()[:2000]
    item = GoldenItem.objects.get()
    assert item.organization is None and item.expected_verdict == "rejected"
    assert item.expected_scores == {"accuracy": 2, "clarity": 3}
    assert [r["key"] for r in item.rubric] == ["accuracy", "clarity"]
    response = client.post(
        "/console/golden/tests/",
        {
            "test-specialization": "medicine.radiology",
            "test-pass_threshold_percent": "80",
            "test-live_rate_percent": "5",
            "test-items": [str(item.pk)],
        },
    )
    assert response.status_code == 302
    test = QualificationTest.objects.get()
    assert (test.pass_threshold, test.live_rate) == (0.8, 0.05)
    assert list(test.items.all()) == [item]
    page = client.get("/console/golden/").content.decode()
    assert "Fracture missed?" in page and "80 %" in page


def test_bad_golden_input_is_refused_with_the_reason_and_changes_nothing(mfa_operator):
    client = login_client(mfa_operator)
    # Refused: back to the console page (post, redirect, get) with the reason, nothing stored.
    response = client.post(
        "/console/golden/items/", {**ITEM, "item-rubric_lines": "accuracy 9"}, follow=True
    )
    assert response.redirect_chain == [("/console/golden/", 302)]
    assert "criterion: 4/5" in response.content.decode()
    assert not GoldenItem.objects.exists()
    other = GoldenItemFactory(specialization=specialization("law"))
    response = client.post(
        "/console/golden/tests/",
        {
            "test-specialization": "medicine.radiology",
            "test-pass_threshold_percent": "80",
            "test-live_rate_percent": "5",
            "test-items": [str(other.pk)],
        },
    )
    assert (response.status_code, response["Location"]) == (302, "/console/golden/")
    assert not QualificationTest.objects.exists()


def test_a_company_admin_adds_an_item_to_its_own_pool(company_member, organization):
    client = login_client(company_member)
    assert client.get("/company/golden/").status_code == 200
    response = client.post("/company/golden/items/", ITEM)
    assert response.status_code == 302
    assert GoldenItem.objects.get().organization == organization
    assert "Fracture missed?" in client.get("/company/golden/").content.decode()


def test_the_expert_sees_the_test_its_cap_and_pay_before_starting(expert):
    profile = radiologist(user=expert, hourly_rate_cents=12_000)
    QualificationTestFactory(items=[GoldenItemFactory(), GoldenItemFactory()])
    page = login_client(expert).get("/expert/qualifications/").content.decode()
    assert "2 reviews" in page
    assert "Time cap 1 h 00 min" in page
    assert "$120.00/h" in page and "$120.00" in page  # at most one hour at their rate
    assert "Start the test" in page
    assert profile.pk


def test_accuracy_with_its_n_and_the_pause_reason_reach_the_expert_and_companies(
    expert, company_member
):
    profile = radiologist(user=expert)
    SpecializationStanding.objects.create(
        expert=profile,
        specialization=specialization(),
        qualified_at=timezone.now(),
        golden_correct=6,
        golden_total=10,
        suspended_at=timezone.now(),
        suspended_reason="Your accuracy on golden items in Radiology is 60% over 10 items.",
    )
    client = login_client(expert)
    dashboard = client.get("/expert/").content.decode()
    assert "Offers in Radiology are paused" in dashboard
    assert "60% over 10 items" in dashboard
    page = client.get("/expert/qualifications/").content.decode()
    assert "60 %" in page and "(6 of 10)" in page
    profile_page = login_client(company_member).get(f"/company/experts/{profile.pk}/")
    assert "Golden accuracy radiology: 60 % (n=10)" in profile_page.content.decode()


def _paused(profile) -> SpecializationStanding:
    return SpecializationStanding.objects.create(
        expert=profile,
        specialization=specialization(),
        qualified_at=timezone.now(),
        golden_correct=2,
        golden_total=10,
        suspended_at=timezone.now(),
        suspended_reason="Your accuracy on golden items in Radiology is 20% over 10 items.",
    )


def test_the_operator_lifts_a_pause_after_confirming_and_a_reload_changes_nothing(
    mfa_operator, expert
):
    profile = radiologist(user=expert, display_name="Erin Ray")
    standing = _paused(profile)
    client = login_client(mfa_operator)
    page = client.get("/console/golden/").content.decode()
    action = f"/console/golden/standings/{standing.pk}/lift/"
    assert f'action="{action}"' in page
    assert 'data-confirm="Lift the pause of Erin Ray in Radiology?' in page
    assert f'id="lift-{standing.pk}-reason"' in page and "20% over 10 items" in page

    response = client.post(action, {"reason": "The item set was wrong."}, follow=True)
    assert response.redirect_chain == [("/console/golden/", 302)]
    text = response.content.decode()
    assert "Pause lifted: offers in Radiology reach Erin Ray again." in text
    assert "No expert is paused." in text
    standing.refresh_from_db()
    assert standing.suspended_at is None

    # The browser resubmits the POST (reload, double click): a message, nothing changed.
    again = client.post(action, {"reason": "The item set was wrong."}, follow=True)
    assert again.redirect_chain == [("/console/golden/", 302)]
    assert "is not paused in Radiology" in again.content.decode()
    assert AuditLog.objects.filter(action="golden.pause_lifted").count() == 1


def test_a_lift_without_a_reason_is_refused_and_changes_nothing(mfa_operator, expert):
    standing = _paused(radiologist(user=expert))
    client = login_client(mfa_operator)
    response = client.post(f"/console/golden/standings/{standing.pk}/lift/", {"reason": ""})
    assert (response.status_code, response["Location"]) == (302, "/console/golden/")
    standing.refresh_from_db()
    assert standing.suspended_at is not None
    assert client.post("/console/golden/standings/999999/lift/", {"reason": "x"}).status_code == 404
    assert not AuditLog.objects.filter(action="golden.pause_lifted").exists()


def test_a_paused_expert_reads_why_and_how_to_get_offers_again(expert):
    profile = radiologist(user=expert)
    _paused(profile)
    client = login_client(expert)
    # No test configured: only an operator can lift it, and the page says so.
    page = client.get("/expert/qualifications/").content.decode()
    assert "Why offers in Radiology are paused" in page
    assert "20% over 10 items" in page
    assert "has no qualification test to take right now" in page
    assert 'href="#paused-medicine.radiology"' in page
    # With a test: take it again, right there.
    QualificationTestFactory(items=[GoldenItemFactory()])
    page = client.get("/expert/qualifications/").content.decode()
    assert 'href="#qualification-medicine.radiology"' in page
    assert "take the Radiology test again" in page
    dashboard = client.get("/expert/").content.decode()
    assert "/expert/qualifications/#paused-medicine.radiology" in dashboard
