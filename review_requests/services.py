"""Writes of the review-request lifecycle. Status changes go through the transition helpers below,
which refuse illegal moves and leave a history row."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from marketplace.realtime import broadcast_on_commit, request_group
from marketplace.transitions import record_initial, transition, transition_many
from review_requests.models import (
    Assignment,
    RequestStatusChange,
    ReviewRequest,
)
from review_requests.signals import review_request_completed
from review_requests.webhooks import EVENT_TYPES, webhook_event_enqueue


def request_transition(
    *, review_request: ReviewRequest, to: str, reason: str = "", actor=None
) -> ReviewRequest:
    """Move a request to `to` (must be allowed by ReviewRequest.TRANSITIONS). Runs inside the
    caller's transaction; the webhook event and the live update go out on commit."""
    with transaction.atomic():
        review_request.refresh_from_db(
            fields=["status"], from_queryset=ReviewRequest.objects.select_for_update()
        )
        now = timezone.now()
        fields = {"updated_at": now}
        if to == ReviewRequest.Status.COMPLETED:
            fields["completed_at"] = now
        if to == ReviewRequest.Status.IN_REVIEW and review_request.first_accepted_at is None:
            fields["first_accepted_at"] = now
        current = transition(review_request, to, actor=actor, reason=reason, **fields)
        event_type = EVENT_TYPES.get(to)
        if event_type is not None:
            webhook_event_enqueue(review_request=review_request, event_type=event_type)
        if to == ReviewRequest.Status.COMPLETED:
            _completed_signal_on_commit(review_request, after_dispute=current == "disputed")
        if to == ReviewRequest.Status.COMPLETED and current != ReviewRequest.Status.DISPUTED:
            # (After a dispute, the decision's own notification says it.)
            _notify_company_admins(
                review_request,
                kind="completed",
                title=f"Review completed: “{review_request.title[:120]}”",
                body="The result is ready; it was also sent to your webhook if you set one.",
            )
        broadcast_on_commit(
            request_group(review_request.pk),
            {"type": "request.status", "review_request_id": str(review_request.pk), "status": to},
        )
    return review_request


def _completed_signal_on_commit(review_request: ReviewRequest, *, after_dispute: bool) -> None:
    """The apps above (evidence) learn of a completion once it is committed."""
    pk = review_request.pk
    # robust: a receiver's failure is logged and must not turn a committed submit into an error.
    transaction.on_commit(
        lambda: review_request_completed.send(
            sender=ReviewRequest, review_request_id=pk, after_dispute=after_dispute
        ),
        robust=True,
    )


def assignment_transition(
    *, assignment: Assignment, to: str, reason: str = "", actor=None
) -> Assignment:
    with transaction.atomic():
        assignment.refresh_from_db(
            fields=["status"], from_queryset=Assignment.objects.select_for_update()
        )
        now = timezone.now()
        fields = {}
        if to == Assignment.Status.IN_PROGRESS and assignment.started_at is None:
            fields["started_at"] = now
        elif to == Assignment.Status.SUBMITTED:
            fields["submitted_at"] = now
        elif to == Assignment.Status.RELEASED:
            fields["released_at"] = now
        transition(assignment, to, actor=actor, reason=reason, **fields)
        broadcast_on_commit(
            request_group(assignment.review_request_id),
            {
                "type": "request.status",
                "review_request_id": str(assignment.review_request_id),
                "assignment_id": str(assignment.pk),
                "assignment_status": to,
            },
        )
    return assignment


# Creating requests, offers, accept/decline, cancel, release, expiry ("API+offers") -----------
#
# Lock order, everywhere: the review request row, then the expert profile row, then (inside
# billing) the ledger accounts in primary-key order. One fixed order means no deadlocks.


