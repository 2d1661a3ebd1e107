"""Workspace services: gap-free events, rights, validation, billable time, submit and consensus."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from billing.models import Earning, Hold, LedgerAccount
from billing.selectors import company_balance
from marketplace.models import User
from review_requests import workspace as ws
from review_requests.models import (
    Annotation,
    Assignment,
    Review,
    ReviewRequest,
    WebhookEvent,
    WorkInterval,
    WorkspaceEvent,
)
from review_requests.workspace_selectors import (
    assignment_get_for_workspace,
    chat_turn_spans,
    text_of,
    workspace_events_after,
    workspace_snapshot,
)
from tests.conftest import give_operator_mfa
from tests.factories import TEXT, AssignmentFactory, CreditGrantFactory, ReviewRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_request(organization):
    CreditGrantFactory(organization=organization)
    return ReviewRequestFactory(organization=organization, in_review=True)


@pytest.fixture
def assignment(review_request, expert):
    return AssignmentFactory(review_request=review_request, expert__user=expert)


T0 = timezone.now().replace(microsecond=0) - timedelta(hours=3)


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


# The output text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"type": "text", "body": "plain"}, "plain"),
        ({"type": "markdown", "body": "# T\n*x*"}, "# T\n*x*"),
        ({"type": "code", "body": "x = 1\n", "language": "python"}, "x = 1\n"),
        (
            {"type": "json", "body": {"b": 1, "a": [1, "é"]}},
            '{\n  "b": 1,\n  "a": [\n    1,\n    "é"\n  ]\n}',
        ),
        (
            {
                "type": "chat",
                "body": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Yo\nthere"},
                ],
            },
            "user: Hi\nassistant: Yo\nthere",
        ),
    ],
)
def test_text_of_each_content_type(content, expected):
    assert text_of(content) == expected


def test_chat_turn_spans_point_into_the_text():
    content = {
        "type": "chat",
        "body": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Yo"}],
    }
    text = text_of(content)
    assert [text[s["start"] : s["end"]] for s in chat_turn_spans(content)] == [
        "user: Hi",
        "bot: Yo",
    ]


# Rights ---------------------------------------------------------------------------------


def test_roles_of_expert_company_operator_and_strangers(
    assignment, expert, company_member, plain_member, operator, other_company_member, other_expert
):
    give_operator_mfa(operator)
    assert assignment_get_for_workspace(user=expert, pk=assignment.pk)[1] == "expert"
    assert assignment_get_for_workspace(user=company_member, pk=assignment.pk)[1] == "company"
    assert assignment_get_for_workspace(user=plain_member, pk=assignment.pk)[1] == "company"
    assert assignment_get_for_workspace(user=operator, pk=assignment.pk)[1] == "operator"
    from django.http import Http404

    for stranger in (other_company_member, other_expert):
        with pytest.raises(Http404):
            assignment_get_for_workspace(user=stranger, pk=assignment.pk)
    with pytest.raises(Http404):
        assignment_get_for_workspace(user=expert, pk="not-a-uuid")


def test_operator_without_two_factor_cannot_join(assignment, operator):
    from django.http import Http404

    with pytest.raises(Http404):
        assignment_get_for_workspace(user=operator, pk=assignment.pk)


def test_company_members_cannot_change_the_review(assignment, company_member):
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.draft_update(
            assignment_id=assignment.pk, user=company_member, changes={"verdict": "approved"}
        )
    assert exc.value.code == "forbidden"
    assignment.refresh_from_db()
    assert assignment.draft == {} and assignment.last_seq == 0


def test_suspended_expert_is_refused_on_the_next_frame(assignment, expert):
    expert.suspended_at = timezone.now()
    expert.save(update_fields=["suspended_at"])
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.chat_post(assignment_id=assignment.pk, user=expert, body="still here?")
    assert exc.value.code == "forbidden"
    assert not WorkspaceEvent.objects.exists()


def test_an_expert_suspended_after_joining_is_refused_though_the_socket_holds_an_old_copy(
    assignment, expert
):
    copy_from_join = User.objects.get(pk=expert.pk)
    User.objects.filter(pk=expert.pk).update(suspended_at=timezone.now())
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.chat_post(assignment_id=assignment.pk, user=copy_from_join, body="still here?")
    assert exc.value.code == "forbidden"
    assert not WorkspaceEvent.objects.exists()


def test_a_chat_message_from_the_expert_costs_three_statements(
    assignment, expert, django_assert_num_queries
):
    # SAVEPOINT (the atomic block, nested in the test's transaction); the assignment row lock,
    # joined with the expert's user (the rights check) and the request, without the output and
    # the draft; UPDATE last_seq; INSERT the event; RELEASE SAVEPOINT.
    with django_assert_num_queries(5):
        ws.chat_post(assignment_id=assignment.pk, user=expert, body="Hello")


def test_the_lock_of_the_frequent_frames_reads_what_the_orm_reads(assignment, expert):
    # Chat, heartbeats and annotation edits lock the row with a statement written in SQL: every
    # value it loads must come out as the ORM gives it (UUIDs and datetimes are text on SQLite).
    Assignment.objects.filter(pk=assignment.pk).update(
        started_at=at(0), warned_80_at=at(60), last_seq=7, billed_seconds=90
    )
    User.objects.filter(pk=expert.pk).update(suspended_at=at(30))
    with transaction.atomic():
        locked = ws._locked(str(assignment.pk))
    orm = Assignment.objects.select_related("expert__user", "review_request").get(pk=assignment.pk)
    pairs = [
        (locked, orm),
        (locked.expert, orm.expert),
        (locked.expert.user, orm.expert.user),
        (locked.review_request, orm.review_request),
    ]
    for mine, theirs in pairs:
        loaded = [
            f.attname
            for f in type(mine)._meta.concrete_fields
            if f.attname not in mine.get_deferred_fields()
        ]
        assert {name: getattr(mine, name) for name in loaded} == {
            name: getattr(theirs, name) for name in loaded
        }
    assert "draft" in locked.get_deferred_fields()
    assert locked.draft == orm.draft  # loaded on first access, like a deferred field


def test_a_frame_for_a_workspace_that_does_not_exist_is_refused(expert):
    for assignment_id in ("8c6f2a4e-0000-4000-8000-000000000000", "not-a-uuid", None):
        with pytest.raises(ws.WorkspaceError) as exc:
            ws.chat_post(assignment_id=assignment_id, user=expert, body="anyone?")
        assert exc.value.code == "not_found"


# Events ---------------------------------------------------------------------------------


def test_every_change_gets_the_next_seq_without_gaps(assignment, expert, company_member):
    ws.chat_post(assignment_id=assignment.pk, user=company_member, body="Hello")
    ws.annotation_create(
        assignment_id=assignment.pk,
        user=expert,
        client_id="c1",
        start=0,
        end=3,
        comment="",
        severity="info",
    )
    with pytest.raises(ws.WorkspaceError):
        ws.annotation_create(
            assignment_id=assignment.pk,
            user=expert,
            client_id="c2",
            start=5,
            end=999,
            comment="",
            severity="info",
        )
    ws.draft_update(assignment_id=assignment.pk, user=expert, changes={"summary": "ok"})
    assert list(WorkspaceEvent.objects.order_by("seq").values_list("seq", "kind")) == [
        (1, "chat.message"),
        (2, "annotation.created"),
        (3, "draft.updated"),
    ]
    assignment.refresh_from_db()
    assert assignment.last_seq == 3
    assert [f["seq"] for f in workspace_events_after(assignment_id=assignment.pk, after_seq=1)] == [
        2,
        3,
    ]


def test_broadcast_happens_after_commit(assignment, expert, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        ws.chat_post(assignment_id=assignment.pk, user=expert, body="hi")
    assert len(callbacks) == 1


def test_annotation_quote_comes_from_the_text(assignment, expert):
    frame = ws.annotation_create(
        assignment_id=assignment.pk,
        user=expert,
        client_id="c1",
        start=4,
        end=8,
        comment="which?",
        severity="major",
    )
    annotation = Annotation.objects.get()
    assert annotation.quote == TEXT[4:8] == "scan"
    assert frame["event"]["annotation"]["quote"] == "scan"
    assert frame["event"]["client_id"] == "c1"


@pytest.mark.parametrize(
    ("start", "end", "severity", "field"),
    [
        (5, 5, "info", "end"),
        (-1, 3, "info", "start"),
        (0, len(TEXT) + 1, "info", "end"),
        ("0", 3, "info", "start"),
        (True, 3, "info", "start"),
        (0, 3, "fatal", "severity"),
    ],
)
def test_bad_annotations_are_refused(assignment, expert, start, end, severity, field):
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.annotation_create(
            assignment_id=assignment.pk,
            user=expert,
            client_id="c",
            start=start,
            end=end,
            comment="",
            severity=severity,
        )
    assert exc.value.code == "invalid"
    assert exc.value.field == field
    assert not Annotation.objects.exists()


def test_annotation_update_and_delete(assignment, expert):
    ws.annotation_create(
        assignment_id=assignment.pk,
        user=expert,
        client_id="c",
        start=0,
        end=3,
        comment="a",
        severity="info",
    )
    annotation = Annotation.objects.get()
    ws.annotation_update(
        assignment_id=assignment.pk,
        user=expert,
        annotation_id=str(annotation.pk),
        changes={"severity": "critical"},
    )
    annotation.refresh_from_db()
    assert (annotation.severity, annotation.comment) == ("critical", "a")
    ws.annotation_delete(assignment_id=assignment.pk, user=expert, annotation_id=str(annotation.pk))
    snapshot = workspace_snapshot(assignment=assignment, user=expert, role="expert")
    assert snapshot["annotations"] == []
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.annotation_delete(
            assignment_id=assignment.pk, user=expert, annotation_id=str(annotation.pk)
        )
    assert exc.value.code == "not_found"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"scores": {"speed": 3}}, "scores.speed"),
        ({"scores": {"accuracy": 6}}, "scores.accuracy"),
        ({"scores": {"clarity": 4}}, "scores.clarity"),
        ({"scores": {"accuracy": 2.5}}, "scores.accuracy"),
        ({"scores": [1]}, "scores"),
        ({"summary": 5}, "summary"),
        ({"corrected_output": "x" * (ws.CORRECTED_MAX + 1)}, "corrected_output"),
    ],
)
def test_bad_drafts_are_refused(assignment, expert, changes, field):
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.draft_update(assignment_id=assignment.pk, user=expert, changes=changes)
    assert exc.value.field == field
    assignment.refresh_from_db()
    assert assignment.draft == {}


def test_draft_updates_merge(assignment, expert):
    ws.draft_update(assignment_id=assignment.pk, user=expert, changes={"verdict": "approved"})
    frame = ws.draft_update(
        assignment_id=assignment.pk,
        user=expert,
        changes={"scores": {"accuracy": 4, "clarity": None}},
    )
    assert frame["event"]["draft"] == {"verdict": "approved", "scores": {"accuracy": 4}}


@pytest.mark.parametrize("body", ["", "   ", "x" * 4001, None, 42])
def test_chat_body_must_be_1_to_4000_characters(assignment, expert, body):
    with pytest.raises(ws.WorkspaceError):
        ws.chat_post(assignment_id=assignment.pk, user=expert, body=body)
    assert not WorkspaceEvent.objects.exists()


# Time -----------------------------------------------------------------------------------


def beat(assignment, user, seconds, socket="tab-1"):
    return ws.workspace_heartbeat(
        assignment_id=assignment.pk, user=user, socket=socket, now=at(seconds)
    )


def close(assignment, user, seconds, socket="tab-1"):
    return ws.workspace_socket_close(
        assignment_id=assignment.pk, user=user, socket=socket, now=at(seconds)
    )


def test_first_heartbeat_starts_the_work(assignment, expert):
    outcome = beat(assignment, expert, 0)
    assignment.refresh_from_db()
    assert assignment.status == "in_progress"
    assert assignment.started_at is not None
    assert (outcome.billed_seconds, outcome.added) == (0, True)


def test_heartbeats_extend_one_interval(assignment, expert):
    for second in (0, 20, 40, 60):
        outcome = beat(assignment, expert, second)
    assert outcome.billed_seconds == 60
    assert WorkInterval.objects.count() == 1


def test_a_gap_over_two_minutes_closes_the_interval(assignment, expert):
    beat(assignment, expert, 0)
    beat(assignment, expert, 30)
    beat(assignment, expert, 30 + 121)  # too late: a new interval starts here
    outcome = beat(assignment, expert, 30 + 121 + 20)
    assert outcome.billed_seconds == 50
    intervals = list(WorkInterval.objects.order_by("started_at"))
    assert [(i.closed, (i.last_heartbeat_at - i.started_at).seconds) for i in intervals] == [
        (True, 30),
        (False, 20),
    ]


def test_a_gap_of_exactly_two_minutes_keeps_counting(assignment, expert):
    beat(assignment, expert, 0)
    assert beat(assignment, expert, 120).billed_seconds == 120


def test_two_tabs_of_the_same_expert_count_once(assignment, expert):
    # Both tabs beat every 20 s, 10 s apart: one stretch each, counted once.
    for second in range(0, 200, 10):
        outcome = beat(assignment, expert, second, socket=f"tab-{second // 10 % 2}")
    assert outcome.billed_seconds == 190
    assert WorkInterval.objects.count() == 2


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # Four short visits, about 19 s connected in all (issue 13): the gaps are not billed.
        (
            [
                (0, "beat", "a"),
                (5, "close", "a"),
                (60, "beat", "b"),
                (65, "close", "b"),
                (120, "beat", "c"),
                (124, "close", "c"),
                (170, "beat", "d"),
                (175, "close", "d"),
            ],
            19,
        ),
        # Closing one of two sockets leaves the other counting; the last close ends the time.
        ([(0, "beat", "a"), (5, "beat", "b"), (10, "close", "a"), (40, "beat", "b")], 40),
        ([(0, "beat", "a"), (5, "beat", "b"), (10, "close", "a"), (45, "close", "b")], 45),
        # Two sockets (two daphne processes) open at once: the union of both.
        ([(0, "beat", "a"), (3, "beat", "b"), (20, "beat", "a"), (25, "close", "b")], 25),
        # A close after two minutes of silence ends the time at the last heartbeat.
        ([(0, "beat", "a"), (30, "beat", "a"), (200, "close", "a")], 30),
    ],
)
def test_time_counts_only_while_a_socket_is_open_and_beating(assignment, expert, script, expected):
    for second, kind, socket in script:
        (beat if kind == "beat" else close)(assignment, expert, second, socket=socket)
    assignment.refresh_from_db()
    assert assignment.billed_seconds == expected


def test_a_socket_close_broadcasts_the_stopped_clock(
    assignment, expert, django_capture_on_commit_callbacks
):
    beat(assignment, expert, 0)
    beat(assignment, expert, 20)
    with django_capture_on_commit_callbacks() as callbacks:
        assert close(assignment, expert, 25) == 25
    assert len(callbacks) == 1


def test_a_close_from_someone_else_or_after_submit_changes_nothing(
    assignment, expert, company_member, other_expert
):
    beat(assignment, expert, 0)
    beat(assignment, expert, 20)
    for user in (company_member, other_expert):
        assert close(assignment, user, 25) is None
    assignment.refresh_from_db()
    assert assignment.billed_seconds == 20
    assert WorkInterval.objects.get().socket_closed_at is None


def test_only_the_assigned_expert_makes_time(assignment, company_member, other_expert):
    for user in (company_member, other_expert):
        with pytest.raises(ws.WorkspaceError):
            beat(assignment, user, 0)
    assert not WorkInterval.objects.exists()


def test_time_stops_at_the_cap_with_warnings_at_80_percent_and_at_the_cap(organization, expert):
    CreditGrantFactory(organization=organization)
    assignment = AssignmentFactory(
        review_request__organization=organization,
        review_request__max_hours=Decimal("0.25"),
        expert__user=expert,
    )  # 900 s
    for second in range(0, 1000, 60):
        outcome = beat(assignment, expert, second)
    assert outcome.billed_seconds == 900
    assert outcome.added is False
    system = list(
        WorkspaceEvent.objects.filter(kind="system").values_list("payload__code", flat=True)
    )
    assert system == ["time_80", "time_cap"]
    assignment.refresh_from_db()
    assert assignment.billed_seconds == 900 and assignment.warned_80_at is not None
    # Nothing more is counted after the cap.
    assert beat(assignment, expert, 2000).billed_seconds == 900


def test_cap_crossed_inside_one_heartbeat_stops_exactly_at_the_cap(organization, expert):
    CreditGrantFactory(organization=organization)
    assignment = AssignmentFactory(
        review_request__organization=organization,
        review_request__max_hours=Decimal("0.25"),
        expert__user=expert,
    )
    beat(assignment, expert, 0)
    for second in range(100, 1001, 100):  # 1000 s crosses the 900 s cap
        outcome = beat(assignment, expert, second)
    assert outcome.billed_seconds == 900
    assert close(assignment, expert, 1010) == 900
    assignment.refresh_from_db()
    assert assignment.billed_seconds == 900


# Submit ---------------------------------------------------------------------------------


def test_submit_needs_a_verdict(assignment, expert):
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.assignment_submit(assignment=assignment, user=expert)
    assert (exc.value.code, exc.value.field) == ("incomplete_draft", "verdict")
    ws.draft_update(assignment_id=assignment.pk, user=expert, changes={"verdict": "corrected"})
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.assignment_submit(assignment=assignment, user=expert)
    assert exc.value.field == "corrected_output"
    assignment.refresh_from_db()
    assert assignment.status == "accepted"
    assert not Review.objects.exists()


def test_submit_captures_billed_time_and_completes_a_single_review(
    organization, expert, django_capture_on_commit_callbacks
):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    review_request = ReviewRequestFactory(
        organization=organization, in_review=True, callback_url="https://example.com/hook"
    )
    assignment = AssignmentFactory(
        review_request=review_request, expert__user=expert, rate_cents=6_000
    )  # $60/h, hold $72
    before = company_balance(organization=organization)
    assert before.held_cents == 7_200
    beat(assignment, expert, 0)
    beat(assignment, expert, 60)
    beat(assignment, expert, 120)
    ws.annotation_create(
        assignment_id=assignment.pk,
        user=expert,
        client_id="c",
        start=4,
        end=8,
        comment="?",
        severity="minor",
    )
    ws.draft_update(
        assignment_id=assignment.pk,
        user=expert,
        changes={
            "verdict": "corrected",
            "corrected_output": "Fixed.",
            "summary": "One error.",
            "scores": {"accuracy": 3},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        ws.assignment_submit(assignment=assignment, user=expert, now=at(130))

    assignment.refresh_from_db()
    assert assignment.status == "submitted"
    assert assignment.billed_seconds == 120
    # 120 s at $60/h = $2.00 to the expert, 20 % fee = $0.40.
    assert assignment.cost_cents == 240
    earning = Earning.objects.get()
    assert (earning.amount_cents, earning.fee_cents, earning.billed_seconds) == (200, 40, 120)
    assert Hold.objects.get(ref=assignment.hold_ref).status == "captured"
    after = company_balance(organization=organization)
    assert after.held_cents == 0
    assert after.available_cents == before.available_cents + 7_200 - 240
    assert LedgerAccount.objects.get(kind="expert_pending", user=expert).balance_cents == 200

    review_request.refresh_from_db()
    assert review_request.status == "completed"
    assert review_request.cost_cents == 240
    result = review_request.result
    assert result["verdict"] == "corrected"
    assert result["corrected_output"] == "Fixed."
    assert result["annotations"] == [
        {"start": 4, "end": 8, "quote": "scan", "comment": "?", "severity": "minor"}
    ]
    assert result["agreement"] is None
    assert result["reviews"][0]["assignment_id"] == str(assignment.pk)
    assert WebhookEvent.objects.filter(type="review_request.completed").count() == 1
    assert WorkInterval.objects.filter(closed=False).count() == 0
    # The review cannot change any more; the chat stays open.
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.draft_update(assignment_id=assignment.pk, user=expert, changes={"summary": "late"})
    assert exc.value.code == "not_active"
    ws.chat_post(assignment_id=assignment.pk, user=expert, body="Thanks!")


def test_two_reviewers_complete_with_consensus_only_when_both_are_in(
    organization, expert, other_expert
):
    CreditGrantFactory(organization=organization)
    review_request = ReviewRequestFactory(organization=organization, in_review=True, reviewers=2)
    first = AssignmentFactory(review_request=review_request, expert__user=expert)
    second = AssignmentFactory(review_request=review_request, expert__user=other_expert)
    ws.draft_update(
        assignment_id=first.pk,
        user=expert,
        changes={"verdict": "approved", "scores": {"accuracy": 5}},
    )
    ws.assignment_submit(assignment=first, user=expert)
    review_request.refresh_from_db()
    assert review_request.status == "in_review"
    assert review_request.result is None

    ws.draft_update(
        assignment_id=second.pk,
        user=other_expert,
        changes={"verdict": "rejected", "summary": "Wrong side.", "scores": {"accuracy": 2}},
    )
    ws.assignment_submit(assignment=second, user=other_expert)
    review_request.refresh_from_db()
    assert review_request.status == "completed"
    result = review_request.result
    assert result["verdict"] == "rejected"  # a tie goes to the stricter verdict
    assert result["scores"] == {"accuracy": 3.5}
    assert result["agreement"] == 0.0
    assert result["summary"] == "Wrong side."
    assert {r["assignment_id"] for r in result["reviews"]} == {str(first.pk), str(second.pk)}
    assert ReviewRequest.objects.get(pk=review_request.pk).completed_at is not None


def test_submit_twice_is_refused(assignment, expert):
    ws.draft_update(assignment_id=assignment.pk, user=expert, changes={"verdict": "approved"})
    ws.assignment_submit(assignment=assignment, user=expert)
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.assignment_submit(assignment=assignment, user=expert)
    assert exc.value.code == "not_active"
    assert Earning.objects.count() == 1


def test_released_assignment_shuts_out_its_expert(assignment, expert, company_member):
    from review_requests.services import assignment_transition

    assignment_transition(assignment=assignment, to=Assignment.Status.RELEASED)
    with pytest.raises(ws.WorkspaceError) as exc:
        ws.workspace_heartbeat(assignment_id=assignment.pk, user=expert, socket="tab-1")
    assert exc.value.code == "forbidden"
    # The company still reads it.
    assert assignment_get_for_workspace(user=company_member, pk=assignment.pk)[1] == "company"
