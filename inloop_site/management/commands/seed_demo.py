"""Fill an empty database with a believable marketplace; safe to run again (nothing duplicates).

`--json` prints one JSON object naming what it made (contract/API.md, "Demo data").

Demo accounts have published passwords, so with DEBUG off (production) it refuses to run unless
given `--i-know-this-is-production`. Even then the operator never exists there without two-factor:
each run gives it a new random password and a new authenticator-app secret, printed once
(`operator.password` and `operator.totp_secret` in the JSON, with the otpauth:// URL in the text).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing import services as billing_services
from billing.selectors import company_balance
from experts.match_index import match_rows_refresh
from experts.models import (
    AvailabilityWindow,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    Specialization,
)
from marketplace import services
from marketplace.models import Membership, Organization, User
from marketplace.transitions import transition

OPERATOR = ("operator@inloop.test", "inloop-operator-demo")
COMPANY_NAME = "Acme AI"
COMPANY_MEMBERS = [
    ("owner@acme.test", "inloop-company-demo", "owner"),
    ("member@acme.test", "inloop-company-demo", "member"),
]
EXPERT_PASSWORD = "inloop-expert-demo"
FUNDED_CENTS = 1_000_000  # $10,000

FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Nikolai",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
    "Dmitri",
    "Esther",
    "Felix",
    "Gita",
    "Hugo",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Patel",
    "Rossi",
    "Haddad",
    "Kim",
    "Tanaka",
    "García",
    "Berg",
    "Adeyemi",
    "Walsh",
    "Cohen",
    "Petrov",
    "Balogun",
    "Iyer",
    "Murphy",
    "Silva",
    "Khan",
    "Novak",
]
TIMEZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Europe/Madrid",
]
CREDENTIAL_KIND = {
    "medicine": Credential.Kind.MEDICAL_LICENSE,
    "law": Credential.Kind.BAR_ADMISSION,
}
LANGUAGES = [["en"], ["en", "de"], ["en", "es"], ["en", "fr"], ["en", "ja"], ["en", "hi"]]


class Command(BaseCommand):
    help = "Load demo data (idempotent). --json prints what was made as one JSON object."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object and nothing else."
        )
        parser.add_argument("--experts-per-field", type=int, default=4)
        parser.add_argument(
            "--i-know-this-is-production",
            action="store_true",
            dest="production",
            help="Run with DEBUG off too (the operator then gets a random password and TOTP).",
        )

    def handle(self, *args, **options):
        production = not settings.DEBUG
        if production and not options["production"]:
            raise CommandError(
                "DEBUG is off, so this looks like production: seed_demo would add accounts with "
                "published demo passwords. Run it with --i-know-this-is-production to do it "
                "anyway (the operator then gets a random password and two-factor)."
            )
        rng = random.Random(20261122)  # the same marketplace every time
        with transaction.atomic():
            operator = self._user(*OPERATOR, User.AccountType.OPERATOR, is_staff=True)
            operator_login = {"email": OPERATOR[0], "password": OPERATOR[1]}
            if production:
                password, secret = services.operator_credentials_reset(user=operator)
                operator_login = {"email": OPERATOR[0], "password": password, "totp_secret": secret}
            organization, members = self._company()
            experts = self._experts(rng, options["experts_per_field"])
            balance = company_balance(organization=organization)
            if balance.available_cents + balance.held_cents < FUNDED_CENTS:
                billing_services.credit_grant(
                    organization=organization,
                    amount_cents=FUNDED_CENTS - balance.available_cents - balance.held_cents,
                    reason="Demo credit",
                    actor=operator,
                )
            _, api_key = services.api_key_create_for_seed(
                organization=organization, name="Demo pipeline"
            )

        made = {
            "operator": operator_login,
            "company": {
                "id": str(organization.pk),
                "name": organization.name,
                "api_key": api_key,
                "webhook_secret": organization.webhook_secret,
                "members": [{"email": e, "password": p} for e, p, _ in members],
            },
            "experts": experts,
        }
        if options["json"]:
            self.stdout.write(json.dumps(made))
            return
        self.stdout.write(
            self.style.SUCCESS("Demo data ready. Log in at http://127.0.0.1:8000/accounts/login/")
        )
        if production:
            url = get_mfa_adapter().build_totp_url(operator, operator_login["totp_secret"])
            self.stdout.write(
                self.style.WARNING(
                    "  DEBUG is off: the company and expert accounts below have published demo "
                    "passwords; the operator's credentials are new and shown only now."
                )
            )
            self.stdout.write(f"  operator: {OPERATOR[0]} / {operator_login['password']}")
            self.stdout.write(
                f"    two-factor secret {operator_login['totp_secret']} (add it to an "
                f"authenticator app: {url})"
            )
        else:
            self.stdout.write(
                f"  operator: {OPERATOR[0]} / {OPERATOR[1]} (sets up two-factor at first console visit)"
            )
        for email, password, role in members:
            self.stdout.write(f"  company {role}: {email} / {password}")
        for expert in experts[:3]:
            self.stdout.write(
                f"  expert: {expert['email']} / {expert['password']} ({', '.join(expert['specializations'])})"
            )
        self.stdout.write(
            f"  ... and {len(experts) - 3} more experts, all with password {EXPERT_PASSWORD}"
        )
        self.stdout.write(f"  API key (new each run): {api_key}")

    def _user(self, email: str, password: str, account_type: str, **extra) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email, password=password, account_type=account_type, **extra
            )
        services.user_mark_email_verified(user=user)
        return user

    def _company(self) -> tuple[Organization, list[tuple[str, str, str]]]:
        owner = self._user(COMPANY_MEMBERS[0][0], COMPANY_MEMBERS[0][1], User.AccountType.COMPANY)
        membership = Membership.objects.filter(user=owner).select_related("organization").first()
        organization = (
            membership.organization
            if membership
            else services.organization_create(owner=owner, name=COMPANY_NAME)
        )
        for email, password, role in COMPANY_MEMBERS[1:]:
            user = self._user(email, password, User.AccountType.COMPANY)
            Membership.objects.get_or_create(
                user=user, defaults={"organization": organization, "role": role}
            )
        return organization, COMPANY_MEMBERS

    def _experts(self, rng: random.Random, per_field: int) -> list[dict]:
        fields = list(Specialization.objects.filter(parent__isnull=True).order_by("slug"))
        leaves_by_field = {
            field.pk: list(Specialization.objects.filter(parent=field).order_by("slug"))
            for field in fields
        }
        made = []
        index = 0
        for field in fields:
            for n in range(per_field):
                index += 1
                always = n == 0  # the first expert of every field is on call around the clock
                first, last = FIRST[index % len(FIRST)], LAST[(index * 7) % len(LAST)]
                email = f"expert{index:02d}@inloop.test"
                user = self._user(
                    email,
                    EXPERT_PASSWORD,
                    User.AccountType.EXPERT,
                    first_name=first,
                    last_name=last,
                )
                leaves = rng.sample(
                    leaves_by_field[field.pk], k=min(2, len(leaves_by_field[field.pk]))
                )
                if always:
                    # The on-call reviewer covers the whole field, so a request for any
                    # specialization finds someone at any hour.
                    leaves += [leaf for leaf in leaves_by_field[field.pk] if leaf not in leaves]
                rate = rng.randrange(4_000, 30_001, 500)
                completed = rng.randint(5, 300)
                on_time = round(completed * rng.uniform(0.85, 1.0))
                dropped = round(completed * rng.uniform(0.0, 0.08))
                responses = completed + dropped + rng.randint(0, 40)
                response_seconds = rng.randint(45, 600)
                profile, created = ExpertProfile.objects.get_or_create(
                    user=user,
                    defaults={
                        "display_name": f"{first} {last}",
                        "headline": f"{leaves[0].name} specialist, {rng.randint(4, 25)} years",
                        "bio": f"I review AI outputs in **{field.name.lower()}** with a focus on {leaves[0].name.lower()}.",
                        "languages": rng.choice(LANGUAGES),
                        "hourly_rate_cents": rate,
                        "timezone": TIMEZONES[index % len(TIMEZONES)],
                        "max_concurrent": rng.choice([2, 2, 3, 4]),
                        "accepting_work": True,
                        "always_available": always,
                        "rating_avg": round(rng.uniform(4.0, 5.0), 2),
                        "rating_count": rng.randint(3, 120),
                        "completed_count": completed,
                        "on_time_count": on_time,
                        "dropped_count": dropped,
                        "on_time_rate": on_time / completed,
                        "completion_rate": completed / (completed + dropped),
                        "response_count": responses,
                        "response_seconds_total": responses * response_seconds,
                        "avg_response_seconds": response_seconds,
                    },
                )
                if created:
                    self._expert_details(
                        rng, profile=profile, field=field, leaves=leaves, index=index, always=always
                    )
                made.append(
                    {
                        "id": str(profile.pk),
                        "email": email,
                        "password": EXPERT_PASSWORD,
                        "display_name": profile.display_name,
                        "specializations": list(
                            profile.specializations.order_by("specialization__slug").values_list(
                                "specialization__slug", flat=True
                            )
                        ),
                        "rate_cents": profile.hourly_rate_cents,
                        "always_available": profile.always_available,
                    }
                )
        return made

    def _expert_details(
        self,
        rng: random.Random,
        *,
        profile: ExpertProfile,
        field: Specialization,
        leaves: list[Specialization],
        index: int,
        always: bool,
    ) -> None:
        """A new demo expert's specializations, weekly hours and, where the field asks for
        one, a verified credential."""
        for leaf in leaves:
            ExpertSpecialization.objects.create(
                expert=profile, specialization=leaf, years=rng.randint(2, 25)
            )
        for weekday in range(5 if not always else 7):
            start = rng.choice([7, 8, 9, 13]) * 60
            AvailabilityWindow.objects.create(
                expert=profile,
                weekday=weekday,
                start_minute=start,
                end_minute=start + 4 * 60,
            )
            AvailabilityWindow.objects.create(
                expert=profile,
                weekday=weekday,
                start_minute=start + 5 * 60,
                end_minute=min(1440, start + 9 * 60),
            )
        if field.requires_credentials:
            credential = Credential.objects.create(
                expert=profile,
                field=field,
                kind=CREDENTIAL_KIND.get(field.slug, Credential.Kind.CERTIFICATION),
                issuer="State Board" if field.slug == "medicine" else "State Bar",
                number=f"D-{index:05d}",
                jurisdiction="CA",
                expires_on=date.today() + timedelta(days=3 * 365),
            )
            transition(credential, Credential.Status.VERIFIED, reason="demo data")
            match_rows_refresh(expert_ids=[profile.pk])  # update() sends no signal
