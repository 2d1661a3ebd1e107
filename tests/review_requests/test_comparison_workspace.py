"""The workspace of a comparison: the snapshot (order per assignment, models hidden from the
expert), annotations on a candidate, the draft's `comparison` field (services and the socket,
with the watching company), submit and the request's result."""

from __future__ import annotations

import pytest

from review_requests import comparison as cmp
from review_requests import workspace as ws
from review_requests.frames import frame_parse
from review_requests.models import Review
from review_requests.workspace_selectors import workspace_snapshot
from tests.factories import (
    CANDIDATE_TEXTS,
    AssignmentFactory,
    CreditGrantFactory,
    ExpertProfileFactory,
    ReviewRequestFactory,
    comparison_content,
)
from tests.review_requests.workspace_support import join, next_event

RUBRIC = [
    {"key": "accuracy", "label": "Accuracy", "scale": 5},
    {"key": "clarity", "label": "Clarity"},
]


def _request(organization, mode="pairwise", count=2, **fields):
    CreditGrantFactory(organization=organization)
    return ReviewRequestFactory(
        organization=organization,
        in_review=True,
        content=comparison_content(mode, count),
        rubric=[dict(item) for item in RUBRIC],
        **fields,
    )


@pytest.fixture
def pairwise(organization, expert):
    return AssignmentFactory(review_request=_request(organization), expert__user=expert)


@pytest.fixture
def ranked(organization, expert):
    return AssignmentFactory(review_request=_request(organization, "rank", 3), expert__user=expert)


def _choose(assignment, user, criteria, rewrite=None):
    return ws.draft_update(
        assignment_id=assignment.pk,
        user=user,
        changes={"comparison": {"criteria": criteria, "rewrite": rewrite}},
    )


# Snapshot -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_expert_sees_the_candidates_in_the_assignments_order_without_models(ranked, expert):
    snapshot = workspace_snapshot(assignment=ranked, user=expert, role="expert")
    rr = snapshot["review_request"]
    shown = rr["comparison"]
    assert shown["order_shown"] == cmp.order_shown(["a", "b", "c"], seed=str(ranked.pk))
    assert [c["id"] for c in shown["candidates"]] == shown["order_shown"]
    assert [c["label"] for c in shown["candidates"]] == ["A", "B", "C"]
    assert all("model" not in c for c in shown["candidates"])
    assert shown["candidates"][0]["text"] == CANDIDATE_TEXTS[shown["order_shown"][0]]
    assert [c["key"] for c in shown["criteria"]] == ["accuracy", "clarity"]
    assert rr["content"] == {"type": "comparison", "mode": "rank"}  # no models in it either
    assert "model-" not in str(snapshot)


@pytest.mark.django_db
def test_the_company_sees_the_models(ranked, company_member):
    snapshot = workspace_snapshot(assignment=ranked, user=company_member, role="company")
    models = {
        c["id"]: c.get("model") for c in snapshot["review_request"]["comparison"]["candidates"]
    }
    assert models == {"a": "model-a", "b": "model-b", "c": "model-c"}


@pytest.mark.django_db
def test_models_are_shown_to_the_expert_when_not_blind(organization, expert):
    rr = _request(organization)
    rr.content = {**rr.content, "blind_models": False}
    rr.save(update_fields=["content"])
    assignment = AssignmentFactory(review_request=rr, expert__user=expert)
    snapshot = workspace_snapshot(assignment=assignment, user=expert, role="expert")
    assert {c.get("model") for c in snapshot["review_request"]["comparison"]["candidates"]} == {
        "model-a",
        "model-b",
    }


@pytest.mark.django_db
def test_two_assignments_of_one_request_can_see_different_orders(organization, expert):
    rr = _request(organization, "rank", 4, reviewers=5)
    orders = set()
    for _ in range(5):
        assignment = AssignmentFactory(review_request=rr, expert=ExpertProfileFactory())
        user = assignment.expert.user
        shown = workspace_snapshot(assignment=assignment, user=user, role="expert")
        orders.add(tuple(shown["review_request"]["comparison"]["order_shown"]))
    assert len(orders) > 1


# Annotations on a candidate -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_annotation_is_on_one_candidate_and_quotes_its_text(pairwise, expert):
    frame = ws.annotation_create(
        assignment_id=pairwise.pk,
        user=expert,
        client_id="c1",
        start=0,
        end=2,
        comment="",
        severity="minor",
        candidate="b",
    )
    annotation = frame["event"]["annotation"]
    assert (annotation["candidate"], annotation["quote"]) == ("b", CANDIDATE_TEXTS["b"][:2])


