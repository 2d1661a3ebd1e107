"""Reads of the live workspace: who may join, the snapshot a client starts from, and the events
it resumes with. Offsets of annotations are code points into `text_of(content)`, the one text
both the page and the validation use."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.utils import timezone

from marketplace.models import Membership, User
from marketplace.permissions import operator_has_mfa
from review_requests import comparison as comparisons
from review_requests.models import (
    Annotation,
    Assignment,
    Offer,
    WorkInterval,
    WorkspaceEvent,
)
from review_requests.timekeeping import HEARTBEAT_GAP

ROLE_EXPERT = "expert"
ROLE_COMPANY = "company"
ROLE_OPERATOR = "operator"
# Another reviewer of the same request, or its adjudicator: reads, sends nothing. Never while
# the request is blind and an independent review is still out (independent-reviews.md).
ROLE_REVIEWER = "reviewer"
# Assignments whose review is in.
REVIEWED_STATUSES = ("submitted", "disputed", "resolved")
# Chat-visible event kinds (the snapshot's `messages`).
MESSAGE_KINDS = ("chat.message", "system")
SNAPSHOT_MESSAGES = 500


# The output text --------------------------------------------------------------------------


def text_of(content: dict[str, Any] | None) -> str:
    """The plain text a review request's output is annotated in: text, markdown and code are
    their body; JSON is pretty-printed (2 spaces, keys in their order); chat is its turns as
    "role: content" lines."""
    content = content or {}
    kind = content.get("type")
    body = content.get("body")
    if kind == "json":
        return json.dumps(body, indent=2, ensure_ascii=False)
    if kind == "chat":
        return "\n".join(f"{turn['role']}: {turn['content']}" for turn in _turns(body))
    return body if isinstance(body, str) else ("" if body is None else str(body))


def _turns(body: Any) -> list[dict[str, str]]:
    turns = []
    for turn in body if isinstance(body, list) else []:
        if isinstance(turn, dict):
            turns.append(
                {"role": str(turn.get("role", "")), "content": str(turn.get("content", ""))}
            )
    return turns


def chat_turn_spans(content: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Where each chat turn sits in text_of(content): [{"role", "start", "end"}]."""
    if not content or content.get("type") != "chat":
        return []
    spans, offset = [], 0
    for turn in _turns(content.get("body")):
        length = len(f"{turn['role']}: {turn['content']}")
        spans.append({"role": turn["role"], "start": offset, "end": offset + length})
        offset += length + 1
    return spans


# Who may join -------------------------------------------------------------------------------


