"""Writes of the live workspace. Every change is one transaction that locks the assignment row,
takes the next `seq` from Assignment.last_seq (so seqs have no gaps), stores a WorkspaceEvent and
broadcasts it to workspace_group(assignment) after commit. Rights are checked inside each write
against fresh rows, so a consumer that joined an hour ago cannot act on stale rights.

Consumers call these through database_sync_to_async; they never write the database themselves.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import services as billing_services
from experts.models import ExpertProfile
from experts.services import expert_load_set, expert_stats_record_completion
from marketplace.realtime import broadcast_on_commit, request_group, workspace_group
from review_requests import comparison as comparisons
from review_requests.frames import (
    CORRECTED_MAX,  # noqa: F401 - the limit tests name as workspace.CORRECTED_MAX
    WorkspaceError,
    frame_parse,
)
from review_requests.models import (
    Annotation,
    Assignment,
    Review,
    ReviewRequest,
    WorkInterval,
    WorkspaceEvent,
)
from review_requests.results import adjudicated_result, adjudication_needed, consensus
from review_requests.services import (
    adjudication_threshold_of,
    assignment_transition,
    matching_enqueue_on_commit,
    request_transition,
)
from review_requests.timekeeping import (
    HEARTBEAT_GAP,
    Stretch,
    TimeEvent,
    TimeEventKind,
    WorkTime,
    warn_threshold,
    work_time,
)
from review_requests.workspace_selectors import (
    ROLE_EXPERT,
    actor_of,
    annotation_to_dict,
    event_frame,
    text_of,
    workspace_role,
    workspace_role_fresh,
)

logger = logging.getLogger(__name__)

VERDICTS = tuple(Review.Verdict.values)
DEFAULT_SCALE = 5


@dataclass
class HeartbeatOutcome:
    billed_seconds: int
    max_seconds: int
    added: bool
    running: bool
    notices: list[dict[str, str]] = field(default_factory=list)


# Helpers ------------------------------------------------------------------------------------


# The row lock of the frequent frames (chat messages, heartbeats, annotation edits) reads, with
# the locked assignment row, what the rights re-check and the actor's label need: the expert's
# profile and user, and the request's organization; not the draft nor the AI output (tens of
# kilobytes of JSON). A field left out loads on first access.
_LIGHT_FIELDS = (
    *(f.name for f in Assignment._meta.concrete_fields if f.name != "draft"),
    "expert__user",
    "expert__display_name",
    "expert__user__is_active",
    "expert__user__suspended_at",
    "expert__user__account_type",
    "expert__user__email",
    "expert__user__first_name",
    "expert__user__last_name",
    "review_request__organization",
)


def _locked(assignment_id, *, bulky: bool = False) -> Assignment:
    """The assignment, row-locked, with its expert's user (read fresh for the rights check) and
    its request; `bulky` loads every column (the draft, the request's content and rubric)."""
    queryset = Assignment.objects.select_for_update(of=("self",)).select_related(
        "expert__user", "review_request"
    )
    if not bulky:
        queryset = queryset.only(*_LIGHT_FIELDS)
    try:
        return queryset.get(pk=assignment_id)
    except (Assignment.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise WorkspaceError("not_found", "This workspace does not exist.") from exc


def _role(assignment: Assignment, user) -> str:
    if user.pk == assignment.expert.user_id:
        # The expert's user row came with the lock query: as fresh as a second read.
        role = workspace_role(user=assignment.expert.user, assignment=assignment)
    else:
        role = workspace_role_fresh(user_id=user.pk, assignment=assignment)
    if role is None:
        raise WorkspaceError("forbidden", "You can no longer take part in this workspace.")
    return role


def _expert_writable(assignment: Assignment, user) -> str:
    role = _role(assignment, user)
    if role != ROLE_EXPERT:
        raise WorkspaceError("forbidden", "Only the assigned expert can change the review.")
    if assignment.status not in Assignment.ACTIVE:
        raise WorkspaceError(
            "not_active", f"This assignment is {assignment.get_status_display().lower()}."
        )
    return role


def _event_append(
    *, assignment: Assignment, kind: str, payload: dict[str, Any], actor=None
) -> dict[str, Any]:
    """Next seq on the locked row, the event row, and its broadcast after commit."""
    # The row is locked by the caller (_locked), so this read-increment cannot race.
    assignment.last_seq += 1
    event = WorkspaceEvent(
        assignment=assignment, seq=assignment.last_seq, kind=kind, payload=payload, actor=actor
    )
    assignment.save(update_fields=["last_seq"])
    event.save(force_insert=True)
    frame = event_frame(event)
    # Encoded here, once: every socket of the workspace sends these same bytes.
    broadcast_on_commit(
        workspace_group(assignment.pk),
        {"type": "workspace.event", "seq": event.seq, "text": json.dumps(frame)},
    )
    return frame


def validate_scores(scores: Any, rubric: list[dict[str, Any]]) -> dict[str, int]:
    """Scores are {rubric key: whole number from 1 to the key's scale}; null drops a score."""
    if not isinstance(scores, dict):
        raise WorkspaceError("invalid", "scores must be an object.", "scores")
    scales = {
        str(item.get("key")): int(item.get("scale") or DEFAULT_SCALE)
        for item in rubric or []
        if isinstance(item, dict) and item.get("key")
    }
    clean: dict[str, int] = {}
    for key, value in scores.items():
        if key not in scales:
            # Rubric keys are plain slugs: anything else is not echoed back.
            known = isinstance(key, str) and key.isascii() and key.isprintable()
            raise WorkspaceError(
                "invalid",
                f"{key!r} is not in the rubric." if known else "A score key is not in the rubric.",
                f"scores.{key}" if known else "scores",
            )
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= scales[key]:
            raise WorkspaceError(
                "invalid", f"{key} takes a whole number from 1 to {scales[key]}.", f"scores.{key}"
            )
        clean[key] = value
    return clean


# Time ---------------------------------------------------------------------------------------


def _system_event(*, assignment: Assignment, code: str, body: str) -> dict[str, Any]:
    return _event_append(
        assignment=assignment, kind="system", payload={"code": code, "body": body}, actor=None
    )


def _stretches(assignment: Assignment) -> list[Stretch]:
    return [
        Stretch(
            socket=row.socket,
            started_at=row.started_at,
            last_heartbeat_at=row.last_heartbeat_at,
            socket_closed_at=row.socket_closed_at,
            closed=row.closed,
            pk=row.pk,
        )
        for row in WorkInterval.objects.filter(assignment=assignment).order_by("started_at", "id")
    ]


def _work_time_store(*, assignment: Assignment, event: TimeEvent) -> tuple[WorkTime, bool]:
    """Apply one event to the assignment's stretches (timekeeping.work_time, the rule) and write
    the rows it changed; also says whether a stretch was opened."""
    before = _stretches(assignment)
    after = work_time(before, event, max_seconds=assignment.max_seconds)
    known = {stretch.pk: stretch for stretch in before}
    opened = False
    for stretch in after.stretches:
        fields = {
            "started_at": stretch.started_at,
            "last_heartbeat_at": stretch.last_heartbeat_at,
            "socket_closed_at": stretch.socket_closed_at,
            "closed": stretch.closed,
        }
        if stretch.pk is None:
            WorkInterval.objects.create(assignment=assignment, socket=stretch.socket, **fields)
            opened = True
        elif stretch != known[stretch.pk]:
            WorkInterval.objects.filter(pk=stretch.pk).update(**fields)
    return after, opened


def _time_broadcast(*, assignment: Assignment, billed: int, running: bool, now) -> None:
    broadcast_on_commit(
        workspace_group(assignment.pk),
        {
            "type": "workspace.time",
            "status": assignment.status,
            "billed_seconds": billed,
            "max_seconds": assignment.max_seconds,
            "running": running,
            "server_time": now.isoformat(),
        },
    )


def workspace_heartbeat(*, assignment_id, user, socket: str, now=None) -> HeartbeatOutcome:
    """A heartbeat from one of the assigned expert's sockets (`socket`, its channel name):
    billed time as timekeeping.work_time counts it, up to max_seconds."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        assignment = _locked(assignment_id)
        _expert_writable(assignment, user)
        if assignment.status == Assignment.Status.ACCEPTED:
            assignment_transition(
                assignment=assignment,
                to=Assignment.Status.IN_PROGRESS,
                actor=user,
                reason="first heartbeat",
            )
        before = assignment.billed_seconds
        if before >= assignment.max_seconds:
            return HeartbeatOutcome(before, assignment.max_seconds, added=False, running=False)

        event = TimeEvent(kind=TimeEventKind.HEARTBEAT, socket=socket, at=now)
        after, opened = _work_time_store(assignment=assignment, event=event)
        billed = after.billed_seconds
        notices = _time_notices(assignment=assignment, before=before, billed=billed, now=now)
        running = billed < assignment.max_seconds
        added = billed != before or opened
        if added:
            _time_broadcast(assignment=assignment, billed=billed, running=running, now=now)
    return HeartbeatOutcome(billed, assignment.max_seconds, added, running, notices)


def _time_notices(*, assignment: Assignment, before: int, billed: int, now) -> list[dict[str, str]]:
    """Store the new billed time, with the 80 % and cap warnings the first time they are due."""
    notices: list[dict[str, str]] = []
    if billed != before:
        assignment.billed_seconds = billed
        assignment.save(update_fields=["billed_seconds"])
    threshold = warn_threshold(assignment.max_seconds)
    if billed >= threshold and before < threshold and assignment.warned_80_at is None:
        assignment.warned_80_at = now
        assignment.save(update_fields=["warned_80_at"])
        body = (
            "80 % of the paid time is used. If the review needs more hours, ask the "
            "company here in the chat."
        )
        _system_event(assignment=assignment, code="time_80", body=body)
        notices.append({"code": "time_80", "message": body})
    if billed >= assignment.max_seconds > before:
        body = (
            "The paid time is used up: the clock has stopped. Submit what you have, or ask "
            "the company here in the chat for more hours."
        )
        _system_event(assignment=assignment, code="time_cap", body=body)
        notices.append({"code": "time_cap", "message": body})
    return notices


def workspace_socket_close(*, assignment_id, user, socket: str, now=None) -> int | None:
    """One of the expert's sockets closed: its stretch ends here (timekeeping.work_time). Called
    on every disconnect of an expert socket; does nothing for an assignment that is no longer
    active or a user who is no longer its expert. Returns the billed seconds, if it counted."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        try:
            assignment = _locked(assignment_id)
            _expert_writable(assignment, user)
        except WorkspaceError:
            return None
        before = assignment.billed_seconds
        event = TimeEvent(kind=TimeEventKind.SOCKET_CLOSED, socket=socket, at=now)
        billed = _work_time_store(assignment=assignment, event=event)[0].billed_seconds
        # The warnings' system events reach whoever is still there; this socket is gone.
        _time_notices(assignment=assignment, before=before, billed=billed, now=now)
        running = billed < assignment.max_seconds and _beating(assignment=assignment, now=now)
        if billed != before or not running:
            _time_broadcast(assignment=assignment, billed=billed, running=running, now=now)
    return billed


def _beating(*, assignment: Assignment, now) -> bool:
    return WorkInterval.objects.filter(
        assignment=assignment, closed=False, last_heartbeat_at__gte=now - HEARTBEAT_GAP
    ).exists()


# Annotations --------------------------------------------------------------------------------


def _annotated_text(content: dict[str, Any], candidate: str) -> str:
    """The text an annotation's offsets are in: the output, or on a comparison one candidate's."""
    if not comparisons.is_comparison(content):
        if candidate:
            raise WorkspaceError("invalid", "Only a comparison has candidates.", "candidate")
        return text_of(content)
    for item in content.get("candidates") or []:
        if str(item.get("id")) == candidate:
            return text_of(item)
    raise WorkspaceError(
        "invalid", "Name the candidate the annotation is on (candidate).", "candidate"
    )


def annotation_create(
    *,
    assignment_id,
    user,
    client_id: Any,
    start: Any,
    end: Any,
    comment: Any,
    severity: Any,
    candidate: Any = "",
) -> dict[str, Any]:
    frame = frame_parse(
        {
            "type": "annotation.create",
            "candidate": candidate,
            "client_id": client_id,
            "start": start,
            "end": end,
            "comment": comment,
            "severity": severity,
        }
    )
    client_id, start, end = frame.client_id, frame.start, frame.end
    with transaction.atomic(durable=True):
        assignment = _locked(assignment_id, bulky=True)
        role = _expert_writable(assignment, user)
        text = _annotated_text(assignment.review_request.content, frame.candidate)
        if not 0 <= start < end <= len(text):
            raise WorkspaceError(
                "invalid",
                f"The selection must satisfy 0 <= start < end <= {len(text)}.",
                "start" if not 0 <= start < len(text) else "end",
            )
        annotation = Annotation.objects.create(
            assignment=assignment,
            candidate=frame.candidate,
            client_id=client_id,
            start=start,
            end=end,
            quote=text[start:end],
            comment=frame.comment,
            severity=frame.severity,
        )
        return _event_append(
            assignment=assignment,
            kind="annotation.created",
            payload={
                "annotation": annotation_to_dict(annotation),
                "client_id": client_id,
                "actor": actor_of(user=user, role=role, assignment=assignment),
            },
            actor=user,
        )


def _annotation(assignment: Assignment, annotation_id: Any) -> Annotation:
    try:
        return Annotation.objects.get(
            assignment=assignment, pk=annotation_id, deleted_at__isnull=True
        )
    except (Annotation.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise WorkspaceError("not_found", "No such annotation.", "id") from exc


def annotation_update(
    *, assignment_id, user, annotation_id: Any, changes: dict[str, Any]
) -> dict[str, Any]:
    fields = frame_parse({**changes, "type": "annotation.update"}).changes()
    with transaction.atomic(durable=True):
        assignment = _locked(assignment_id)
        role = _expert_writable(assignment, user)
        annotation = _annotation(assignment, annotation_id)
        for name, value in fields.items():
            setattr(annotation, name, value)
        annotation.save(update_fields=[*fields, "updated_at"])
        return _event_append(
            assignment=assignment,
            kind="annotation.updated",
            payload={
                "annotation": annotation_to_dict(annotation),
                "actor": actor_of(user=user, role=role, assignment=assignment),
            },
            actor=user,
        )


def annotation_delete(*, assignment_id, user, annotation_id: Any) -> dict[str, Any]:
    with transaction.atomic(durable=True):
        assignment = _locked(assignment_id)
        role = _expert_writable(assignment, user)
        annotation = _annotation(assignment, annotation_id)
        annotation.deleted_at = timezone.now()
        annotation.save(update_fields=["deleted_at", "updated_at"])
        return _event_append(
            assignment=assignment,
            kind="annotation.deleted",
            payload={
                "id": str(annotation.pk),
                "actor": actor_of(user=user, role=role, assignment=assignment),
            },
            actor=user,
        )


# Draft --------------------------------------------------------------------------------------

DRAFT_FIELDS = ("verdict", "corrected_output", "summary", "scores", "comparison")


def _comparison_checked(choices: Any, review_request: ReviewRequest) -> dict[str, Any]:
    """A draft's comparison fitted to its request (its mode, candidates and criteria)."""
    if not comparisons.is_comparison(review_request.content):
        raise WorkspaceError("invalid", "Only a comparison takes comparison.", "comparison")
    if choices is None:
        return {"criteria": {}, "rewrite": None}
    try:
        return comparisons.draft_check(
            choices.model_dump(), content=review_request.content, rubric=review_request.rubric
        )
    except comparisons.ComparisonRefused as exc:
        raise WorkspaceError("invalid", exc.message, exc.field) from exc


def draft_update(*, assignment_id, user, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge any of verdict, corrected_output, summary, scores into the draft (autosave)."""
    changes = frame_parse({**changes, "type": "draft.update"}).changes()
    present = [name for name in DRAFT_FIELDS if name in changes]
    with transaction.atomic(durable=True):
        assignment = _locked(assignment_id, bulky=True)
        role = _expert_writable(assignment, user)
        draft = dict(assignment.draft or {})
        for name in ("verdict", "corrected_output", "summary"):
            if name in changes:
                draft[name] = changes[name]
        if "scores" in changes:
            draft["scores"] = validate_scores(
                changes["scores"], assignment.review_request.rubric or []
            )
        if "comparison" in changes:
            draft["comparison"] = _comparison_checked(
                changes["comparison"], assignment.review_request
            )
        assignment.draft = draft
        assignment.save(update_fields=["draft"])
        return _event_append(
            assignment=assignment,
            kind="draft.updated",
            payload={
                "draft": draft,
                "fields": present,
                "actor": actor_of(user=user, role=role, assignment=assignment),
            },
            actor=user,
        )


# Chat ---------------------------------------------------------------------------------------


def chat_post(*, assignment_id, user, body: Any) -> dict[str, Any]:
    """Every participant may chat (the expert, the company's members, operators)."""
    body = frame_parse({"type": "chat.message", "body": body}).body
    with transaction.atomic(durable=True):
        assignment = _locked(assignment_id)
        role = _role(assignment, user)
        return _event_append(
            assignment=assignment,
            kind="chat.message",
            payload={"body": body, "actor": actor_of(user=user, role=role, assignment=assignment)},
            actor=user,
        )


# Submit -------------------------------------------------------------------------------------


def validate_draft_for_submit(draft: dict[str, Any]) -> None:
    verdict = draft.get("verdict")
    if verdict not in VERDICTS:
        raise WorkspaceError("incomplete_draft", "Choose a verdict before submitting.", "verdict")
    if verdict == Review.Verdict.CORRECTED and not (draft.get("corrected_output") or "").strip():
        raise WorkspaceError(
            "incomplete_draft",
            "A corrected verdict needs the corrected output.",
            "corrected_output",
        )


def assignment_submit(*, assignment: Assignment | Any, user, now=None) -> dict[str, Any]:
    """Submit the review: validate the draft, stop the clock, record the review, capture the
    billed time from the hold, and complete the request (with consensus) when every wanted
    review is in. One transaction; the webhook and broadcasts go out after commit."""
    now = now or timezone.now()
    assignment_id = getattr(assignment, "pk", assignment)
    with transaction.atomic(durable=True):
        review_request, assignment = _submit_lock(assignment_id)
        role = _expert_writable(assignment, user)
        draft = dict(assignment.draft or {})
        if comparisons.is_comparison(review_request.content):
            draft = _comparison_for_submit(draft, review_request, assignment)
        else:
            validate_draft_for_submit(draft)
        scores = validate_scores(draft.get("scores") or {}, review_request.rubric or [])

        event = TimeEvent(kind=TimeEventKind.SUBMITTED, socket="", at=now)
        billed = _work_time_store(assignment=assignment, event=event)[0].billed_seconds
        assignment.billed_seconds = billed
        assignment.save(update_fields=["billed_seconds"])
        assignment_transition(
            assignment=assignment, to=Assignment.Status.SUBMITTED, actor=user, reason="submitted"
        )
        review, annotations = _submit_review_create(
            assignment=assignment, draft=draft, scores=scores, now=now
        )
        cost_cents = _submit_capture(
            assignment=assignment, review_request=review_request, billed=billed
        )

        expert_load_set(
            expert_id=assignment.expert_id,
            load=Assignment.objects.filter(
                expert_id=assignment.expert_id, status__in=Assignment.ACTIVE
            ).count(),
        )
        on_time = review_request.deadline is None or now <= review_request.deadline
        expert_stats_record_completion(expert_id=assignment.expert_id, on_time=on_time)

        frame = _event_append(
            assignment=assignment,
            kind="submitted",
            payload={
                "review": {
                    "verdict": review.verdict,
                    "corrected_output": review.corrected_output,
                    "summary": review.summary,
                    "scores": review.scores,
                    "annotations": annotations,
                    **({"comparison": review.comparison} if review.comparison else {}),
                },
                "billed_seconds": billed,
                "cost_cents": cost_cents,
                "actor": actor_of(user=user, role=role, assignment=assignment),
            },
            actor=user,
        )
        _submit_golden(review_request=review_request, assignment=assignment, review=review)
        _submit_complete_request(review_request=review_request, user=user)
    return frame


def _submit_golden(*, review_request: ReviewRequest, assignment: Assignment, review: Review):
    """A golden review is scored into the expert's standing; a live one may bring a golden
    offer at the specialization's rate (review_requests.golden)."""
    from review_requests.golden import golden_live_maybe, golden_submit_record

    if review_request.is_golden:
        golden_submit_record(review_request=review_request, review=review)
    else:
        golden_live_maybe(review_request=review_request, assignment=assignment)


def _comparison_for_submit(
    draft: dict[str, Any], review_request: ReviewRequest, assignment: Assignment
) -> dict[str, Any]:
    """A comparison draft ready to submit (every criterion chosen): verdict `compared`, and the
    order this reviewer saw, recorded with the choices."""
    content, rubric = review_request.content, review_request.rubric
    choices = draft.get("comparison") or {}
    missing = comparisons.draft_unfilled(choices, content=content, rubric=rubric)
    if missing is not None:
        label = next(c["label"] for c in comparisons.criteria_of(rubric) if c["key"] == missing)
        raise WorkspaceError(
            "incomplete_draft",
            f"Choose a preference for every criterion before submitting ({label} is missing).",
            f"comparison.criteria.{missing}",
        )
    order = comparisons.order_shown(comparisons.candidate_ids(content), seed=str(assignment.pk))
    return {
        **draft,
        "verdict": comparisons.COMPARED,
        "comparison": {
            "order_shown": order,
            "criteria": choices.get("criteria") or {},
            "rewrite": choices.get("rewrite") or None,
        },
    }


def _submit_lock(assignment_id) -> tuple[ReviewRequest, Assignment]:
    """The request and the assignment, locked for a submit (inside its transaction)."""
    review_request_id = (
        Assignment.objects.filter(pk=assignment_id)
        .values_list("review_request_id", flat=True)
        .first()
    )
    if review_request_id is None:
        raise WorkspaceError("not_found", "This workspace does not exist.")
    # Request, expert profile, then assignment: the lock order of accept and release.
    review_request = ReviewRequest.objects.select_for_update().get(pk=review_request_id)
    expert_id = Assignment.objects.values_list("expert_id", flat=True).get(pk=assignment_id)
    ExpertProfile.objects.select_for_update().only("pk").get(pk=expert_id)
    return review_request, _locked(assignment_id, bulky=True)


def _submit_review_create(
    *, assignment: Assignment, draft: dict[str, Any], scores, now
) -> tuple[Review, list[dict[str, Any]]]:
    """The submitted review, with the live annotations copied into it: (review, annotations)."""
    annotations = [
        {
            "start": a.start,
            "end": a.end,
            "quote": a.quote,
            "comment": a.comment,
            "severity": a.severity,
            **({"candidate": a.candidate} if a.candidate else {}),
        }
        for a in Annotation.objects.filter(assignment=assignment, deleted_at__isnull=True)
    ]
    verdict = draft["verdict"]
    review = Review.objects.create(
        assignment=assignment,
        verdict=verdict,
        corrected_output=draft.get("corrected_output")
        if verdict == Review.Verdict.CORRECTED
        else None,
        summary=draft.get("summary") or "",
        scores=scores,
        annotations=annotations,
        comparison=draft.get("comparison") if verdict == comparisons.COMPARED else None,
        submitted_at=now,
    )
    return review, annotations


def _submit_capture(*, assignment: Assignment, review_request: ReviewRequest, billed: int) -> int:
    """The billed time captured from the hold and added to the assignment's and request's
    cost, inside the submit's transaction. Returns the company's cost in cents."""
    cost_cents = 0
    if assignment.hold_ref:
        earning = billing_services.hold_capture(
            ref=assignment.hold_ref,
            expert_user=assignment.expert.user,
            assignment_id=assignment.pk,
            billed_seconds=billed,
            rate_cents=assignment.rate_cents,
        )
        cost_cents = earning.company_cost_cents
    else:
        logger.warning("assignment %s submitted without a hold", assignment.pk)
    assignment.cost_cents = cost_cents
    assignment.save(update_fields=["cost_cents"])
    review_request.cost_cents = F("cost_cents") + cost_cents
    review_request.save(update_fields=["cost_cents", "updated_at"])
    review_request.refresh_from_db()
    return cost_cents


def _submit_complete_request(*, review_request: ReviewRequest, user) -> None:
    """Once every wanted independent review is in, the request gets its consensus result and
    completes; unless the reviews disagree enough for an adjudicator (four-eyes, or the
    organization's threshold): then it stays in review, one more slot is offered, and it
    completes (the webhook fires) when the adjudicator has submitted."""
    submitted = list(
        Review.objects.filter(
            assignment__review_request=review_request,
            assignment__status=Assignment.Status.SUBMITTED,
        )
        .select_related("assignment")
        .order_by("submitted_at", "id")
    )
    independent = [r for r in submitted if not r.assignment.adjudicator]
    decided = [r for r in submitted if r.assignment.adjudicator]
    if (
        len(independent) < review_request.reviewers
        or review_request.status != ReviewRequest.Status.IN_REVIEW
    ):
        return
    result = _independent_result(review_request, [_review_dict(r) for r in independent])
    if review_request.adjudication_wanted_at is None:
        if adjudication_needed(
            result,
            four_eyes=review_request.four_eyes,
            threshold=adjudication_threshold_of(organization_id=review_request.organization_id),
        ):
            _adjudication_request(review_request=review_request)
            return
        adjudication = None
    elif decided:
        adjudication = _review_dict(decided[-1])
    else:
        return  # waiting for the adjudicator
    review_request.result = adjudicated_result(
        result, adjudication, four_eyes=review_request.four_eyes
    )
    review_request.save(update_fields=["result", "updated_at"])
    request_transition(
        review_request=review_request,
        to=ReviewRequest.Status.COMPLETED,
        reason="adjudicated" if adjudication else "all reviews submitted",
        actor=user,
    )


def _independent_result(review_request: ReviewRequest, reviews: list[dict[str, Any]]) -> dict:
    """The independent reviews' result: a comparison's preferences, else the consensus."""
    if comparisons.is_comparison(review_request.content):
        return comparisons.request_result(
            content=review_request.content, rubric=review_request.rubric, reviews=reviews
        )
    return consensus(reviews, review_request.rubric or [])


def adjudication_abandon(*, review_request: ReviewRequest) -> None:
    """The deadline passed while an adjudicator was awaited (the caller holds the request lock
    and has released any unsubmitted work): the independent reviews' consensus is the result,
    with `adjudication` null, and the request completes (its webhook fires once)."""
    independent = Review.objects.filter(
        assignment__review_request=review_request,
        assignment__adjudicator=False,
        assignment__status=Assignment.Status.SUBMITTED,
    ).order_by("submitted_at", "id")
    result = _independent_result(review_request, [_review_dict(r) for r in independent])
    review_request.result = adjudicated_result(result, None, four_eyes=review_request.four_eyes)
    review_request.save(update_fields=["result", "updated_at"])
    request_transition(
        review_request=review_request,
        to=ReviewRequest.Status.COMPLETED,
        reason="deadline passed before adjudication",
    )


def _adjudication_request(*, review_request: ReviewRequest) -> None:
    """The independent reviews disagree: the request stays in review and its adjudication slot
    is offered after commit (matching: one offer at a time, flagged `adjudicator`)."""
    review_request.adjudication_wanted_at = timezone.now()
    review_request.save(update_fields=["adjudication_wanted_at", "updated_at"])
    matching_enqueue_on_commit([review_request.pk])
    broadcast_on_commit(
        request_group(review_request.pk),
        {
            "type": "request.status",
            "review_request_id": str(review_request.pk),
            "status": review_request.status,
            "adjudication_wanted": True,
        },
    )


def _review_dict(review: Review) -> dict[str, Any]:
    return {
        "assignment_id": str(review.assignment_id),
        "verdict": review.verdict,
        "corrected_output": review.corrected_output,
        "summary": review.summary,
        "scores": review.scores,
        "annotations": review.annotations,
        "comparison": review.comparison,
        "submitted_at": review.submitted_at.isoformat(),
    }