class Refused(Exception):
    """A business rule said no: `status` and `code` are what the API answers (409, 410, ...)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _max_seconds(max_hours) -> int:
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(max_hours) * 3600).to_integral_value(rounding=ROUND_HALF_UP))


def _max_hours_decimal(value):
    from decimal import ROUND_HALF_UP, Decimal

    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# The taxonomy changes only by migration: a per-process copy saves a query on every create.
# A slug missing from the copy is always looked up again, so a new specialization is never
# refused; the copy is dropped after five minutes anyway.
_SPECIALIZATIONS: dict = {}
_SPECIALIZATIONS_LOADED_AT = 0.0
_SPECIALIZATIONS_TTL = 300.0


def specializations_cache_clear(**kwargs) -> None:
    """Connected to Specialization saves/deletes and to post_migrate (which a flush sends)."""
    global _SPECIALIZATIONS_LOADED_AT
    _SPECIALIZATIONS.clear()
    _SPECIALIZATIONS_LOADED_AT = 0.0


def _specializations_by_slug(slugs) -> dict:
    import time

    from experts.models import Specialization

    global _SPECIALIZATIONS_LOADED_AT
    wanted = set(slugs)
    now = time.monotonic()
    if now - _SPECIALIZATIONS_LOADED_AT > _SPECIALIZATIONS_TTL:
        _SPECIALIZATIONS.clear()
        _SPECIALIZATIONS_LOADED_AT = now
    missing = wanted - _SPECIALIZATIONS.keys()
    if missing:
        for spec in Specialization.objects.filter(slug__in=missing):
            _SPECIALIZATIONS[spec.slug] = spec
    return {slug: _SPECIALIZATIONS[slug] for slug in wanted if slug in _SPECIALIZATIONS}


def _request_fields(*, organization, data: dict, specialization, api_key=None, user=None) -> dict:
    content = content_stored(data["content"])
    reviewers = data.get("reviewers") or 1
    # Blind by default with several reviewers, always with four-eyes (the schema refuses
    # blind: false there).
    blind = data.get("blind")
    blind = (reviewers > 1 if blind is None else bool(blind)) or bool(data.get("four_eyes"))
    return {
        "id": uuid.uuid4(),
        "organization": organization,
        "created_by_key": api_key,
        "created_by_user": user if user is not None and user.is_authenticated else None,
        "title": data["title"],
        "specialization": specialization,
        "content_type": content["type"],
        "content": content,
        "prompt": data.get("prompt") or "",
        "model_name": data.get("model") or "",
        "guidelines": data.get("guidelines") or "",
        "rubric": data.get("rubric") or [],
        "max_hours": _max_hours_decimal(data["max_hours"]),
        "max_hourly_rate_cents": data.get("max_hourly_rate_cents"),
        "reviewers": reviewers,
        "blind": blind,
        "four_eyes": bool(data.get("four_eyes")),
        "deadline": data.get("deadline"),
        "callback_url": data.get("callback_url") or "",
        "metadata": data.get("metadata") or {},
        "confidence": data.get("confidence"),
    }


def _build_request(*, data: dict, in_force, key_of, now, **context) -> tuple[ReviewRequest, str]:
    """The unsaved request of one validated item, as its oversight policy (if any) decides,
    and the reason its first history row gives."""
    from review_requests.oversight_routing import (
        auto_approved_reason,
        decision_fields,
        item_decide,
        review_overrides,
    )

    if in_force is None:
        return ReviewRequest(**_request_fields(data=data, **context)), "created"
    request_id = uuid.uuid4()
    decision = item_decide(in_force=in_force, data=data, key=key_of(request_id))
    data = {**data, **review_overrides(decision=decision, now=now)}
    fields = {**_request_fields(data=data, **context), "id": request_id}
    fields.update(decision_fields(in_force=in_force, decision=decision))
    if decision.reviewed:
        return ReviewRequest(**fields), "created"
    # Decided without a human: answered at once, never matched, offered or charged.
    reason = auto_approved_reason(in_force=in_force, decision=decision)
    return ReviewRequest(**fields, status=ReviewRequest.Status.AUTO_APPROVED), reason


def _without_nulls(item: dict, names: tuple[str, ...]) -> dict:
    return {k: v for k, v in item.items() if not (k in names and v is None)}


def content_stored(content: dict) -> dict:
    """The content object as stored (and echoed): optional fields left out when not given; a
    comparison keeps its mode, candidates and blind_models (default true), and has no body."""
    optional = ("language", "mode", "candidates", "blind_models")
    if content.get("type") != "comparison":
        return _without_nulls(content, optional)
    stored = _without_nulls(content, (*optional, "body"))
    stored.pop("body", None)
    stored["blind_models"] = content.get("blind_models") is not False
    stored["candidates"] = [
        _without_nulls(c, ("language", "model")) for c in content.get("candidates") or []
    ]
    return stored


def _specializations_check(items: list[dict]) -> dict:
    """The items' specializations by slug; an unknown one raises ValidationError naming
    `specialization` (`requests[i].specialization` when there are several)."""
    from django.core.exceptions import ValidationError

    specializations = _specializations_by_slug(item["specialization"] for item in items)
    for index, item in enumerate(items):
        if item["specialization"] not in specializations:
            field = "specialization" if len(items) == 1 else f"requests[{index}].specialization"
            raise ValidationError(
                {
                    field: f"Unknown specialization {item['specialization']!r}; "
                    "see GET /api/v1/specializations."
                }
            )
    return specializations


def review_requests_create(
    *,
    organization,
    items: list[dict],
    api_key=None,
    user=None,
    idempotency_key: str | None = None,
    batch: bool = False,
    oversight: bool = True,
) -> list[ReviewRequest]:
    """Create one or many requests (validated data, as from ReviewRequestIn.model_dump()), all or
    nothing in one transaction, and start one matching pass after commit for those a human
    reviews. Each item goes through its oversight policy (`policy`, else the organization's
    default, if any): an auto-approved one is stored as `auto_approved` in the same insert and
    never matched. An unknown specialization or policy raises ValidationError naming the field
    (with the index, `requests[i].specialization`, when there are several). `oversight=False`
    (a request made by hand in the web form) applies no policy."""
    from review_requests.oversight_routing import decision_key, policies_in_force
    from review_requests.webhooks import auto_approved_events_enqueue

    specializations = _specializations_check(items)
    in_force = policies_in_force(organization_id=organization.pk, items=items) if oversight else {}
    now = timezone.now()
    created, history = [], []
    for index, item in enumerate(items):
        rr, reason = _build_request(
            data=item,
            in_force=in_force.get(item.get("policy")),
            key_of=lambda request_id, index=index: decision_key(
                idempotency_key=idempotency_key, batch=batch, index=index, request_id=request_id
            ),
            now=now,
            organization=organization,
            specialization=specializations[item["specialization"]],
            api_key=api_key,
            user=user,
        )
        rr.created_at = now
        rr.updated_at = now
        created.append(rr)
        history.append(
            RequestStatusChange(
                review_request=rr,
                from_status="",
                to_status=rr.status,
                reason=reason,
                created_at=now,
            )
        )
    auto_approved = [rr for rr in created if rr.status == ReviewRequest.Status.AUTO_APPROVED]
    with transaction.atomic():
        ReviewRequest.objects.bulk_create(created)
        RequestStatusChange.objects.bulk_create(history)
        # With the database task backend the task row commits with the requests, all or nothing.
        matching_enqueue_on_commit(
            [rr.pk for rr in created if rr.status == ReviewRequest.Status.QUEUED]
        )
        if auto_approved:
            auto_approved_events_enqueue(
                organization_id=organization.pk, review_requests=auto_approved
            )
    return created


def review_request_create(
    *,
    organization,
    data: dict,
    api_key=None,
    user=None,
    idempotency_key: str | None = None,
    oversight: bool = True,
) -> ReviewRequest:
    return review_requests_create(
        organization=organization,
        items=[data],
        api_key=api_key,
        user=user,
        idempotency_key=idempotency_key,
        oversight=oversight,
    )[0]


FORM_ENDPOINT = "review_requests.form"


def review_request_create_from_form(
    *, organization, data: dict, user, submission_key: str
) -> tuple[ReviewRequest, bool]:
    """A request made by hand in the web form, through the same create as the API: the policy
    the form chose decides it (no `policy` means none applies, not the organization's default:
    the form preselects the default, so "None" was chosen). At most once per submission key
    within 24 h, exactly as an `Idempotency-Key`: a second submit of the same form gives back
    the first request (and `True`); the same key with other values raises IdempotencyConflict.
    An unknown specialization or policy raises ValidationError naming the field."""
    from review_requests.idempotency import body_hash, idempotent_call
    from review_requests.selectors import review_request_get_for_org

    made: list[ReviewRequest] = []

    def action() -> tuple[int, dict]:
        made.append(
            review_request_create(
                organization=organization,
                data=data,
                user=user,
                oversight=data.get("policy") is not None,
            )
        )
        return 201, {"id": str(made[-1].pk)}

    with transaction.atomic(durable=True):
        outcome = idempotent_call(
            organization=organization,
            endpoint=FORM_ENDPOINT,
            key=submission_key,
            digest=body_hash(json.dumps(data, default=str).encode()),
            action=action,
        )
        if made and not outcome.replayed:
            return made[-1], False
        return review_request_get_for_org(organization=organization, pk=outcome.body["id"]), True


def _enqueue_matching(review_request_ids: list[str]) -> None:
    from review_requests.tasks import matching_run_task

    matching_run_task.enqueue(review_request_ids)


def _is_database_task_backend(alias: str) -> bool:
    # From the setting, not `task.get_backend()`: under ASGI every request builds its own
    # backend objects on first use.
    from django_tasks_db.backend import DatabaseBackend

    return issubclass(import_string(settings.TASKS[alias]["BACKEND"]), DatabaseBackend)


def matching_enqueue_on_commit(review_request_ids) -> None:
    """Matching starts once the caller's transaction commits. With the database task backend
    the task row is written inside that transaction (it becomes visible to workers exactly at
    commit, and is never lost between commit and enqueue; one commit instead of two); other
    backends (the immediate one in tests) are enqueued after commit."""
    from review_requests.tasks import matching_run_task

    ids = [str(x) for x in review_request_ids]
    if not ids:
        return
    if _is_database_task_backend(matching_run_task.backend):
        _enqueue_matching(ids)
    else:
        transaction.on_commit(lambda: _enqueue_matching(ids))


# Load kept on the expert profile (experts never import review_requests) --------------------

FILLED_STATUSES = ("accepted", "in_progress", "submitted", "disputed", "resolved")


def adjudication_threshold_of(*, organization_id) -> float | None:
    """The organization's adjudication threshold (0-1), or None when off (the default)."""
    from review_requests.models import ReviewSettings

    return (
        ReviewSettings.objects.filter(organization_id=organization_id)
        .values_list("adjudication_threshold", flat=True)
        .first()
    )


