"""factory-boy factories shared by the test suite (add yours below; keep them small)."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from experts.match_index import match_rows_refresh
from experts.models import (
    AvailabilityWindow,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    Specialization,
    TimeOff,
)
from marketplace.models import User

PASSWORD = "correct-horse-battery-staple"


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
