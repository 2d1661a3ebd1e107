"""Benchmark: one payout run over many experts and captured assignments, on PostgreSQL, with
Stripe played by LocalStripe (tests/stripe_server.py).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop_bench \\
        .venv/bin/python bench/payouts.py --experts 10000 --assignments 100000

The database named in DATABASE_URL is created if missing and EMPTIED (flush) first: never point
it at data you want to keep. Set-up (users, 100k earnings and their ledger postings, Connect
accounts in LocalStripe) is bulk and not measured. Measured: the payout run, split into its
database step (payouts + ledger) and its Stripe step (one transfer each), with wall time,
database queries and Stripe calls. Prints one JSON object at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = url.rsplit("/", 1)
    name = parts[1].split("?")[0]
    with psycopg.connect(parts[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experts", type=int, default=10_000)
    parser.add_argument("--assignments", type=int, default=100_000)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (a scratch database: it is emptied).")
    _ensure_database(url)

    from tests.stripe_server import running_localstripe

    with running_localstripe(webhook_delay=0.0) as localstripe:
        os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdefghijklmnop")
        os.environ["STRIPE_SECRET_KEY"] = localstripe.api_key
        os.environ["STRIPE_API_BASE"] = localstripe.base_url
        os.environ["LOG_LEVEL"] = "WARNING"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inloop_site.settings")
        import django

        django.setup()
        import logging

        logging.getLogger("stripe").setLevel(logging.WARNING)
        result = _run(localstripe, experts=args.experts, assignments=args.assignments)
    print(json.dumps(result, indent=2))


def _setup(localstripe, *, experts: int, assignments: int):
    from django.core.management import call_command
    from django.db import transaction

    from billing import ledger
    from billing.models import ConnectedAccount, Earning, LedgerAccount
    from marketplace.models import Organization, User

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    Kind = LedgerAccount.Kind

    organization = Organization.objects.create(name="Bench AI", slug="bench-ai", webhook_secret="x")
    users = User.objects.bulk_create(
        [
            User(email=f"bench-expert-{i}@inloop.test", account_type="expert", password="!")
            for i in range(experts)
        ],
        batch_size=5000,
    )
    rate, seconds = 6000, 1800
    expert_cents, fee_cents = 3000, 600
    total = assignments * (expert_cents + fee_cents)
    with transaction.atomic():
        available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
        fees = ledger.account(Kind.PLATFORM_FEES)
        ledger.transfer(
            ref="bench:credit",
            reason="credit_granted",
            source=ledger.account(Kind.PLATFORM_CREDIT),
            destination=available,
            amount_cents=total,
        )
        accounts = LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(kind=Kind.EXPERT_AVAILABLE, user=user, owner_key=f"user:{user.pk}")
                for user in users
            ],
            batch_size=5000,
        )
    # Each captured assignment, already past its dispute window: one posting and one earning.
    batch = 5000
    for start in range(0, assignments, batch):
        with transaction.atomic():
            postings, earnings = [], []
            for i in range(start, min(start + batch, assignments)):
                expert_account = accounts[i % experts]
                ref = f"bench:assignment:{i}"
                postings.append(
                    ledger.Posting(
                        ref=f"{ref}:capture",
                        reason="capture",
                        lines=[
                            ledger.Line(available, -(expert_cents + fee_cents)),
                            ledger.Line(expert_account, expert_cents),
                            ledger.Line(fees, fee_cents),
                        ],
                    )
                )
                earnings.append(
                    Earning(
                        user_id=expert_account.user_id,
                        organization=organization,
                        ref=ref,
                        assignment_id=uuid.uuid4(),
                        amount_cents=expert_cents,
                        fee_cents=fee_cents,
                        billed_seconds=seconds,
                        rate_cents=rate,
                        status=Earning.Status.AVAILABLE,
                        available_at=organization.created_at,
                    )
                )
            ledger.post_many(postings)
            Earning.objects.bulk_create(earnings, batch_size=5000)
    # Onboarded Connect accounts in LocalStripe.
    client = localstripe.client()
    connected = []
    for user in users:
        account = client.v1.accounts.create(
            params={
                "type": "express",
                "country": "US",
                "capabilities": {"transfers": {"requested": True}},
            }
        )
        localstripe.enable_payouts(account.id)
        connected.append(
            ConnectedAccount(
                user=user,
                stripe_account_id=account.id,
                payouts_enabled=True,
                details_submitted=True,
            )
        )
    ConnectedAccount.objects.bulk_create(connected, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum would have done after bulk loading


class QueryMeter:
    """Counts SQL statements and the time spent in them (no cap, unlike connection.queries;
    BEGIN/COMMIT are not counted)."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.slowest: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            self.count += 1
            self.slowest = sorted([*self.slowest, (elapsed, sql[:70])], reverse=True)[:3]


def _run(localstripe, *, experts: int, assignments: int) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from billing import stripe_gateway
    from billing.models import Payout, PayoutRun
    from billing.payouts import payouts_create, payouts_send

    started = time.perf_counter()
    _setup(localstripe, experts=experts, assignments=assignments)
    setup_seconds = time.perf_counter() - started
    calls_before = localstripe.calls().get("POST /v1/transfers", 0)

    create_queries, send_queries, rerun_queries = QueryMeter(), QueryMeter(), QueryMeter()
    with connection.execute_wrapper(create_queries):
        t0 = time.perf_counter()
        run = PayoutRun.objects.create()
        created = payouts_create(run=run)
        t1 = time.perf_counter()
    gateway_before = stripe_gateway.call_count()
    with connection.execute_wrapper(send_queries):
        t2 = time.perf_counter()
        sent = payouts_send()
        t3 = time.perf_counter()
    stripe_calls = stripe_gateway.call_count() - gateway_before
    transfers = localstripe.calls().get("POST /v1/transfers", 0) - calls_before

    # A second run must find nothing to pay and send nothing.
    with connection.execute_wrapper(rerun_queries):
        rerun = PayoutRun.objects.create()
        again = payouts_create(run=rerun)
        payouts_send()
    call_command("ledger_check", stdout=io.StringIO())  # raises if anything disagrees

    return {
        "experts": experts,
        "assignments": assignments,
        "setup_seconds": round(setup_seconds, 1),
        "payouts_created": created,
        "payouts_sent": sent.sent,
        "create_step": {
            "seconds": round(t1 - t0, 2),
            "queries": create_queries.count,
            "db_seconds": round(create_queries.seconds, 2),
            "slowest": [[round(t, 2), q] for t, q in create_queries.slowest],
        },
        "stripe_step": {
            "seconds": round(t3 - t2, 2),
            "queries": send_queries.count,
            "stripe_calls": stripe_calls,
            "transfers_received_by_localstripe": transfers,
            "ms_per_payout": round((t3 - t2) * 1000 / max(sent.sent, 1), 2),
            # Time the database spent on this step's queries; the rest is Stripe and Python.
            "db_seconds": round(send_queries.seconds, 2),
        },
        "run_seconds": round(t3 - t0, 2),
        "queries_total": create_queries.count + send_queries.count,
        "rerun": {"payouts_created": again, "queries": rerun_queries.count},
        "payouts_in_db": Payout.objects.count(),
    }


if __name__ == "__main__":
    main()
