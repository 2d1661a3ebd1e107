"""Idempotency keys sent to Stripe: stable for retries of one row's operation, never shared with
another database whose rows have the same ids (two installations on one Stripe account, or the
test databases of parallel workers against one local Stripe)."""

from __future__ import annotations

import pytest
import stripe

from billing import services, stripe_gateway
from billing.models import Funding, StripeInstallation
from tests.billing.support import use_localstripe
from tests.factories import FundingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_on(settings, localstripe):
    use_localstripe(settings, localstripe)
    return localstripe


def create_intent(funding: Funding, *, amount_cents: int | None = None) -> stripe.PaymentIntent:
    return stripe_gateway.payment_intent_create(
        amount_cents=amount_cents or funding.amount_cents,
        currency="usd",
        funding_id=funding.pk,
        organization_id=str(funding.organization_id),
        idempotency_key=funding.idempotency_key,
    )


def sent_key(stripe_object) -> str:
    return stripe_object.last_response.headers["Idempotency-Key"]


def test_the_prefix_is_made_once_and_kept(db):
    assert not StripeInstallation.objects.exists()
    prefix = stripe_gateway.idempotency_prefix()
    assert prefix.startswith("inl-") and len(prefix) == len("inl-") + 12
    assert stripe_gateway.idempotency_prefix() == prefix
    assert stripe_gateway.idempotency_key("payout-7") == f"{prefix}-payout-7"
    assert StripeInstallation.objects.count() == 1


def test_a_prefix_made_by_another_process_first_is_the_one_used(db):
    StripeInstallation.objects.create(pk=1, key_prefix="inl-000000000001")
    assert stripe_gateway.idempotency_prefix() == "inl-000000000001"


def test_every_post_carries_the_prefixed_key_of_its_row(stripe_on, organization, company_member):
    funding = services.funding_start(
        organization=organization, amount_cents=2_000, actor=company_member
    )
    intent = stripe_gateway.client().v1.payment_intents.retrieve(funding.stripe_payment_intent_id)
    assert intent.metadata["funding_id"] == str(funding.pk)
    again = create_intent(funding)
    assert sent_key(again) == f"{stripe_gateway.idempotency_prefix()}-funding-{funding.pk}"


def test_a_retry_of_the_same_row_gets_the_first_result(stripe_on, organization):
    funding = FundingFactory(organization=organization, amount_cents=2_500)
    first = create_intent(funding)
    retried = create_intent(funding)
    assert retried.id == first.id
    assert retried.last_response.headers.get("Idempotent-Replayed") == "true"


def test_another_database_with_the_same_row_ids_gets_its_own_objects(stripe_on, organization):
    funding = FundingFactory(organization=organization, amount_cents=2_500)
    ours = create_intent(funding)
    our_prefix = stripe_gateway.idempotency_prefix()

    # Without a prefix, a second database's funding with the same id collides on Stripe: the
    # same key with other parameters is refused (or, with equal ones, answered with ours).
    client = stripe_gateway.client()
    raw_key = f"collision-demo-{our_prefix}"
    client.v1.payment_intents.create(
        params={"amount": 2_500, "currency": "usd", "payment_method_types": ["card"]},
        options={"idempotency_key": raw_key},
    )
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(
            params={"amount": 9_900, "currency": "usd", "payment_method_types": ["card"]},
            options={"idempotency_key": raw_key},
        )

    # Another installation: its own StripeInstallation row, the same funding id, another amount.
    StripeInstallation.objects.all().delete()
    theirs = create_intent(funding, amount_cents=9_900)
    assert stripe_gateway.idempotency_prefix() != our_prefix
    assert theirs.id != ours.id
    assert (theirs.amount, ours.amount) == (9_900, 2_500)
