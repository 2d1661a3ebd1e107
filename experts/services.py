"""Writes of the supply side. Each public function is one transaction; anything that can change
who matches a queued request tells review_requests on commit (experts.signals)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, F
from django.utils import timezone

from experts.match_index import match_rows_refresh, refresh_deferred
from experts.matching import is_valid_timezone
from experts.models import (
    MAX_RATE_CENTS,
    MIN_RATE_CENTS,
    AvailabilityWindow,
    CompanyBlock,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    MatchRow,
    Rating,
    Specialization,
    TimeOff,
)
from experts.signals import expert_supply_changed
from marketplace.models import Membership, Organization, User
from marketplace.services import audit_record, notify
from marketplace.transitions import transition

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_WINDOWS_PER_DAY = 6
MAX_TIME_OFF_DAYS = 366
MAX_SPECIALIZATIONS = 12
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")

# Content sniffing: the first bytes decide, never the file name or the browser's content type.
DOCUMENT_SIGNATURES: list[tuple[bytes, str, str]] = [
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
]


def _supply_changed(expert_id) -> None:
    transaction.on_commit(
        lambda: expert_supply_changed.send(sender=ExpertProfile, expert_id=expert_id)
    )


def _refresh(expert_id) -> None:
    match_rows_refresh(expert_ids=[expert_id])


# Profile -----------------------------------------------------------------------------------


def expert_profile_ensure(*, user: User) -> ExpertProfile:
    """The expert's profile, created empty on first use."""
    if not user.is_expert:
        raise PermissionDenied("Only experts have expert profiles.")
    with transaction.atomic(), refresh_deferred():
        name = f"{user.first_name} {user.last_name}".strip()
        profile, _ = ExpertProfile.objects.get_or_create(
            user=user, defaults={"display_name": name[:120]}
        )
    return profile