def review_settings_update(*, organization, adjudication_threshold: float | None, actor=None):
    """Set (or turn off, with None) the organization's adjudication threshold, audited."""
    from marketplace.services import audit_record
    from review_requests.models import ReviewSettings

    if adjudication_threshold is not None and not 0 < adjudication_threshold <= 1:
        from django.core.exceptions import ValidationError

        raise ValidationError({"adjudication_threshold": "Give a share from 0.01 to 1, or none."})
    with transaction.atomic(durable=True):
        settings_row, _ = ReviewSettings.objects.select_for_update().get_or_create(
            organization=organization
        )
        before = settings_row.adjudication_threshold
        settings_row.adjudication_threshold = adjudication_threshold
        settings_row.save(update_fields=["adjudication_threshold", "updated_at"])
        audit_record(
            actor=actor,
            action="review_settings.updated",
            object_type="review_settings",
            object_id=settings_row.pk,
            before={"adjudication_threshold": before},
            after={"adjudication_threshold": adjudication_threshold},
            organization=organization,
        )
    return settings_row


def reviewer_slots(review_request: ReviewRequest) -> int:
    """The assignments a request wants: its reviewers, plus the adjudicator once one is wanted
    (docs/contract/independent-reviews.md)."""
    return review_request.reviewers + (1 if review_request.adjudication_wanted_at else 0)


