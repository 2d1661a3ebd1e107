"""factory-boy factories, one per model the tests build (add yours below; keep them small).

A factory whose rows come from a service wraps the service, so tests get what production leaves:
money moves through billing (credit grants, holds, captures, payouts: balanced ledger entries),
organizations through marketplace. Everything else is a plain row with sensible defaults."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.db import transaction
from django.utils import timezone
from factory.django import DjangoModelFactory

from billing import payouts
from billing import services as billing_services
from billing.models import ConnectedAccount, CreditGrant, Earning, Funding, Payout, PayoutRun
from datasets.formats import SCHEMA_VERSIONS
from datasets.models import Export
from experts.match_index import match_rows_refresh
from experts.models import (
    AvailabilityWindow,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    GoldenItem,
    QualificationTest,
    Specialization,
    TimeOff,
)
from marketplace import services as marketplace_services
from marketplace.models import Membership, Organization, User
from marketplace.selectors import platform_fee_percent
from oversight import services as oversight_services
from oversight.models import Policy
from review_requests.models import (
    Assignment,
    Offer,
    Review,
    ReviewRequest,
    WebhookEvent,
    WorkInterval,
)

PASSWORD = "correct-horse-battery-staple"

# The text of every factory-made request: workspace tests quote and annotate ranges of it.
TEXT = "The scan shows a small fracture of the left radius. No further findings."
RUBRIC = [
    {"key": "accuracy", "label": "Accuracy", "scale": 5},
    {"key": "clarity", "label": "Clarity", "scale": 3},
]


CANDIDATE_TEXTS = {
    "a": "The scan shows a small fracture of the left radius.",
    "b": "No fracture. The radius is intact.",
    "c": "A hairline fracture of the distal left radius; no displacement.",
    "d": "Findings unclear; repeat the X-ray.",
}


def comparison_content(mode: str = "pairwise", count: int = 2, **extra) -> dict:
    """The content of a comparison request as stored: candidates a, b (c, d) with models."""
    candidates = [
        {"id": cid, "type": "text", "body": CANDIDATE_TEXTS[cid], "model": f"model-{cid}"}
        for cid in list(CANDIDATE_TEXTS)[:count]
    ]
    return {
        "type": "comparison",
        "mode": mode,
        "candidates": candidates,
        "blind_models": True,
        **extra,
    }


def specialization(slug: str = "medicine.radiology") -> Specialization:
    """From the taxonomy migration (conftest loads it again after a transactional test)."""
    return Specialization.objects.get(slug=slug)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@inloop.test")
    account_type = User.AccountType.EXPERT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create:
            self.save()
            from marketplace.services import user_mark_email_verified

            user_mark_email_verified(user=self)


class ExpertProfileFactory(DjangoModelFactory):
    """An expert who can be matched: a rate, a time zone, accepting work.

    Keyword extras (all optional):
      specializations=["medicine.radiology", ("law", 12)]   slugs, or (slug, years)
      windows=[(weekday, start_minute, end_minute), ...]    weekly availability, local time
      credentials=["medicine"]                              verified credentials per field slug
    """

    class Meta:
        model = ExpertProfile
        # ExpertProfileFactory(user=expert) is that user's profile, made on first use.
        django_get_or_create = ("user",)
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, account_type=User.AccountType.EXPERT)
    display_name = factory.Sequence(lambda n: f"Expert {n}")
    headline = "Reviewer of AI outputs"
    bio = "I check **facts**."
    languages = factory.LazyFunction(lambda: ["en"])
    hourly_rate_cents = 10_000
    timezone = "UTC"
    max_concurrent = 2
    accepting_work = True

    # bulk_create sends no signals: the last hook rebuilds the match rows once.
    @factory.post_generation
    def specializations(self, create, extracted, **kwargs):
        rows = []
        for item in extracted or []:
            slug, years = (item, 5) if isinstance(item, str) else item
            specialization = Specialization.objects.get(slug=slug)
            rows.append(
                ExpertSpecialization(expert=self, specialization=specialization, years=years)
            )
        ExpertSpecialization.objects.bulk_create(rows)

    @factory.post_generation
    def windows(self, create, extracted, **kwargs):
        AvailabilityWindow.objects.bulk_create(
            [
                AvailabilityWindow(expert=self, weekday=d, start_minute=s, end_minute=e)
                for d, s, e in extracted or []
            ]
        )

    @factory.post_generation
    def credentials(self, create, extracted, **kwargs):
        Credential.objects.bulk_create(
            [
                CredentialFactory.build(
                    expert=self, field=Specialization.objects.get(slug=field_slug)
                )
                for field_slug in extracted or []
            ]
        )

    @factory.post_generation
    def match_rows(self, create, extracted, **kwargs):
        if create:
            match_rows_refresh(expert_ids=[self.pk])


class CredentialFactory(DjangoModelFactory):
    class Meta:
        model = Credential

    expert = factory.SubFactory(ExpertProfileFactory)
    field = factory.LazyFunction(lambda: Specialization.objects.get(slug="medicine"))
    kind = Credential.Kind.MEDICAL_LICENSE
    issuer = "State Medical Board"
    number = factory.Sequence(lambda n: f"L-{n:05d}")
    jurisdiction = "CA"
    status = Credential.Status.VERIFIED


class TimeOffFactory(DjangoModelFactory):
    class Meta:
        model = TimeOff

    expert = factory.SubFactory(ExpertProfileFactory)
    start_date = factory.Faker("date_this_year")
    end_date = factory.SelfAttribute("start_date")


class ExpertSpecializationFactory(DjangoModelFactory):
    class Meta:
        model = ExpertSpecialization

    expert = factory.SubFactory(ExpertProfileFactory)
    specialization = factory.LazyFunction(specialization)
    years = 5


class AvailabilityWindowFactory(DjangoModelFactory):
    """Weekly availability in the expert's own time zone; Monday 09:00-17:00 unless told."""

    class Meta:
        model = AvailabilityWindow

    expert = factory.SubFactory(ExpertProfileFactory)
    weekday = 0
    start_minute = 9 * 60
    end_minute = 17 * 60