def _clean_languages(languages: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in languages:
        code = raw.strip().lower()
        if not code:
            continue
        if not LANGUAGE_CODE.match(code):
            raise ValidationError(
                {"languages": f"“{raw.strip()}” is not a language code; use e.g. en, de, es."}
            )
        if code not in cleaned:
            cleaned.append(code)
    if len(cleaned) > 10:
        raise ValidationError({"languages": "List at most 10 languages."})
    return cleaned


MATCHING_FIELDS = ("hourly_rate_cents", "timezone", "max_concurrent", "accepting_work")


def expert_profile_update(
    *,
    expert: ExpertProfile,
    display_name: str,
    headline: str,
    bio: str,
    languages: Iterable[str],
    hourly_rate_cents: int | None,
    timezone_name: str,
    max_concurrent: int,
    accepting_work: bool,
) -> ExpertProfile:
    errors: dict[str, str] = {}
    display_name = display_name.strip()
    if not display_name:
        errors["display_name"] = "Companies see this name; it cannot be empty."
    if hourly_rate_cents is not None and not (
        MIN_RATE_CENTS <= hourly_rate_cents <= MAX_RATE_CENTS
    ):
        errors["hourly_rate"] = "The rate must be between $10 and $1,000 an hour."
    if not is_valid_timezone(timezone_name):
        errors["timezone"] = "Choose a time zone from the list (e.g. Europe/Berlin)."
    if not 1 <= max_concurrent <= 20:
        errors["max_concurrent"] = "Between 1 and 20 assignments at once."
    if len(bio) > 10_000:
        errors["bio"] = "Keep the bio under 10,000 characters."
    try:
        clean_languages = _clean_languages(languages)
    except ValidationError as exc:
        errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(durable=True), refresh_deferred():
        profile = ExpertProfile.objects.select_for_update().get(pk=expert.pk)
        before = {f: getattr(profile, f) for f in MATCHING_FIELDS}
        profile.display_name = display_name[:120]
        profile.headline = headline.strip()[:200]
        profile.bio = bio
        profile.languages = clean_languages
        profile.hourly_rate_cents = hourly_rate_cents
        profile.timezone = timezone_name
        profile.max_concurrent = max_concurrent
        profile.accepting_work = accepting_work
        profile.save()
        _refresh(profile.pk)
        if any(before[f] != getattr(profile, f) for f in MATCHING_FIELDS):
            _supply_changed(profile.pk)
    return profile


def expert_accepting_work_set(*, expert: ExpertProfile, accepting: bool) -> ExpertProfile:
    with transaction.atomic(), refresh_deferred():
        updated = (
            ExpertProfile.objects.filter(pk=expert.pk)
            .exclude(accepting_work=accepting)
            .update(accepting_work=accepting, updated_at=timezone.now())
        )
        expert.accepting_work = accepting
        if updated:
            _refresh(expert.pk)
            _supply_changed(expert.pk)
    return expert


# Specializations ----------------------------------------------------------------------------


def expert_specialization_add(
    *, expert: ExpertProfile, specialization_slug: str, years: int
) -> ExpertSpecialization:
    specialization = Specialization.objects.filter(slug=specialization_slug).first()
    if specialization is None:
        raise ValidationError({"specialization": "Choose a specialization from the list."})
    if not 0 <= years <= 70:
        raise ValidationError({"years": "Years of experience must be between 0 and 70."})
    with transaction.atomic(durable=True), refresh_deferred():
        ExpertProfile.objects.select_for_update().get(pk=expert.pk)
        existing = ExpertSpecialization.objects.filter(
            expert=expert, specialization=specialization
        ).first()
        if existing is not None:
            existing.years = years
            existing.save(update_fields=["years"])
            item = existing
        else:
            if ExpertSpecialization.objects.filter(expert=expert).count() >= MAX_SPECIALIZATIONS:
                raise ValidationError(
                    {"specialization": f"At most {MAX_SPECIALIZATIONS} specializations."}
                )
            item = ExpertSpecialization.objects.create(
                expert=expert, specialization=specialization, years=years
            )
        _refresh(expert.pk)
        _supply_changed(expert.pk)
    return item


def expert_specialization_remove(*, expert: ExpertProfile, pk: int) -> None:
    with transaction.atomic(durable=True), refresh_deferred():
        deleted, _ = ExpertSpecialization.objects.filter(expert=expert, pk=pk).delete()
        if not deleted:
            raise ValidationError("This specialization is not on your profile.")
        _refresh(expert.pk)
        _supply_changed(expert.pk)


# Availability and time off -------------------------------------------------------------------


def availability_validate(windows: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Sorted windows, or ValidationError keyed by weekday ("day_0".."day_6")."""
    by_day: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    errors: dict[str, str] = {}
    for weekday, start, end in windows:
        if weekday not in by_day:
            raise ValidationError("Weekdays go from 0 (Monday) to 6 (Sunday).")
        if not (0 <= start < end <= 1440):
            errors[f"day_{weekday}"] = "Each window must start before it ends, within the day."
            continue
        by_day[weekday].append((start, end))
    for weekday, spans in by_day.items():
        spans.sort()
        if len(spans) > MAX_WINDOWS_PER_DAY:
            errors[f"day_{weekday}"] = f"At most {MAX_WINDOWS_PER_DAY} windows a day."
        for (_, prev_end), (start, _) in itertools.pairwise(spans):
            if start < prev_end:
                errors.setdefault(f"day_{weekday}", "Windows overlap; merge or move them.")
    if errors:
        raise ValidationError(errors)
    return [(d, s, e) for d, spans in by_day.items() for s, e in spans]


def expert_availability_set(
    *, expert: ExpertProfile, windows: Iterable[tuple[int, int, int]]
) -> list[AvailabilityWindow]:
    """Replace the weekly windows (local time of the expert's time zone)."""
    clean = availability_validate(windows)
    with transaction.atomic(durable=True), refresh_deferred():
        ExpertProfile.objects.select_for_update().get(pk=expert.pk)
        AvailabilityWindow.objects.filter(expert=expert).delete()
        created = AvailabilityWindow.objects.bulk_create(
            [
                AvailabilityWindow(expert=expert, weekday=d, start_minute=s, end_minute=e)
                for d, s, e in clean
            ]
        )
        _refresh(expert.pk)
        _supply_changed(expert.pk)
    return created


def time_off_add(
    *, expert: ExpertProfile, start_date: date, end_date: date, note: str = ""
) -> TimeOff:
    if end_date < start_date:
        raise ValidationError({"end_date": "The last day cannot be before the first."})
    if end_date < timezone.localdate() - timedelta(days=1):
        raise ValidationError({"end_date": "This time off is already over."})
    if (end_date - start_date).days >= MAX_TIME_OFF_DAYS:
        raise ValidationError({"end_date": "Time off can last at most a year."})
    with transaction.atomic(durable=True):
        item = TimeOff.objects.create(
            expert=expert, start_date=start_date, end_date=end_date, note=note.strip()[:200]
        )
    return item


def time_off_remove(*, expert: ExpertProfile, pk: int) -> None:
    with transaction.atomic(durable=True):
        deleted, _ = TimeOff.objects.filter(expert=expert, pk=pk).delete()
        if not deleted:
            raise ValidationError("This time off is not on your profile.")
        _supply_changed(expert.pk)


# Credentials ---------------------------------------------------------------------------------


def document_sniff(upload: UploadedFile) -> tuple[str, str]:
    """(content type, extension) from the file's first bytes; ValidationError otherwise."""
    if upload.size is not None and upload.size > MAX_DOCUMENT_BYTES:
        raise ValidationError({"document": "The document is larger than 5 MB."})
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for signature, content_type, extension in DOCUMENT_SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    raise ValidationError(
        {"document": "Upload a PDF, PNG or JPEG (the file's content is not one of these)."}
    )


def credential_create(
    *,
    expert: ExpertProfile,
    kind: str,
    field_slug: str,
    issuer: str,
    number: str = "",
    jurisdiction: str = "",
    expires_on: date | None = None,
    document: UploadedFile | None = None,
) -> Credential:
    errors: dict[str, str] = {}
    if kind not in Credential.Kind.values:
        errors["kind"] = "Choose a credential type."
    field = Specialization.objects.filter(slug=field_slug, parent__isnull=True).first()
    if field is None:
        errors["field"] = "Choose the field this credential proves."
    if not issuer.strip():
        errors["issuer"] = "Who issued it (e.g. the state medical board)?"
    if expires_on is not None and expires_on < timezone.localdate():
        errors["expires_on"] = "This credential has already expired."
    if document is None:
        errors["document"] = "Attach a scan or photo of the credential."
    content_type = extension = ""
    if document is not None:
        try:
            content_type, extension = document_sniff(document)
        except ValidationError as exc:
            errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(durable=True), refresh_deferred():
        credential = Credential(
            expert=expert,
            field=field,
            kind=kind,
            issuer=issuer.strip()[:200],
            number=number.strip()[:100],
            jurisdiction=jurisdiction.strip()[:100],
            expires_on=expires_on,
            document_content_type=content_type,
        )
        # A generated name: the uploaded name never reaches the disk or a response header.
        credential.document.save(f"{uuid.uuid4().hex}{extension}", document, save=False)
        credential.save()
        audit_record(
            actor=expert.user,
            action="credential.submitted",
            object_type="credential",
            object_id=credential.pk,
            after={"field": field.slug, "kind": kind, "issuer": credential.issuer},
        )
    return credential


def _credential_move(
    *, credential: Credential, operator: User, to: str, reason: str = ""
) -> Credential:
    if not operator.is_operator:
        raise PermissionDenied("Only operators review credentials.")
    with transaction.atomic(), refresh_deferred():
        current = Credential.objects.select_for_update().get(pk=credential.pk)
        before = transition(
            current,
            to,
            actor=operator,
            reason=reason,
            reviewed_by=operator,
            reviewed_at=timezone.now(),
            rejection_reason=reason[:500],
        )
        audit_record(
            actor=operator,
            action=f"credential.{to}",
            object_type="credential",
            object_id=current.pk,
            before={"status": before},
            after={"status": to, "reason": reason} if reason else {"status": to},
        )
        expert = current.expert
        if to == Credential.Status.VERIFIED:
            title = f"Your {current.get_kind_display().lower()} was verified"
            body = f"{current.issuer}: you can now be matched in {current.field.name}."
        else:
            title = f"Your {current.get_kind_display().lower()} was not accepted"
            body = f"{current.issuer}: {reason}"
        notify(user=expert.user, kind="account", title=title, body=body, url="/expert/profile/")
        _refresh(expert.pk)
        _supply_changed(expert.pk)
    return current


def credential_verify(*, credential: Credential, operator: User) -> Credential:
    return _credential_move(credential=credential, operator=operator, to="verified")


def credential_reject(*, credential: Credential, operator: User, reason: str) -> Credential:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Tell the expert why, so they can fix it."})
    return _credential_move(
        credential=credential, operator=operator, to=Credential.Status.REJECTED, reason=reason
    )


# Kept by review_requests -----------------------------------------------------------------------


def expert_load_set(*, expert_id, load: int) -> None:
    """review_requests owns the count of active assignments; this stores it where matching
    reads it. Freed capacity re-runs matching of queued requests (on commit)."""
    load = max(0, int(load))
    with transaction.atomic():
        profile = ExpertProfile.objects.select_for_update().only("current_load").get(pk=expert_id)
        previous = profile.current_load
        if previous == load:
            return
        ExpertProfile.objects.filter(pk=expert_id).update(current_load=load)
        MatchRow.objects.filter(expert_id=expert_id).update(current_load=load)
        if load < previous:
            _supply_changed(expert_id)


def _track_record_rates(*, completed: int, on_time: int, dropped: int) -> tuple[float, float]:
    """(completion_rate, on_time_rate); a new expert starts at 1.0 on both."""
    completion = completed / (completed + dropped) if completed + dropped else 1.0
    punctual = on_time / completed if completed else 1.0
    return completion, punctual


def _track_record_store(*, expert_id, completed: int, on_time: int, dropped: int) -> None:
    completion, punctual = _track_record_rates(
        completed=completed, on_time=on_time, dropped=dropped
    )
    ExpertProfile.objects.filter(pk=expert_id).update(
        completed_count=completed,
        on_time_count=on_time,
        dropped_count=dropped,
        completion_rate=completion,
        on_time_rate=punctual,
    )
    MatchRow.objects.filter(expert_id=expert_id).update(
        completion_rate=completion, on_time_rate=punctual
    )


def _track_record_locked(expert_id) -> ExpertProfile:
    return (
        ExpertProfile.objects.select_for_update()
        .only("completed_count", "on_time_count", "dropped_count")
        .get(pk=expert_id)
    )


def expert_stats_record_completion(*, expert_id, on_time: bool) -> None:
    """An assignment was submitted (`on_time`: before the request's deadline, or it had none).
    Call inside the submit transaction, which already holds the profile lock."""
    with transaction.atomic():
        profile = _track_record_locked(expert_id)
        _track_record_store(
            expert_id=expert_id,
            completed=profile.completed_count + 1,
            on_time=profile.on_time_count + (1 if on_time else 0),
            dropped=profile.dropped_count,
        )


def expert_stats_record_drop(*, expert_id) -> None:
    """An accepted assignment ended without a submission because of the expert: given back,
    taken back by an operator or on suspension, or still open when the deadline passed. (Not
    when the company cancelled.) Lowers the completion rate."""
    with transaction.atomic():
        profile = _track_record_locked(expert_id)
        _track_record_store(
            expert_id=expert_id,
            completed=profile.completed_count,
            on_time=profile.on_time_count,
            dropped=profile.dropped_count + 1,
        )


def expert_stats_record_responses(*, responses: Iterable[tuple[Any, float]]) -> None:
    """Offers the experts answered, as (expert_id, seconds from offer to answer): accepted or
    declined, or left to expire (counted at the offer's whole lifetime, the least it took).
    One UPDATE per expert, counters and average together, without reading the row first."""
    totals: dict[Any, list[int]] = {}
    for expert_id, seconds in responses:
        entry = totals.setdefault(expert_id, [0, 0])
        entry[0] += 1
        entry[1] += max(0, round(seconds))
    with transaction.atomic():
        for expert_id in sorted(totals, key=str):  # one lock order among concurrent callers
            count, seconds = totals[expert_id]
            new_count = F("response_count") + count
            new_total = F("response_seconds_total") + seconds
            ExpertProfile.objects.filter(pk=expert_id).update(
                response_count=new_count,
                response_seconds_total=new_total,
                # Integer division in SQL on both databases: rounded half up.
                avg_response_seconds=(new_total * 2 + new_count) / (new_count * 2),
            )


def rating_create(
    *, organization: Organization, expert_id, assignment_id, score: int, comment: str = ""
) -> Rating:
    if not 1 <= int(score) <= 5:
        raise ValidationError({"score": "Rate from 1 to 5 stars."})
    try:
        with transaction.atomic():
            ExpertProfile.objects.select_for_update().only("pk").get(pk=expert_id)
            rating = Rating.objects.create(
                expert_id=expert_id,
                organization=organization,
                assignment_id=assignment_id,
                score=int(score),
                comment=comment.strip()[:2000],
            )
            totals = Rating.objects.filter(expert_id=expert_id).aggregate(
                avg=Avg("score"), count=Count("id")
            )
            avg = round(float(totals["avg"] or 0.0), 3)
            ExpertProfile.objects.filter(pk=expert_id).update(
                rating_avg=avg, rating_count=totals["count"]
            )
            MatchRow.objects.filter(expert_id=expert_id).update(
                rating_avg=avg, rating_count=totals["count"]
            )
    except IntegrityError as exc:
        raise ValidationError("This assignment has already been rated.") from exc
    return rating


# Company blocks ------------------------------------------------------------------------------


def company_block_set(*, organization: Organization, expert_id, blocked: bool, actor: User) -> bool:
    """Block (never match again) or unblock an expert for one company. Owners and admins."""
    membership = Membership.objects.filter(organization=organization, user=actor).first()
    if membership is None or not membership.is_admin:
        raise PermissionDenied("Only owners and admins can block experts.")
    with transaction.atomic(durable=True):
        if blocked:
            _, created = CompanyBlock.objects.get_or_create(
                organization=organization, expert_id=expert_id
            )
            changed = created
        else:
            changed = bool(
                CompanyBlock.objects.filter(
                    organization=organization, expert_id=expert_id
                ).delete()[0]
            )
            if changed:
                _supply_changed(expert_id)
        if changed:
            audit_record(
                actor=actor,
                action="expert.blocked" if blocked else "expert.unblocked",
                object_type="expert",
                object_id=expert_id,
                organization=organization,
            )
    return changed