def _expert_load_refresh(*, expert_id) -> int:
    """Recount the expert's active assignments and store it (caller holds the profile lock)."""
    from experts.services import expert_load_set

    load = Assignment.objects.filter(expert_id=expert_id, status__in=Assignment.ACTIVE).count()
    expert_load_set(expert_id=expert_id, load=load)
    return load


def _expert_profile_of(expert):
    """Accept an ExpertProfile or its user."""
    from experts.models import ExpertProfile

    if isinstance(expert, ExpertProfile):
        return expert
    profile = ExpertProfile.objects.filter(user_id=getattr(expert, "pk", None)).first()
    if profile is None:
        raise Refused(404, "not_found", "Not found.")
    return profile


def _responses_record_on_commit(responses: list[tuple]) -> None:
    """Offer response times, (expert_id, seconds), go to the experts' track record after
    commit, in a transaction of their own: never a profile lock inside the offer locks. Robust:
    a failure there is logged and never turns a committed accept or decline into an error."""
    from experts.services import expert_stats_record_responses

    if responses:
        transaction.on_commit(
            lambda: expert_stats_record_responses(responses=responses), robust=True
        )


def _lock_request(pk) -> ReviewRequest:
    return ReviewRequest.objects.select_for_update().select_related("specialization").get(pk=pk)