class OrganizationFactory(DjangoModelFactory):
    """A company with its owner, made by marketplace's service (membership, audit row)."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Company {n}")
    owner = factory.SubFactory(UserFactory, account_type=User.AccountType.COMPANY)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return marketplace_services.organization_create(**kwargs)


class MembershipFactory(DjangoModelFactory):
    """A member (not admin) of `organization`."""

    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory, account_type=User.AccountType.COMPANY)
    role = Membership.Role.MEMBER


class CreditGrantFactory(DjangoModelFactory):
    """Funds a company through billing's own service, as an operator's grant does: the
    CreditGrant row and its balanced ledger transaction onto the company's `available`.
    CreditGrantFactory(organization=org, amount_cents=50_000)."""

    class Meta:
        model = CreditGrant

    organization = factory.SubFactory(OrganizationFactory)
    amount_cents = 1_000_000
    reason = "test funds"
    actor = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return billing_services.credit_grant(**kwargs)


class FundingFactory(DjangoModelFactory):
    """A card top-up as the funding page starts it: nothing is credited until Stripe's verified
    payment_intent.succeeded webhook arrives."""

    class Meta:
        model = Funding

    organization = factory.SubFactory(OrganizationFactory)
    amount_cents = 10_000


class ReviewRequestFactory(DjangoModelFactory):
    """A queued radiology request (in a new company unless `organization` is given).
    in_review=True: the request an assignment is working on."""

    class Meta:
        model = ReviewRequest

    class Params:
        in_review = factory.Trait(status=ReviewRequest.Status.IN_REVIEW)

    organization = factory.SubFactory(OrganizationFactory)
    title = "Radiology report check"
    specialization = factory.LazyFunction(specialization)
    content = factory.LazyFunction(lambda: {"type": "text", "body": TEXT})
    content_type = factory.LazyAttribute(lambda request: request.content["type"])
    prompt = "Summarize the X-ray."
    guidelines = "Check **every** finding."
    rubric = factory.LazyFunction(lambda: [dict(item) for item in RUBRIC])
    max_hours = Decimal("1.00")


class PolicyFactory(DjangoModelFactory):
    """An oversight policy with its version 1, made by oversight's service (audit row).
    PolicyFactory(organization=org, rules=[...], is_default=True)."""

    class Meta:
        model = Policy

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"policy-{n}")
    rules = factory.LazyFunction(
        lambda: [
            {"name": "doubtful", "when": {"confidence_lt": 0.8}, "outcome": "review"},
            {"name": "confident", "outcome": "auto_approve"},
        ]
    )
    is_default = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return oversight_services.policy_create(**kwargs)


class OfferFactory(DjangoModelFactory):
    """An open offer of `review_request` to `expert` (a profile), expiring in `minutes`."""

    class Meta:
        model = Offer

    class Params:
        minutes = 15

    review_request = factory.SubFactory(ReviewRequestFactory)
    expert = factory.SubFactory(ExpertProfileFactory)
    rate_cents = factory.LazyAttribute(lambda offer: offer.expert.hourly_rate_cents or 10_000)
    expires_at = factory.LazyAttribute(
        lambda offer: timezone.now() + timedelta(minutes=offer.minutes)
    )
    reason = "radiology, 5 y"


class AssignmentFactory(DjangoModelFactory):
    """An accepted assignment with its billing hold placed through billing's service, the way
    offer_accept leaves it (the company must have the funds). held=False: no hold at all, for
    pages that only show assignments. AssignmentFactory(review_request=rr, expert__user=erin)
    uses Erin's profile."""

    class Meta:
        model = Assignment
        skip_postgeneration_save = True

    class Params:
        held = True

    id = factory.LazyFunction(uuid.uuid4)
    review_request = factory.SubFactory(ReviewRequestFactory, in_review=True)
    expert = factory.SubFactory(ExpertProfileFactory)
    rate_cents = factory.LazyAttribute(lambda a: a.expert.hourly_rate_cents or 10_000)
    max_seconds = factory.LazyAttribute(lambda a: int(a.review_request.max_hours * 3600))
    hold_ref = factory.Maybe(
        "held",
        yes_declaration=factory.LazyAttribute(lambda a: f"assignment:{a.id}"),
        no_declaration="",
    )

    @factory.post_generation
    def hold(self, create, extracted, **kwargs):
        if not (create and self.hold_ref):
            return
        review_request = self.review_request
        with transaction.atomic():
            billing_services.hold_place(
                organization=review_request.organization,
                ref=self.hold_ref,
                amount_cents=billing_services.hold_amount_for(
                    max_hours=review_request.max_hours,
                    rate_cents=self.rate_cents,
                    fee_percent=platform_fee_percent(),
                ),
            )