def workspace_role(*, user, assignment: Assignment) -> str | None:
    """The assigned expert (until the assignment is released), members of the organization that
    owns the request, and operators with two-factor authentication. Nobody else."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.suspended_at is not None:
        return None
    if user.is_expert:
        if assignment.expert.user_id == user.pk and assignment.status != Assignment.Status.RELEASED:
            return ROLE_EXPERT
        if co_reviewer_may_watch(user=user, assignment=assignment):
            return ROLE_REVIEWER
        return None
    if user.is_company:
        if Membership.objects.filter(
            user=user, organization_id=assignment.review_request.organization_id
        ).exists():
            return ROLE_COMPANY
        return None
    if user.is_operator and operator_has_mfa(user):
        return ROLE_OPERATOR
    return None


def independent_reviews_in(*, review_request) -> bool:
    """Every wanted independent review (not the adjudicator's) is in."""
    return (
        Assignment.objects.filter(
            review_request_id=review_request.pk,
            adjudicator=False,
            status__in=REVIEWED_STATUSES,
        ).count()
        >= review_request.reviewers
    )


def co_reviewer_may_watch(*, user, assignment: Assignment) -> bool:
    """Another expert of the same request may watch this workspace, read-only: the adjudicator
    always; a co-reviewer when the request is not blind, or once every independent review is
    in. Their own assignment must not be released."""
    mine = (
        Assignment.objects.filter(review_request_id=assignment.review_request_id, expert__user=user)
        .exclude(status=Assignment.Status.RELEASED)
        .exclude(pk=assignment.pk)
        .values_list("adjudicator", flat=True)
        .first()
    )
    if mine is None:
        return False
    if mine:
        return True
    review_request = assignment.review_request
    return not review_request.blind or independent_reviews_in(review_request=review_request)


def co_reviews_for(*, user, assignment: Assignment) -> list[dict[str, Any]]:
    """What the expert of `assignment` may see of the request's other assignments: for each one
    they may watch, its workspace and, once submitted, its review. Empty while blind."""
    from review_requests.models import Review

    if assignment.expert.user_id != user.pk:
        return []
    others = (
        Assignment.objects.filter(review_request_id=assignment.review_request_id)
        .exclude(pk=assignment.pk)
        .exclude(status=Assignment.Status.RELEASED)
        .select_related("expert")
        .order_by("accepted_at", "id")
    )
    shown = []
    for other in others:
        if not co_reviewer_may_watch(user=user, assignment=other):
            continue
        review = Review.objects.filter(assignment=other).first()
        shown.append(
            {
                "assignment_id": str(other.pk),
                "name": other.expert.display_name or "Reviewer",
                "adjudicator": other.adjudicator,
                "status": other.status,
                "workspace_url": f"/workspace/{other.pk}/",
                "review": None
                if review is None
                else {
                    "verdict": review.verdict,
                    "summary": review.summary,
                    "scores": review.scores,
                    "corrected_output": review.corrected_output,
                    "annotations": review.annotations,
                },
            }
        )
    return shown


def assignment_get_for_workspace(*, user, pk) -> tuple[Assignment, str]:
    """The one fetcher of a workspace: (assignment, role), or 404 for anyone without a role, so
    another tenant cannot learn that an assignment exists."""
    try:
        assignment = Assignment.objects.select_related(
            "expert", "review_request", "review_request__specialization"
        ).get(pk=pk)
    except (Assignment.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404("No such workspace") from exc
    role = workspace_role(user=user, assignment=assignment)
    if role is None:
        raise Http404("No such workspace")
    return assignment, role


def workspace_role_fresh(*, user_id: int, assignment: Assignment) -> str | None:
    """The role re-read from the database (suspensions, removed memberships take effect)."""
    user = User.objects.filter(pk=user_id).first()
    return workspace_role(user=user, assignment=assignment) if user else None


# Display ------------------------------------------------------------------------------------


def participant_label(*, user, role: str, assignment: Assignment | None = None) -> str:
    if role == ROLE_EXPERT and assignment is not None:
        return assignment.expert.display_name or user.first_name or "Expert"
    name = user.get_full_name().strip() or user.email.split("@", 1)[0]
    if role == ROLE_OPERATOR:
        return f"{name} (Inloop)"
    return name


def actor_of(*, user, role: str, assignment: Assignment) -> dict[str, Any]:
    return {
        "id": user.pk,
        "name": participant_label(user=user, role=role, assignment=assignment),
        "role": role,
    }


# Snapshot and resume ------------------------------------------------------------------------


def annotation_to_dict(annotation: Annotation) -> dict[str, Any]:
    return {
        "id": str(annotation.id),
        "client_id": annotation.client_id,
        "start": annotation.start,
        "end": annotation.end,
        "quote": annotation.quote,
        "comment": annotation.comment,
        "severity": annotation.severity,
        **({"candidate": annotation.candidate} if annotation.candidate else {}),
    }


def event_frame(event: WorkspaceEvent) -> dict[str, Any]:
    """The `event` frame of the protocol, the same whether broadcast live or replayed."""
    return {
        "type": "event",
        "seq": event.seq,
        "event": {"kind": event.kind, **event.payload, "at": event.created_at.isoformat()},
    }


def message_of(event: WorkspaceEvent) -> dict[str, Any]:
    return {"seq": event.seq, **event_frame(event)["event"]}


def time_state(*, assignment: Assignment, now=None) -> dict[str, Any]:
    now = now or timezone.now()
    running = (
        assignment.status in Assignment.ACTIVE
        and assignment.billed_seconds < assignment.max_seconds
        and WorkInterval.objects.filter(
            assignment=assignment, closed=False, last_heartbeat_at__gte=now - HEARTBEAT_GAP
        ).exists()
    )
    return {
        "billed_seconds": assignment.billed_seconds,
        "max_seconds": assignment.max_seconds,
        "running": running,
        "server_time": now.isoformat(),
    }


def workspace_snapshot(
    *, assignment: Assignment, user, role: str, participants: list | None = None
) -> dict[str, Any]:
    """Everything a client needs to draw the workspace at `seq`. Events after `seq` follow it."""
    assignment = Assignment.objects.select_related(
        "expert", "review_request", "review_request__specialization"
    ).get(pk=assignment.pk)
    seq = assignment.last_seq
    review_request = assignment.review_request
    annotations = Annotation.objects.filter(assignment=assignment, deleted_at__isnull=True)
    messages = list(
        WorkspaceEvent.objects.filter(
            assignment=assignment, kind__in=MESSAGE_KINDS, seq__lte=seq
        ).order_by("-seq")[:SNAPSHOT_MESSAGES]
    )
    messages.reverse()
    me = actor_of(user=user, role=role, assignment=assignment)
    return {
        "type": "snapshot",
        "seq": seq,
        "you": me,
        "assignment": {
            "id": str(assignment.pk),
            "status": assignment.status,
            "expert": {"id": str(assignment.expert_id), "name": assignment.expert.display_name},
            "rate_cents": assignment.rate_cents,
            **time_state(assignment=assignment),
        },
        "review_request": {
            "id": str(review_request.pk),
            "title": review_request.title,
            "status": review_request.status,
            "specialization": review_request.specialization.slug,
            "content": review_request.content,
            "text": text_of(review_request.content),
            "turns": chat_turn_spans(review_request.content),
            "prompt": review_request.prompt,
            "guidelines": review_request.guidelines,
            "rubric": review_request.rubric or [],
            "model": review_request.model_name,
            **comparison_view(review_request=review_request, assignment=assignment, role=role),
        },
        "annotations": [annotation_to_dict(a) for a in annotations],
        "draft": assignment.draft or {},
        "adjudicator": assignment.adjudicator,
        "blind": review_request.blind,
        "co_reviews": co_reviews_for(user=user, assignment=assignment),
        "messages": [message_of(m) for m in messages],
        "participants": participants if participants is not None else [me],
    }


def comparison_view(*, review_request, assignment: Assignment, role: str) -> dict[str, Any]:
    """A comparison's part of the snapshot (`review_request.comparison`): the candidates in the
    order this assignment shows them (labelled A, B, ...), each with its annotatable `text`;
    their models only for the company and operators while `blind_models`. Empty otherwise."""
    content = review_request.content or {}
    if not comparisons.is_comparison(content):
        return {}
    hide = role == ROLE_EXPERT and comparisons.models_hidden(content)
    candidates = comparisons.candidates_shown(content, seed=str(assignment.pk), hide_models=hide)
    for candidate in candidates:
        candidate["text"] = text_of(candidate)
        candidate["turns"] = chat_turn_spans(candidate)
    return {
        "content": {"type": "comparison", "mode": content.get("mode")},
        "comparison": {
            "mode": content.get("mode"),
            "blind_models": comparisons.models_hidden(content),
            "order_shown": [c["id"] for c in candidates],
            "candidates": candidates,
            "criteria": comparisons.criteria_of(review_request.rubric),
        },
    }


def workspace_events_after(
    *, assignment_id, after_seq: int, upto_seq: int | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    events = WorkspaceEvent.objects.filter(assignment_id=assignment_id, seq__gt=after_seq)
    if upto_seq is not None:
        events = events.filter(seq__lte=upto_seq)
    return [event_frame(e) for e in events.order_by("seq")[:limit]]


# Expert pages -------------------------------------------------------------------------------


def expert_assignments(*, expert_profile, status: str = "", q: str = ""):
    assignments = Assignment.objects.filter(expert=expert_profile).select_related(
        "review_request", "review_request__specialization", "review_request__organization"
    )
    if status == "active":
        assignments = assignments.filter(status__in=Assignment.ACTIVE)
    elif status in Assignment.Status.values:
        assignments = assignments.filter(status=status)
    if q:
        assignments = assignments.filter(review_request__title__icontains=q)
    return assignments.order_by("-accepted_at", "-id")


def expert_dashboard_counts(*, expert_profile, now=None) -> dict[str, Any]:
    now = now or timezone.now()
    week_start = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    open_offers = Offer.objects.filter(
        expert=expert_profile, status=Offer.Status.OPEN, expires_at__gt=now
    ).count()
    totals = Assignment.objects.filter(expert=expert_profile).aggregate(
        active=Count("id", filter=Q(status__in=Assignment.ACTIVE)),
        submitted_week=Count("id", filter=Q(submitted_at__gte=week_start)),
        billed_week=Sum("billed_seconds", filter=Q(submitted_at__gte=week_start)),
    )
    return {
        "open_offers": open_offers,
        "active": totals["active"] or 0,
        "submitted_week": totals["submitted_week"] or 0,
        "billed_week_seconds": totals["billed_week"] or 0,
        "week_start": week_start,
    }