def _notify_company_funds(review_request: ReviewRequest, needed_cents: int) -> None:
    dollars = f"${needed_cents / 100:,.2f}"
    _notify_company_admins(
        review_request,
        kind="status",
        title=f"Add funds: “{review_request.title[:80]}” is waiting",
        body=(
            f"An expert is ready, but the available balance does not cover the hold of "
            f"{dollars}. Add funds and the request will be offered again."
        ),
        url="/company/billing/",
    )


def _notify_company_admins(
    review_request: ReviewRequest, *, kind: str, title: str, body: str, url: str = ""
) -> None:
    """Tell the company's owners and admins; the link goes to the request unless `url` says."""
    from marketplace.selectors import organization_admins
    from marketplace.services import notify

    for user in organization_admins(organization_id=review_request.organization_id):
        notify(
            user=user,
            kind=kind,
            title=title,
            body=body,
            url=url or f"/company/requests/{review_request.pk}/",
        )


def _set_waiting_for_funds(review_request: ReviewRequest, waiting: bool, needed_cents: int = 0):
    if review_request.waiting_for_funds == waiting:
        return
    review_request.waiting_for_funds = waiting
    review_request.save(update_fields=["waiting_for_funds", "updated_at"])
    # The request's page shows "waiting for funds" live (it re-reads the request on this push).
    broadcast_on_commit(
        request_group(review_request.pk),
        {
            "type": "request.status",
            "review_request_id": str(review_request.pk),
            "status": review_request.status,
        },
    )
    if waiting:
        _notify_company_funds(review_request, needed_cents)


def hold_scope(*, review_request_id) -> str:
    """What billing knows a request by for holds the platform pays (a rework after a dispute:
    review_requests.dispute_services grants them, offer_accept spends them)."""
    return f"review_request:{review_request_id}"


def offer_accept(*, offer_id, expert) -> Assignment:
    """First accept wins the slot. One transaction: row locks (request, then expert profile),
    the billing hold, the assignment, the expert's load and the request's status move together.
    Refusals that change state (an offer found taken or expired) are committed, then raised."""
    from experts.models import ExpertProfile
    from review_requests.models import Offer

    profile = _expert_profile_of(expert)
    refusal: Refused | None = None
    needed_cents = 0
    with transaction.atomic(durable=True):
        offer = Offer.objects.filter(pk=offer_id, expert_id=profile.pk).first()
        if offer is None:
            raise Refused(404, "not_found", "Not found.")
        rr = _lock_request(offer.review_request_id)
        profile = (
            ExpertProfile.objects.select_for_update().select_related("user").get(pk=profile.pk)
        )
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        now = timezone.now()
        if offer.status == Offer.Status.ACCEPTED:
            # A double click: the first accept already made the assignment.
            return Assignment.objects.get(offer=offer)
        filled = rr.assignments.filter(status__in=FILLED_STATUSES).count()
        refusal = _offer_accept_refusal(offer=offer, rr=rr, profile=profile, filled=filled, now=now)
        if refusal is None:
            assignment, refusal, needed_cents = _offer_accept_hold(
                offer=offer, rr=rr, profile=profile, now=now
            )
        if refusal is not None:
            if refusal.code == "insufficient_funds":
                _set_waiting_for_funds(rr, True, needed_cents)
        else:
            _offer_accept_record(
                offer=offer, rr=rr, profile=profile, assignment=assignment, filled=filled, now=now
            )
    if refusal is not None:
        raise refusal
    return assignment