class ReviewFactory(DjangoModelFactory):
    class Meta:
        model = Review

    assignment = factory.SubFactory(AssignmentFactory)
    verdict = Review.Verdict.CORRECTED
    corrected_output = "The scan shows a hairline fracture."
    summary = "Missed a fracture."
    scores = factory.LazyFunction(lambda: {"accuracy": 2})
    annotations = factory.LazyFunction(list)


class WorkIntervalFactory(DjangoModelFactory):
    """Billable time: an interval from `started_at` to its last heartbeat."""

    class Meta:
        model = WorkInterval

    assignment = factory.SubFactory(AssignmentFactory)
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=10))
    last_heartbeat_at = factory.LazyFunction(timezone.now)
    closed = False


class WebhookEventFactory(DjangoModelFactory):
    """A review_request.completed event of `review_request`, addressed to its callback URL."""

    class Meta:
        model = WebhookEvent

    id = factory.Sequence(lambda n: f"evt_test_{n:04d}")
    review_request = factory.SubFactory(
        ReviewRequestFactory, callback_url="https://93.184.216.34/hook"
    )
    organization = factory.SelfAttribute("review_request.organization")
    type = "review_request.completed"
    url = factory.LazyAttribute(lambda event: event.review_request.callback_url)
    body = "{}"


