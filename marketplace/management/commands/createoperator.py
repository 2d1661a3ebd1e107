"""Make an operator account (verified email; they must turn on MFA before the console)."""

from __future__ import annotations

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketplace.services import operator_create


class Command(BaseCommand):
    help = "Create an operator account."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="Prompted for when omitted.")

    def handle(self, *args, email: str, password: str | None, **options):
        if not password:
            password = getpass.getpass("Password: ")
        if len(password) < 8:
            raise CommandError("The password needs at least 8 characters.")
        try:
            user = operator_create(email=email, password=password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Operator {user.email} created. They must set up MFA at first login."
            )
        )