def _offer_accept_refusal(*, offer, rr: ReviewRequest, profile, filled: int, now) -> Refused | None:
    """Why this locked offer cannot be accepted now, or None. An offer found expired, or whose
    request is closed or full, is moved to that status here (committed with the refusal)."""
    from review_requests.models import Offer

    if offer.status in (Offer.Status.TAKEN, Offer.Status.WITHDRAWN):
        return Refused(409, "offer_taken", "Another expert took this slot first.")
    if offer.status == Offer.Status.DECLINED:
        return Refused(409, "offer_declined", "You declined this offer.")
    if offer.status == Offer.Status.EXPIRED or offer.expires_at <= now:
        if offer.status == Offer.Status.OPEN:
            transition(offer, Offer.Status.EXPIRED, reason="expired", responded_at=now)
            expired_after = (offer.expires_at - offer.created_at).total_seconds()
            _responses_record_on_commit([(profile.pk, expired_after)])
            if rr.is_golden:
                # The expiry sweep will not see this offer again, and the matching sweep leaves
                # golden requests out: the re-offer to another expert starts here.
                matching_enqueue_on_commit([rr.pk])
        return Refused(410, "offer_expired", "This offer has expired.")
    if rr.status not in (ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW):
        transition(offer, Offer.Status.WITHDRAWN, reason="request no longer open")
        return Refused(409, "offer_taken", "This request is no longer open.")
    if filled >= reviewer_slots(rr):
        transition(offer, Offer.Status.TAKEN, reason="every slot filled")
        return Refused(409, "offer_taken", "Another expert took this slot first.")
    if profile.current_load >= profile.max_concurrent:
        return Refused(
            409,
            "at_capacity",
            f"You already have {profile.current_load} active assignments, your limit. "
            "Submit or give one back first.",
        )
    return None


def _offer_accept_hold(*, offer, rr: ReviewRequest, profile, now):
    """The assignment and its billing hold, in a savepoint of offer_accept's transaction:
    (assignment, None, 0), or (unsaved assignment, the insufficient-funds refusal, the hold that
    the balance did not cover)."""
    from billing.ledger import InsufficientFunds
    from billing.services import hold_amount_for, hold_place
    from marketplace.selectors import platform_fee_percent

    amount = hold_amount_for(
        max_hours=rr.max_hours,
        rate_cents=offer.rate_cents,
        fee_percent=platform_fee_percent(),
    )
    assignment = Assignment(
        review_request=rr,
        expert=profile,
        offer=offer,
        rate_cents=offer.rate_cents,
        max_seconds=_max_seconds(rr.max_hours),
        accepted_at=now,
        adjudicator=offer.adjudicator,
    )
    assignment.hold_ref = f"assignment:{assignment.pk}"
    try:
        with transaction.atomic():
            assignment.save(force_insert=True)
            hold_place(
                organization=rr.organization,
                ref=assignment.hold_ref,
                amount_cents=amount,
                actor=profile.user,
                scope=hold_scope(review_request_id=rr.pk),
            )
    except InsufficientFunds:
        refusal = Refused(
            409,
            "insufficient_funds",
            "The company's balance does not cover this review right now; the offer "
            "stays open and the company has been asked to add funds.",
        )
        return assignment, refusal, amount
    return assignment, None, 0


def _offer_accept_record(
    *, offer, rr: ReviewRequest, profile, assignment: Assignment, filled: int, now
) -> None:
    """What an accepted offer changes besides its hold, inside offer_accept's transaction: the
    assignment's and offer's history, the expert's load, the request's status, the other offers
    once every slot is filled, and the company's notice."""
    from review_requests.models import Offer

    record_initial(assignment, actor=profile.user, reason="offer accepted")
    transition(
        offer,
        Offer.Status.ACCEPTED,
        actor=profile.user,
        reason="accepted",
        responded_at=now,
    )
    _responses_record_on_commit([(profile.pk, (now - offer.created_at).total_seconds())])
    _expert_load_refresh(expert_id=profile.pk)
    if rr.waiting_for_funds:
        _set_waiting_for_funds(rr, False)
    if rr.status == ReviewRequest.Status.QUEUED:
        request_transition(
            review_request=rr,
            to=ReviewRequest.Status.IN_REVIEW,
            reason="offer accepted",
            actor=profile.user,
        )
    else:
        broadcast_on_commit(
            request_group(rr.pk),
            {
                "type": "request.status",
                "review_request_id": str(rr.pk),
                "status": rr.status,
            },
        )
    if filled + 1 >= reviewer_slots(rr):
        transition_many(
            rr.offers.filter(status=Offer.Status.OPEN).exclude(pk=offer.pk),
            Offer.Status.TAKEN,
            reason="every slot filled",
            responded_at=now,
        )
    _notify_company_admins(
        rr,
        kind="accepted",
        title=f"Offer accepted: “{rr.title[:120]}”",
        body=f"{profile} accepted and can start reviewing now.",
    )