@pytest.mark.django_db
@pytest.mark.parametrize(("candidate", "end"), [("", 2), ("z", 2), ("b", 500)])
def test_an_annotation_needs_a_known_candidate_and_a_range_inside_it(
    pairwise, expert, candidate, end
):
    with pytest.raises(ws.WorkspaceError) as refused:
        ws.annotation_create(
            assignment_id=pairwise.pk,
            user=expert,
            client_id="c",
            start=0,
            end=end,
            comment="",
            severity="info",
            candidate=candidate,
        )
    assert refused.value.field == ("end" if candidate == "b" else "candidate")


@pytest.mark.django_db
def test_a_plain_request_refuses_a_candidate(assignment, expert):
    with pytest.raises(ws.WorkspaceError) as refused:
        ws.annotation_create(
            assignment_id=assignment.pk,
            user=expert,
            client_id="c",
            start=0,
            end=2,
            comment="",
            severity="info",
            candidate="a",
        )
    assert refused.value.field == "candidate"


# The draft ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pairwise_choice_is_stored_and_broadcast_in_the_draft(pairwise, expert):
    frame = _choose(
        pairwise,
        expert,
        {"accuracy": {"winner": "b", "strength": 2, "rationale": "A errs."}},
        "Ideal.",
    )
    event = frame["event"]
    assert event["fields"] == ["comparison"]
    stored = {
        "criteria": {"accuracy": {"winner": "b", "strength": 2, "rationale": "A errs."}},
        "rewrite": "Ideal.",
    }
    assert event["draft"]["comparison"] == stored
    pairwise.refresh_from_db()
    assert pairwise.draft["comparison"] == stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("comparison", "field"),
    [
        (
            {"criteria": {"accuracy": {"winner": "z", "strength": 1}}},
            "comparison.criteria.accuracy.winner",
        ),
        (
            {"criteria": {"accuracy": {"winner": "a", "strength": 3}}},
            "comparison.criteria.accuracy.strength",
        ),
        ({"criteria": {"accuracy": {"ranking": ["a", "b"]}}}, "comparison.criteria.accuracy"),
        ({"criteria": {"style": {"winner": "a", "strength": 1}}}, "comparison.criteria.style"),
        (
            {"criteria": {"accuracy": {"rationale": "x" * 10_001}}},
            "comparison.criteria.accuracy.rationale",
        ),
        ({"criteria": {"accuracy": {"verdict": "a"}}}, "comparison.criteria.accuracy.verdict"),
        ({"criteria": []}, "comparison.criteria"),
    ],
)
def test_a_choice_that_does_not_fit_is_refused_and_changes_nothing(
    pairwise, expert, comparison, field
):
    with pytest.raises(ws.WorkspaceError) as refused:
        ws.draft_update(assignment_id=pairwise.pk, user=expert, changes={"comparison": comparison})
    assert (refused.value.code, refused.value.field) == ("invalid", field)
    pairwise.refresh_from_db()
    assert pairwise.draft == {} and pairwise.last_seq == 0


@pytest.mark.django_db
def test_a_ranking_must_list_every_candidate_once(ranked, expert):
    with pytest.raises(ws.WorkspaceError) as refused:
        _choose(ranked, expert, {"accuracy": {"ranking": ["a", "b", "b"]}})
    assert refused.value.field == "comparison.criteria.accuracy.ranking"
    frame = _choose(ranked, expert, {"accuracy": {"ranking": ["c", "a", "b"]}})
    assert frame["event"]["draft"]["comparison"]["criteria"]["accuracy"]["ranking"] == [
        "c",
        "a",
        "b",
    ]


@pytest.mark.django_db
def test_a_plain_request_refuses_a_comparison(assignment, expert):
    with pytest.raises(ws.WorkspaceError) as refused:
        _choose(assignment, expert, {})
    assert refused.value.field == "comparison"


def test_the_frame_model_parses_the_comparison_field():
    frame = frame_parse(
        {
            "type": "draft.update",
            "comparison": {
                "criteria": {"overall": {"winner": None, "strength": 0}},
                "rewrite": None,
            },
        }
    )
    assert frame.changes()["comparison"].criteria["overall"].strength == 0


# Submit and the result ------------------------------------------------------------------------


