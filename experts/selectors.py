"""Reads of the supply side: profiles, the directory, the credential queue, and matching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone

from experts.matching import (
    Candidate,
    available_by_top_level,
    available_expert_ids_sql,
    candidates_rank,
)
from experts.models import (
    CompanyBlock,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    Specialization,
    SpecializationStanding,
)
from marketplace.models import User

__all__ = [
    "Candidate",
    "candidates_rank",
    "company_blocks_expert",
    "credential_get_for_operator",
    "credential_get_for_user",
    "credential_queue",
    "expert_directory",
    "expert_get_public",
    "expert_profile_completeness",
    "expert_profile_for_user",
    "expert_standing",
    "expert_standings",
    "experts_available_by_top_level",
    "specialization_exists",
    "specialization_list",
]


def specialization_list() -> list[Specialization]:
    return list(Specialization.objects.select_related("parent").order_by("slug"))


def specialization_exists(*, slug: str) -> bool:
    return Specialization.objects.filter(slug=slug).exists()


def specialization_descendant_q(slug: str, prefix: str = "") -> Q:
    return Q(**{f"{prefix}slug": slug}) | Q(**{f"{prefix}slug__startswith": f"{slug}."})


def expert_profile_for_user(*, user: User) -> ExpertProfile | None:
    if not user.is_authenticated or not user.is_expert:
        return None
    return ExpertProfile.objects.filter(user=user).first()


def _valid_credentials(today) -> Q:
    return Q(status=Credential.Status.VERIFIED) & (
        Q(expires_on__isnull=True) | Q(expires_on__gte=today)
    )


def expert_profile_detail(*, expert: ExpertProfile) -> ExpertProfile:
    """The profile with everything the editor shows, in a constant number of queries."""
    return (
        ExpertProfile.objects.select_related("user")
        .prefetch_related(
            Prefetch(
                "specializations",
                ExpertSpecialization.objects.select_related("specialization").order_by(
                    "specialization__slug"
                ),
            ),
            "availability",
            "time_off",
            Prefetch("credentials", Credential.objects.select_related("field")),
        )
        .get(pk=expert.pk)
    )


@dataclass(frozen=True)
class Completeness:
    percent: int
    missing: list[str]


def expert_profile_completeness(*, expert: ExpertProfile) -> Completeness:
    """What a company or the matcher still misses. Uses prefetched relations when present."""
    today = timezone.localdate()
    specializations = list(expert.specializations.all())
    credentials = list(expert.credentials.all())
    checks: list[tuple[bool, str]] = [
        (bool(expert.display_name.strip()), "a display name"),
        (bool(expert.headline.strip()), "a headline"),
        (len(expert.bio.strip()) >= 40, "a bio of a few sentences"),
        (bool(expert.languages), "the languages you review in"),
        (expert.hourly_rate_cents is not None, "an hourly rate"),
        (bool(specializations), "at least one specialization"),
        (
            expert.always_available or bool(list(expert.availability.all())),
            "weekly availability",
        ),
    ]
    fields_needing_proof = {
        es.specialization.top_level_slug
        for es in specializations
        if es.specialization.requires_credentials
    }
    proven = {
        c.field.slug
        for c in credentials
        if c.status == Credential.Status.VERIFIED
        and (c.expires_on is None or c.expires_on >= today)
    }
    for field in sorted(fields_needing_proof - proven):
        checks.append((False, f"a verified credential for {field}"))
    if not fields_needing_proof:
        checks.append((True, ""))
    done = sum(1 for ok, _ in checks if ok)
    return Completeness(
        percent=round(100 * done / len(checks)),
        missing=[label for ok, label in checks if not ok],
    )


# Company-facing directory -----------------------------------------------------------------


def _public_profiles(*, today) -> QuerySet[ExpertProfile]:
    return (
        ExpertProfile.objects.filter(user__is_active=True, user__suspended_at__isnull=True)
        .exclude(display_name="")
        .select_related("user")
        .annotate(
            is_verified=Exists(
                Credential.objects.filter(_valid_credentials(today), expert=OuterRef("pk"))
            )
        )
    )


def expert_directory(
    *,
    specialization: str = "",
    min_rate_cents: int | None = None,
    max_rate_cents: int | None = None,
    language: str = "",
    verified_only: bool = False,
    available_now: bool = False,
    now: datetime | None = None,
) -> QuerySet[ExpertProfile]:
    """Experts a company may browse, best rated first; paginate the result."""
    now = now or timezone.now()
    qs = _public_profiles(today=now.date())
    if specialization:
        qs = qs.filter(
            Exists(
                ExpertSpecialization.objects.filter(
                    specialization_descendant_q(specialization, "specialization__"),
                    expert=OuterRef("pk"),
                )
            )
        )
    if min_rate_cents is not None:
        qs = qs.filter(hourly_rate_cents__gte=min_rate_cents)
    if max_rate_cents is not None:
        qs = qs.filter(hourly_rate_cents__lte=max_rate_cents)
    if language:
        # JSON list of ISO codes; a containment lookup is not available on SQLite.
        qs = qs.filter(languages__icontains=f'"{language.lower()}"')
    if verified_only:
        qs = qs.filter(is_verified=True)
    if available_now:
        sql, params = available_expert_ids_sql(now=now)
        qs = qs.filter(accepting_work=True, id__in=RawSQL(sql, params))  # noqa: S611 - parameters only
    return qs.prefetch_related(
        Prefetch(
            "specializations",
            ExpertSpecialization.objects.select_related("specialization").order_by(
                "-years", "specialization__slug"
            ),
        )
    ).order_by("-rating_avg", "-completed_count", "display_name", "id")


def experts_available_by_top_level(*, now: datetime | None = None) -> list[tuple[str, int]]:
    """Supply for the operator console: (field name, experts who could be offered a request in
    it right now) for every top-level field, in slug order. One query."""
    return available_by_top_level(now=now or timezone.now())


def expert_get_public(*, pk) -> ExpertProfile:
    """A profile as companies see it (no email, no documents); 404 when hidden."""
    today = timezone.localdate()
    expert = (
        _public_profiles(today=today)
        .filter(pk=pk)
        .prefetch_related(
            Prefetch(
                "specializations",
                ExpertSpecialization.objects.select_related("specialization").order_by(
                    "-years", "specialization__slug"
                ),
            ),
            Prefetch(
                "credentials",
                Credential.objects.filter(_valid_credentials(today))
                .select_related("field")
                .order_by("field__slug"),
                to_attr="valid_credentials",
            ),
        )
        .first()
    )
    if expert is None:
        raise Http404("No such expert")
    return expert


def company_blocks_expert(*, organization_id, expert_id) -> bool:
    return CompanyBlock.objects.filter(
        organization_id=organization_id, expert_id=expert_id
    ).exists()


# Credentials --------------------------------------------------------------------------------


def credential_queue(*, status: str = "pending", field: str = "", q: str = "") -> QuerySet:
    qs = Credential.objects.select_related("expert", "expert__user", "field", "reviewed_by")
    if status:
        qs = qs.filter(status=status)
    if field:
        qs = qs.filter(field__slug=field)
    if q:
        qs = qs.filter(
            Q(expert__display_name__icontains=q)
            | Q(expert__user__email__icontains=q)
            | Q(issuer__icontains=q)
            | Q(number__icontains=q)
        )
    # Oldest first while pending: whoever waited longest is verified first.
    return qs.order_by("created_at" if status == "pending" else "-created_at", "id")


def credential_get_for_operator(*, pk: int) -> Credential:
    credential = (
        Credential.objects.select_related("expert", "expert__user", "field", "reviewed_by")
        .filter(pk=pk)
        .first()
    )
    if credential is None:
        raise Http404("No such credential")
    return credential


def credential_get_for_user(*, user: User, pk: int) -> Credential:
    """Its expert and operators only; everyone else gets 404 (existence is not revealed)."""
    credential = credential_get_for_operator(pk=pk)
    if user.is_authenticated and (user.is_operator or credential.expert.user_id == user.pk):
        return credential
    raise Http404("No such credential")


def credentials_snapshot(*, expert_ids: list, today=None) -> dict:
    """expert id -> their verified credentials as plain data (the oversight record keeps this
    copy: a credential can later expire or be withdrawn), oldest first."""
    today = today or timezone.localdate()
    snapshot: dict = {expert_id: [] for expert_id in expert_ids}
    credentials = (
        Credential.objects.filter(expert_id__in=expert_ids, status=Credential.Status.VERIFIED)
        .select_related("field", "reviewed_by")
        .order_by("created_at", "id")
    )
    for credential in credentials:
        reviewer = credential.reviewed_by
        snapshot[credential.expert_id].append(
            {
                "credential_id": credential.pk,
                "type": credential.kind,
                "field": credential.field.slug,
                "issuer": credential.issuer,
                "number": credential.number,
                "jurisdiction": credential.jurisdiction,
                "expires_on": credential.expires_on.isoformat() if credential.expires_on else None,
                "expired": credential.expires_on is not None and credential.expires_on < today,
                "verified_by": None
                if reviewer is None
                else {"user_id": reviewer.pk, "name": reviewer.get_full_name() or reviewer.email},
                "verified_at": credential.reviewed_at.isoformat()
                if credential.reviewed_at
                else None,
            }
        )
    return snapshot


# Proven experts (issue #20) -------------------------------------------------------------------


def _pk(value):
    return getattr(value, "pk", value)


def expert_standing(*, expert, specialization) -> dict:
    """What an expert has proven in one specialization, for the evidence record and the pages:
    `qualified` (passed its qualification test and not suspended for accuracy since),
    `qualified_at`, `accuracy` (share of golden items right in live work since qualifying, None
    before the first) and `accuracy_n` (how many golden items that share is over). `expert` and
    `specialization` are instances or primary keys. One query."""
    standing = SpecializationStanding.objects.filter(
        expert_id=_pk(expert), specialization_id=_pk(specialization)
    ).first()
    if standing is None:
        return {"qualified": False, "qualified_at": None, "accuracy": None, "accuracy_n": 0}
    return {
        "qualified": standing.qualified_at is not None and standing.suspended_at is None,
        "qualified_at": standing.qualified_at,
        "accuracy": standing.accuracy,
        "accuracy_n": standing.golden_total,
    }


def expert_standings(*, expert) -> list[SpecializationStanding]:
    """The expert's standings, specialization by specialization (for their dashboard, the
    operators' console and the companies' accuracy badges)."""
    return list(
        SpecializationStanding.objects.filter(expert_id=_pk(expert))
        .select_related("specialization")
        .order_by("specialization__slug")
    )


def golden_console_overview() -> dict:
    """The operators' page: every golden item (the platform's and the companies'), every test,
    the standings with a qualification, a measured accuracy or a suspension, and the paused
    ones on their own."""
    from experts.models import GoldenItem, QualificationTest

    return {
        "items": list(
            GoldenItem.objects.select_related("specialization", "organization").order_by(
                "specialization__slug", "-created_at"
            )[:500]
        ),
        "tests": list(
            QualificationTest.objects.select_related("specialization")
            .prefetch_related("items")
            .order_by("specialization__slug")
        ),
        "standings": list(
            SpecializationStanding.objects.select_related("expert__user", "specialization")
            .filter(
                Q(qualified_at__isnull=False)
                | Q(golden_total__gt=0)
                | Q(suspended_at__isnull=False)
            )
            .order_by("specialization__slug", "-updated_at")[:500]
        ),
        # Paused experts, longest paused first: each gets the lift form on the page.
        "paused": list(
            SpecializationStanding.objects.select_related("expert__user", "specialization")
            .filter(suspended_at__isnull=False)
            .order_by("suspended_at", "pk")[:200]
        ),
    }


def golden_items_for_organization(*, organization) -> list:
    from experts.models import GoldenItem

    return list(
        GoldenItem.objects.filter(organization=organization)
        .select_related("specialization")
        .order_by("-created_at")[:200]
    )


def golden_items_page(*, organization, after: tuple[datetime, int] | None, limit: int) -> list:
    """The organization's own golden items, newest first (created_at, then id), after the
    (created_at, id) a cursor names; `limit` rows at most. One query."""
    from experts.models import GoldenItem

    qs = (
        GoldenItem.objects.filter(organization=organization)
        .select_related("specialization")
        .order_by("-created_at", "-pk")
    )
    if after is not None:
        created_at, pk = after
        qs = qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    return list(qs[:limit])


def golden_item_to_api(item) -> dict:
    """A golden item as the API shows it (docs/contract/golden.md); no expected verdict is null
    (any verdict counts)."""
    source = item.source_review_request_id
    return {
        "id": str(item.pk),
        "specialization": item.specialization.slug,
        "title": item.title,
        "content": item.content,
        "prompt": item.prompt,
        "guidelines": item.guidelines,
        "rubric": item.rubric or [],
        "max_hours": float(item.max_hours),
        "expected_verdict": item.expected_verdict or None,
        "expected_scores": item.expected_scores or {},
        "tolerance": item.tolerance,
        "source_review_request_id": str(source) if source is not None else None,
        "active": item.active,
        "created_at": item.created_at.isoformat(),
    }


def golden_platform_item_choices() -> list[tuple[str, str]]:
    from experts.models import GoldenItem

    return [
        (str(i.pk), f"{i.specialization.slug} · {i.title}")
        for i in GoldenItem.objects.filter(organization__isnull=True, active=True)
        .select_related("specialization")
        .order_by("specialization__slug", "title")
    ]