class EarningFactory(DjangoModelFactory):
    """An expert's earning made the way review_requests makes one, through billing's services:
    the hold on accept, then the capture of `billed_seconds` on submit (the company needs the
    funds). available=True: past its dispute window and matured by billing's periodic task.
    max_hours, fee_percent and available are no fields: they go to the services."""

    class Meta:
        model = Earning

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    billed_seconds = 3600
    rate_cents = 6000
    payer = "company"
    ref = factory.LazyFunction(lambda: f"assignment:{uuid.uuid4()}")
    max_hours = Decimal(2)
    fee_percent = Decimal(20)
    available = False

    @classmethod
    def _create(cls, model_class, *, max_hours, fee_percent, available, **fields):
        amount = billing_services.hold_amount_for(
            max_hours=max_hours, rate_cents=fields["rate_cents"], fee_percent=fee_percent
        )
        with transaction.atomic():
            billing_services.hold_place(
                organization=fields["organization"],
                ref=fields["ref"],
                amount_cents=amount,
                payer=fields["payer"],
            )
        with transaction.atomic():
            earning = billing_services.hold_capture(
                ref=fields["ref"],
                expert_user=fields["user"],
                assignment_id=uuid.uuid4(),
                billed_seconds=fields["billed_seconds"],
                rate_cents=fields["rate_cents"],
                fee_percent=fee_percent,
            )
        if available:
            Earning.objects.filter(pk=earning.pk).update(
                available_at=timezone.now() - timedelta(hours=1)
            )
            billing_services.earnings_mature_due()
            earning.refresh_from_db()
        return earning


class ConnectedAccountFactory(DjangoModelFactory):
    """`user`'s Stripe Connect account through billing's services, onboarded at the local Stripe
    server `localstripe` (payouts enabled there, then synced back)."""

    class Meta:
        model = ConnectedAccount

    user = factory.SubFactory(UserFactory)
    localstripe = None

    @classmethod
    def _create(cls, model_class, *, user, localstripe):
        connected = billing_services.connected_account_ensure(user=user)
        localstripe.enable_payouts(connected.stripe_account_id)
        return billing_services.connected_account_sync(user=user)


class PayoutFactory(DjangoModelFactory):
    """`user`'s pending payout, made by the payout run's first step (payouts_create over a new
    run) from the money available to them (EarningFactory(available=True)); nothing is sent.
    Like the real step, it makes a payout for every expert with enough available money."""

    class Meta:
        model = Payout

    user = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *, user):
        payouts.payouts_create(run=PayoutRun.objects.create())
        return Payout.objects.get(user=user, status=Payout.Status.PENDING)


class GoldenItemFactory(DjangoModelFactory):
    """A platform golden item in radiology: expected `approved`, accuracy 4 (of 5) within 1."""

    class Meta:
        model = GoldenItem

    specialization = factory.LazyFunction(specialization)
    title = factory.Sequence(lambda n: f"Golden radiology report {n}")
    content_type = "text"
    content = factory.LazyFunction(lambda: {"type": "text", "body": TEXT})
    rubric = factory.LazyFunction(lambda: [dict(item) for item in RUBRIC])
    max_hours = Decimal("0.50")
    expected_verdict = "approved"
    expected_scores = factory.LazyFunction(lambda: {"accuracy": 4})
    tolerance = 1.0


class QualificationTestFactory(DjangoModelFactory):
    """A specialization's test. QualificationTestFactory(items=[...]) puts those items in it."""

    class Meta:
        model = QualificationTest
        skip_postgeneration_save = True

    specialization = factory.LazyFunction(specialization)
    pass_threshold = 0.5
    live_rate = 0.0

    @factory.post_generation
    def items(self, create, extracted, **kwargs):
        if create and extracted:
            self.items.set(extracted)


class ExportFactory(DjangoModelFactory):
    """A queued export of `organization`'s data (no task is run: call the writer yourself)."""

    class Meta:
        model = Export

    organization = factory.SubFactory(OrganizationFactory)
    format = Export.Format.DPO
    schema_version = factory.LazyAttribute(lambda export: SCHEMA_VERSIONS[export.format])
    filters = factory.LazyFunction(lambda: {"status": ["completed"]})


def completed_export(*, organization, body: bytes = b'{"prompt":"p"}\n', fmt: str = "dpo"):
    """A completed export whose file holds `body` in the default storage, as the writer leaves
    one (the row is made directly: the writer's own tests run the real path)."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    export = ExportFactory(organization=organization, format=fmt)
    name = default_storage.save(f"exports/{organization.pk}/{export.pk}.jsonl", ContentFile(body))
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.COMPLETED,
        file=name,
        sha256=hashlib.sha256(body).hexdigest(),
        rows=body.count(b"\n"),
        size_bytes=len(body),
        rows_done=body.count(b"\n"),
        rows_total=body.count(b"\n"),
        finished_at=timezone.now(),
    )
    export.refresh_from_db()
    return export