@pytest.mark.django_db
def test_submit_needs_every_criterion(pairwise, expert):
    _choose(
        pairwise,
        expert,
        {"accuracy": {"winner": "a", "strength": 1}, "clarity": {"rationale": "hm"}},
    )
    with pytest.raises(ws.WorkspaceError) as refused:
        ws.assignment_submit(assignment=pairwise, user=expert)
    assert (refused.value.code, refused.value.field) == (
        "incomplete_draft",
        "comparison.criteria.clarity",
    )
    assert "Clarity" in refused.value.message
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_two_reviews_complete_the_request_with_the_comparison_result(
    organization, expert, other_expert, django_capture_on_commit_callbacks
):
    rr = _request(organization, reviewers=2)
    first = AssignmentFactory(review_request=rr, expert__user=expert)
    second = AssignmentFactory(review_request=rr, expert__user=other_expert)
    ws.annotation_create(
        assignment_id=first.pk,
        user=expert,
        client_id="c",
        start=0,
        end=3,
        comment="vague",
        severity="major",
        candidate="a",
    )
    _choose(
        first,
        expert,
        {
            "accuracy": {"winner": "b", "strength": 2, "rationale": "A is wrong"},
            "clarity": {"winner": None, "strength": 0},
        },
        "Better.",
    )
    _choose(
        second,
        other_expert,
        {"accuracy": {"winner": "b", "strength": 1}, "clarity": {"winner": "a", "strength": 1}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        submitted = ws.assignment_submit(assignment=first, user=expert)
        ws.assignment_submit(assignment=second, user=other_expert)
    review = submitted["event"]["review"]
    assert review["verdict"] == "compared"
    assert review["comparison"]["order_shown"] == cmp.order_shown(["a", "b"], seed=str(first.pk))
    rr.refresh_from_db()
    assert rr.status == "completed"
    result = rr.result
    assert result["verdict"] == "compared"
    assert result["annotations"][0]["candidate"] == "a"
    comparison = result["comparison"]
    assert comparison["candidates"] == ["a", "b"]
    assert comparison["criteria"]["accuracy"]["ranking"] == ["b", "a"]
    assert comparison["criteria"]["clarity"]["tie"] is False
    assert comparison["consensus"] == {
        "ranking": ["b", "a"],
        "scores": {"a": 0.25, "b": 0.75},
        "tie": False,
    }
    assert [r["assignment_id"] for r in comparison["reviews"]] == [str(first.pk), str(second.pk)]
    assert comparison["reviews"][0]["rewrite"] == "Better."
    assert comparison["reviews"][0]["criteria"]["accuracy"]["rationale"] == "A is wrong"


# The socket: the new draft field reaches the watching company -------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_comparison_draft_goes_live_to_the_watching_company(pairwise, expert, plain_member):
    expert_comm, snapshot = await join(pairwise.pk, expert)
    member_comm, member_snapshot = await join(pairwise.pk, plain_member)
    try:
        assert "model" not in str(snapshot["review_request"]["comparison"]["candidates"])
        assert member_snapshot["review_request"]["comparison"]["candidates"][0]["model"].startswith(
            "model-"
        )
        choice = {"winner": "a", "strength": 1, "rationale": "shorter"}
        await expert_comm.send_json_to(
            {
                "type": "draft.update",
                "comparison": {"criteria": {"accuracy": choice}, "rewrite": None},
            }
        )
        for comm in (expert_comm, member_comm):
            event = (await next_event(comm))["event"]
            assert event["kind"] == "draft.updated"
            assert event["draft"]["comparison"]["criteria"]["accuracy"] == choice
        await expert_comm.send_json_to(
            {
                "type": "draft.update",
                "comparison": {"criteria": {"accuracy": {"winner": "a", "strength": 5}}},
                "ref": "r2",
            }
        )
        error = await expert_comm.receive_json_from(timeout=5)
        while error["type"] != "error":
            error = await expert_comm.receive_json_from(timeout=5)
        assert (error["code"], error["field"], error["ref"]) == (
            "invalid",
            "comparison.criteria.accuracy.strength",
            "r2",
        )
        await member_comm.send_json_to({"type": "draft.update", "comparison": {"criteria": {}}})
        refused = await member_comm.receive_json_from(timeout=5)
        while refused["type"] != "error":
            refused = await member_comm.receive_json_from(timeout=5)
        assert refused["code"] == "forbidden"
    finally:
        await expert_comm.disconnect()
        await member_comm.disconnect()
