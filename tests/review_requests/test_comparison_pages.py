"""The pages of a comparison, server side: the expert's offer and workspace show the candidates
side by side without their models; the company's request page shows the candidates with their
models and, once completed, the consensus, a table per criterion and each review."""

from __future__ import annotations

import pytest
from django.utils import timezone

from review_requests import comparison as cmp
from tests.conftest import login_client
from tests.factories import (
    CANDIDATE_TEXTS,
    AssignmentFactory,
    CreditGrantFactory,
    OfferFactory,
    ReviewRequestFactory,
    comparison_content,
)

pytestmark = pytest.mark.django_db


def _request(organization, mode="pairwise", count=2, **fields):
    CreditGrantFactory(organization=organization)
    return ReviewRequestFactory(
        organization=organization,
        content=comparison_content(mode, count),
        rubric=[{"key": "accuracy", "label": "Accuracy"}],
        **fields,
    )


def test_the_offer_previews_the_candidates_without_models(organization, expert):
    rr = _request(organization, "rank", 3)
    OfferFactory(review_request=rr, expert__user=expert)
    html = login_client(expert).get("/expert/offers/").content.decode()
    assert "data-offer-candidates" in html
    assert "Compare 3 answers" in html
    for cid in ("a", "b", "c"):
        assert CANDIDATE_TEXTS[cid] in html
    assert "model-" not in html


def test_the_workspace_shows_the_candidates_in_order_and_the_criteria(organization, expert):
    rr = _request(organization, "rank", 3, status="in_review")
    assignment = AssignmentFactory(review_request=rr, expert__user=expert)
    html = login_client(expert).get(f"/workspace/{assignment.pk}/").content.decode()
    order = cmp.order_shown(["a", "b", "c"], seed=str(assignment.pk))
    positions = [html.index(f'data-candidate="{cid}"') for cid in order]
    assert positions == sorted(positions)
    assert 'data-rank="accuracy"' in html
    assert 'aria-label="Move candidate A up on Accuracy"' in html
    assert "Write the ideal answer" in html
    assert "model-" not in html
    assert "workspace_comparison.js" in html


def test_a_pairwise_workspace_offers_five_labelled_choices(organization, expert):
    rr = _request(organization, status="in_review")
    assignment = AssignmentFactory(review_request=rr, expert__user=expert)
    html = login_client(expert).get(f"/workspace/{assignment.pk}/").content.decode()
    first, _ = cmp.order_shown(["a", "b"], seed=str(assignment.pk))
    assert html.count('name="pref-accuracy"') == 5
    assert f'value="{first}:2"> A much better' in html
    assert 'value=":0"> Tie' in html
    assert "B much better" in html


def test_the_company_page_shows_models_then_the_result(organization, company_member, expert):
    rr = _request(organization, status="in_review")
    assignment = AssignmentFactory(review_request=rr, expert__user=expert)
    client = login_client(company_member)
    html = client.get(f"/company/requests/{rr.pk}/").content.decode()
    assert "model-a" in html and CANDIDATE_TEXTS["b"] in html
    assert 'data-field="consensus"' not in html

    reviews = [
        {
            "assignment_id": str(assignment.pk),
            "summary": "",
            "annotations": [],
            "submitted_at": timezone.now().isoformat(),
            "comparison": {
                "order_shown": ["b", "a"],
                "criteria": {"accuracy": {"winner": "b", "strength": 2, "rationale": "A is off."}},
                "rewrite": "The ideal.",
            },
        }
    ]
    rr.result = cmp.request_result(content=rr.content, rubric=rr.rubric, reviews=reviews)
    rr.status = "completed"
    rr.save(update_fields=["result", "status"])
    html = client.get(f"/company/requests/{rr.pk}/").content.decode()
    assert 'data-field="winner">b<' in html
    assert "b much better" in html and "A is off." in html
    assert "The ideal." in html
    assert "Shown in the order b, a." in html
    assert 'id="rr-result"' in html  # the live page knows the result is shown