def offer_decline(*, offer_id, expert) -> None:
    """Decline an open offer (final for this expert and request); a replacement offer goes out
    by a background task. Declining twice is fine; declining an accepted offer is refused."""
    from review_requests.models import Offer

    profile = _expert_profile_of(expert)
    with transaction.atomic(durable=True):
        offer = Offer.objects.select_for_update().filter(pk=offer_id, expert_id=profile.pk).first()
        if offer is None:
            raise Refused(404, "not_found", "Not found.")
        if offer.status == Offer.Status.ACCEPTED:
            raise Refused(
                409, "offer_accepted", "You accepted this offer; give the work back instead."
            )
        if offer.status != Offer.Status.OPEN:
            return
        transition(
            offer,
            Offer.Status.DECLINED,
            actor=profile.user,
            reason="declined",
            responded_at=timezone.now(),
        )
        _responses_record_on_commit(
            [(profile.pk, (offer.responded_at - offer.created_at).total_seconds())]
        )
        matching_enqueue_on_commit([offer.review_request_id])


def _close_workspace(assignment: Assignment, reason: str) -> None:
    from marketplace.realtime import workspace_group

    broadcast_on_commit(
        workspace_group(assignment.pk), {"type": "force.close", "code": 4403, "reason": reason}
    )


def _release_locked(
    *, rr: ReviewRequest, assignment: Assignment, actor, reason: str, dropped: bool = True
) -> None:
    """Caller holds the request lock. Hold back to the company, assignment released, load
    recounted, the expert's workspace sockets closed. `dropped`: the work ended unsubmitted
    because of the expert (not a company's cancel), which lowers their completion rate."""
    from billing.services import hold_release
    from experts.models import ExpertProfile
    from experts.services import expert_stats_record_drop

    ExpertProfile.objects.select_for_update().only("pk").get(pk=assignment.expert_id)
    if assignment.hold_ref:
        hold_release(ref=assignment.hold_ref)
    assignment_transition(
        assignment=assignment, to=Assignment.Status.RELEASED, reason=reason, actor=actor
    )
    _expert_load_refresh(expert_id=assignment.expert_id)
    if dropped:
        expert_stats_record_drop(expert_id=assignment.expert_id)
    _close_workspace(assignment, "released")


def assignment_release(*, assignment: Assignment, actor=None, reason: str) -> Assignment:
    """Give an active assignment back (by the expert, an operator, or on suspension): the hold is
    released, the request goes back to `queued` if nobody else holds it, and matching runs again."""
    from marketplace.services import notify

    with transaction.atomic():
        rr = _lock_request(assignment.review_request_id)
        assignment = Assignment.objects.select_related("expert__user").get(pk=assignment.pk)
        if assignment.status not in Assignment.ACTIVE:
            raise Refused(409, "not_active", f"This assignment is already {assignment.status}.")
        _release_locked(rr=rr, assignment=assignment, actor=actor, reason=reason or "released")
        others = rr.assignments.filter(status__in=FILLED_STATUSES).exclude(pk=assignment.pk)
        if rr.status == ReviewRequest.Status.IN_REVIEW and not others.exists():
            request_transition(
                review_request=rr,
                to=ReviewRequest.Status.QUEUED,
                reason="assignment released",
                actor=actor,
            )
        expert_user = assignment.expert.user
        if actor is None or actor.pk != expert_user.pk:
            notify(
                user=expert_user,
                kind="status",
                title=f"Assignment released: {rr.title[:120]}",
                body=reason or "This assignment was taken back.",
                url="/expert/assignments/",
            )
        matching_enqueue_on_commit([rr.pk])
    return assignment


def _nothing_billed(rr: ReviewRequest) -> bool:
    return not rr.assignments.filter(
        Q(billed_seconds__gt=0) | Q(status__in=("submitted", "disputed", "resolved"))
    ).exists()


def _wind_down(*, rr: ReviewRequest, actor, reason: str, dropped: bool) -> None:
    """Release every active assignment and withdraw open offers (request lock held)."""
    from review_requests.models import Offer

    for assignment in rr.assignments.filter(status__in=Assignment.ACTIVE).select_related("expert"):
        _release_locked(rr=rr, assignment=assignment, actor=actor, reason=reason, dropped=dropped)
    transition_many(
        rr.offers.filter(status=Offer.Status.OPEN),
        Offer.Status.WITHDRAWN,
        actor=actor,
        reason=reason,
        responded_at=timezone.now(),
    )


