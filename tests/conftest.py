"""The named cast every test can use, and shared fixtures (Stripe server, API clients)."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable

import pytest
from django.test import Client

from marketplace import services
from marketplace.models import Membership, User
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
ON_REDIS = bool(os.environ.get("REDIS_URL"))


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL (row locks); set DATABASE_URL=postgres://..."
    )
    skip_redis = pytest.mark.skip(
        reason="needs Redis (several processes); set REDIS_URL=redis://..."
    )
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not ON_REDIS:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """One channel layer per test: channels_redis binds its locks and pools to the event loop
    that first used them, and every async test runs on a loop of its own."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_oversight_notes():
    """The create path's per-process notes of policies (oversight.selectors) start empty."""
    from oversight.selectors import policy_cache_clear

    policy_cache_clear()
    yield
    policy_cache_clear()


@pytest.fixture(autouse=True)
def _taxonomy_after_flush(request):
    """A transactional test flushes the database when it ends, taxonomy rows included; load the
    taxonomy again the way its data migration does, so the next one starts from a migrated
    database (serialized_rollback cannot be mixed with flushes that recreate content types)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    migration = importlib.import_module("experts.migrations.0003_load_taxonomy")
    migration.load_taxonomy(apps, None)


def run_at_once(work: Callable[[], None], *, threads: int) -> None:
    """Call `work` from `threads` threads released together by a barrier (a race), each closing
    its own database connection when done; returns when all have finished."""
    from django.db import connection

    barrier = threading.Barrier(threads)

    def run() -> None:
        try:
            barrier.wait()
            work()
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


@pytest.fixture
def operator(db) -> User:
    return UserFactory(
        email="olivia.operator@inloop.test", account_type=User.AccountType.OPERATOR, is_staff=True
    )


@pytest.fixture
def other_operator(db) -> User:
    return UserFactory(
        email="oscar.operator@inloop.test", account_type=User.AccountType.OPERATOR, is_staff=True
    )


@pytest.fixture
def company_member(db) -> User:
    """Owner of Acme AI."""
    user = UserFactory(email="carla@acme.test", account_type=User.AccountType.COMPANY)
    OrganizationFactory(owner=user, name="Acme AI")
    return user


@pytest.fixture
def organization(company_member):
    return Membership.objects.get(user=company_member).organization


@pytest.fixture
def plain_member(organization) -> User:
    """A member (not admin) of Acme AI."""
    user = UserFactory(email="mark@acme.test", account_type=User.AccountType.COMPANY)
    MembershipFactory(organization=organization, user=user)
    return user


@pytest.fixture
def other_company_member(db) -> User:
    """Owner of Globex, another tenant."""
    user = UserFactory(email="gina@globex.test", account_type=User.AccountType.COMPANY)
    OrganizationFactory(owner=user, name="Globex")
    return user


@pytest.fixture
def other_organization(other_company_member):
    return Membership.objects.get(user=other_company_member).organization


@pytest.fixture
def expert(db) -> User:
    return UserFactory(
        email="erin.expert@inloop.test", account_type=User.AccountType.EXPERT, first_name="Erin"
    )


@pytest.fixture
def other_expert(db) -> User:
    return UserFactory(
        email="eli.expert@inloop.test", account_type=User.AccountType.EXPERT, first_name="Eli"
    )


@pytest.fixture
def assignment(organization, expert):
    """Erin's accepted assignment on a funded Acme request, its hold placed (as offer_accept
    leaves it). Test modules that need another kind define their own."""
    CreditGrantFactory(organization=organization)
    return AssignmentFactory(review_request__organization=organization, expert__user=expert)


def login_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def api_key(organization, company_member) -> str:
    _, raw = services.api_key_create(
        organization=organization, name="pipeline", actor=company_member
    )
    return raw


@pytest.fixture
def other_api_key(other_organization, other_company_member) -> str:
    _, raw = services.api_key_create(
        organization=other_organization, name="pipeline", actor=other_company_member
    )
    return raw


def give_operator_mfa(user: User) -> None:
    """Activate TOTP for an operator the way allauth stores it."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(user, generate_totp_secret())


@pytest.fixture(scope="session")
def localstripe():
    from tests.stripe_server import running_localstripe

    with running_localstripe() as server:
        yield server


@pytest.fixture
def stripe_on(settings, localstripe):
    """Stripe settings pointing at the local Stripe server, its store emptied."""
    from tests.billing.support import use_localstripe

    localstripe.reset()
    use_localstripe(settings, localstripe)
    return localstripe


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Transactional tests flush the database in teardown; on SQLite that is a DELETE, which
    the ledger's append-only triggers refuse outside billing.db.ledger_maintenance()."""
    from billing.db import ledger_maintenance

    with ledger_maintenance():
        return (yield)