def request_cancel(*, review_request: ReviewRequest, actor=None) -> ReviewRequest:
    """Cancel while nothing has been billed: holds released, assignments released, offers
    withdrawn, then `cancelled` (webhook event by request_transition)."""
    with transaction.atomic():
        rr = _lock_request(review_request.pk)
        if rr.status not in (ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW):
            raise Refused(
                409, "not_cancellable", f"A request that is {rr.status} cannot be cancelled."
            )
        if not _nothing_billed(rr):
            raise Refused(
                409,
                "already_billed",
                "Time has already been billed on this request; it can no longer be cancelled. "
                "Open a dispute instead if something went wrong.",
            )
        _wind_down(rr=rr, actor=actor, reason="request cancelled", dropped=False)
        request_transition(
            review_request=rr, to=ReviewRequest.Status.CANCELLED, reason="cancelled", actor=actor
        )
    return rr


def request_expire(*, review_request: ReviewRequest) -> ReviewRequest | None:
    """The deadline passed before completion: holds of unsubmitted work released, `expired`.
    Returns None when the request was not due (already moved on)."""
    with transaction.atomic():
        rr = _lock_request(review_request.pk)
        if rr.status not in (ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW):
            return None
        if rr.deadline is None or rr.deadline > timezone.now():
            return None
        _wind_down(rr=rr, actor=None, reason="deadline passed", dropped=True)
        if rr.adjudication_wanted_at is not None:
            # Every independent review is in and paid for: the company gets their consensus.
            from review_requests.workspace import adjudication_abandon

            adjudication_abandon(review_request=rr)
            return rr
        request_transition(
            review_request=rr, to=ReviewRequest.Status.EXPIRED, reason="deadline passed"
        )
    return rr


def requests_expire_due(*, limit: int = 200) -> int:
    due = list(
        ReviewRequest.objects.filter(
            status__in=(ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW),
            deadline__lte=timezone.now(),
        )
        .order_by("deadline")
        .values_list("pk", flat=True)[:limit]
    )
    count = 0
    for pk in due:
        if request_expire(review_request=ReviewRequest(pk=pk)) is not None:
            count += 1
    return count


def offers_expire_due(*, limit: int = 500) -> int:
    """Mark due open offers expired and re-run matching for their requests (replacements)."""
    from review_requests.models import Offer

    now = timezone.now()
    with transaction.atomic():
        # Locked, so exactly these offers expire here (an accept in flight keeps its own).
        due = list(
            Offer.objects.select_for_update(skip_locked=True)
            .filter(status=Offer.Status.OPEN, expires_at__lte=now)
            .order_by("expires_at")
            .values_list("pk", "review_request_id", "expert_id", "created_at", "expires_at")[:limit]
        )
        if not due:
            return 0
        expired = len(
            transition_many(
                Offer.objects.filter(pk__in=[row[0] for row in due]),
                Offer.Status.EXPIRED,
                reason="expired",
                responded_at=now,
            )
        )
        _responses_record_on_commit(
            [
                (expert_id, (expires - created).total_seconds())
                for _, _, expert_id, created, expires in due
            ]
        )
    from review_requests.matching import matching_run

    for rr_id in sorted({row[1] for row in due}):
        matching_run(review_request=ReviewRequest(pk=rr_id))
    return expired


def expert_suspended_wind_down(*, user, actor=None) -> int:
    """On suspension: withdraw the expert's open offers and release assignments not yet started.
    Returns how many assignments were released."""
    from experts.models import ExpertProfile
    from review_requests.models import Offer

    profile = ExpertProfile.objects.filter(user=user).first()
    if profile is None:
        return 0
    with transaction.atomic():
        touched = set(
            Offer.objects.filter(expert=profile, status=Offer.Status.OPEN).values_list(
                "review_request_id", flat=True
            )
        )
        transition_many(
            Offer.objects.filter(expert=profile, status=Offer.Status.OPEN),
            Offer.Status.WITHDRAWN,
            actor=actor,
            reason="expert suspended",
            responded_at=timezone.now(),
        )
        released = 0
        for assignment in Assignment.objects.filter(
            expert=profile, status=Assignment.Status.ACCEPTED, started_at__isnull=True
        ):
            assignment_release(assignment=assignment, actor=actor, reason="expert suspended")
            released += 1
            touched.add(assignment.review_request_id)
        matching_enqueue_on_commit(touched)
    return released
