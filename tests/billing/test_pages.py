"""Billing pages: who may see what, the no-Stripe-keys behaviour, card funding, Connect
onboarding, statements and receipts."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from billing import ledger, services
from billing.models import ConnectedAccount, Funding, LedgerAccount
from tests.conftest import give_operator_mfa, login_client
from tests.factories import CreditGrantFactory, EarningFactory, FundingFactory

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db
MONTH = timezone.now().strftime("%Y-%m")

COMPANY_PAGES = [
    "/company/billing/",
    f"/company/billing/statements/{MONTH}/",
    f"/company/billing/statements/{MONTH}.csv",
    "/company/billing/receipt/?ref=x",
]
EXPERT_PAGES = [
    "/expert/earnings/",
    f"/expert/earnings/statements/{MONTH}/",
    f"/expert/earnings/statements/{MONTH}.csv",
    "/expert/payouts/return/",
    "/expert/payouts/refresh/",
]


@pytest.fixture
def no_stripe(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PUBLISHABLE_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


@pytest.mark.parametrize("url", COMPANY_PAGES + EXPERT_PAGES)
def test_anonymous_is_sent_to_login(no_stripe, url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", COMPANY_PAGES)
@pytest.mark.parametrize("who", ["expert", "operator"])
def test_company_pages_refuse_other_roles(no_stripe, request, url, who):
    user = request.getfixturevalue(who)
    if who == "operator":
        give_operator_mfa(user)
    assert login_client(user).get(url).status_code == 403


@pytest.mark.parametrize("url", EXPERT_PAGES)
@pytest.mark.parametrize("who", ["company_member", "operator"])
def test_expert_pages_refuse_other_roles(no_stripe, request, url, who):
    user = request.getfixturevalue(who)
    if who == "operator":
        give_operator_mfa(user)
    assert login_client(user).get(url).status_code == 403


@pytest.mark.parametrize("url", COMPANY_PAGES)
@pytest.mark.parametrize("who", ["company_member", "plain_member"])
def test_company_members_see_company_pages(no_stripe, request, url, who):
    assert login_client(request.getfixturevalue(who)).get(url).status_code == 200


@pytest.mark.parametrize("url", EXPERT_PAGES[:3])
def test_expert_sees_expert_pages(no_stripe, expert, url):
    assert login_client(expert).get(url).status_code == 200


def test_setup_and_webhook_refuse_get_and_setup_refuses_companies(
    no_stripe, expert, company_member
):
    assert login_client(expert).get("/expert/payouts/setup/").status_code == 405
    assert login_client(company_member).post("/expert/payouts/setup/").status_code == 403


def test_bad_month_is_404(no_stripe, company_member, expert):
    assert (
        login_client(company_member).get("/company/billing/statements/2026-13/").status_code == 404
    )
    assert login_client(expert).get("/expert/earnings/statements/26-01/").status_code == 404


def test_without_stripe_keys_billing_says_so_and_never_loads_stripe_js(
    no_stripe, company_member, organization
):
    CreditGrantFactory(organization=organization, amount_cents=12_345)
    client = login_client(company_member)
    page = client.get("/company/billing/").content.decode()
    assert "Card funding is not configured on this server — ask an operator for credit" in page
    assert "js.stripe.com" not in page
    assert "$123.45" in page
    response = client.post("/company/billing/", {"amount": "50"})
    assert response.status_code == 302
    assert not Funding.objects.exists()


def test_without_stripe_keys_earnings_say_stripe_not_configured(no_stripe, expert):
    client = login_client(expert)
    page = client.get("/expert/earnings/").content.decode()
    assert "Stripe not configured" in page
    assert "Set up payouts" not in page
    client.post("/expert/payouts/setup/")
    assert not ConnectedAccount.objects.exists()


def test_add_funds_creates_a_payment_intent_and_renders_the_payment_element(
    stripe_on, company_member, organization
):
    client = login_client(company_member)
    response = client.post("/company/billing/", {"amount": "25.50"})
    funding = Funding.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/company/billing/funding/{funding.pk}/"
    )
    assert funding.amount_cents == 2550 and funding.stripe_payment_intent_id.startswith("pi_")
    assert funding.status == Funding.Status.PROCESSING
    page = client.get(response["Location"]).content.decode()
    assert "https://js.stripe.com/v3/" in page and "js/funding.js" in page
    assert funding.client_secret in page
    # Creating the intent credits nothing: only the verified webhook does.
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0
    assert stripe_on.calls()["POST /v1/payment_intents"] == 1


def test_back_from_stripe_the_page_waits_for_the_webhook_then_shows_the_credit(
    stripe_on, company_member, organization
):
    client = login_client(company_member)
    funding = services.funding_start(
        organization=organization, amount_cents=2_000, actor=company_member
    )
    url = f"/company/billing/funding/{funding.pk}/"
    returned = client.get(url + f"?payment_intent={funding.stripe_payment_intent_id}"
                          "&redirect_status=succeeded").content.decode()  # fmt: skip
    assert 'id="awaiting-confirmation"' in returned
    assert '<meta http-equiv="refresh"' in returned
    assert "js.stripe.com" not in returned  # no second payment form while we wait
    assert 'id="awaiting-confirmation"' not in client.get(url).content.decode()
    Funding.objects.filter(pk=funding.pk).update(status=Funding.Status.SUCCEEDED)
    paid = client.get(url + "?redirect_status=succeeded").content.decode()
    assert "was added to your available balance" in paid and "http-equiv" not in paid


def test_add_funds_below_ten_dollars_is_refused_next_to_the_field(stripe_on, company_member):
    response = login_client(company_member).post("/company/billing/", {"amount": "9.99"})
    assert response.status_code == 200
    assert "The minimum top-up is $10.00." in response.content.decode()
    assert not Funding.objects.exists()
    assert stripe_on.calls().get("POST /v1/payment_intents", 0) == 0


def test_another_companys_funding_is_404(
    stripe_on, company_member, other_company_member, organization
):
    funding = services.funding_start(
        organization=organization, amount_cents=1000, actor=company_member
    )
    assert (
        login_client(other_company_member)
        .get(f"/company/billing/funding/{funding.pk}/")
        .status_code
        == 404
    )
    assert (
        login_client(company_member).get(f"/company/billing/funding/{funding.pk}/").status_code
        == 200
    )


def test_reconcile_gives_a_crashed_funding_its_one_payment_intent(stripe_on, organization):
    from django.core.management import call_command

    funding = FundingFactory(organization=organization, amount_cents=1000)
    call_command("stripe_reconcile", "--older-than-seconds", "0")
    call_command("stripe_reconcile", "--older-than-seconds", "0")
    funding.refresh_from_db()
    assert funding.stripe_payment_intent_id.startswith("pi_")
    listed = stripe_on.client().v1.payment_intents.list().data
    assert (
        len([pi for pi in listed if pi.to_dict()["metadata"].get("funding_id") == str(funding.pk)])
        == 1
    )


def test_set_up_payouts_onboards_through_stripe_and_return_page_rereads(stripe_on, expert):
    client = login_client(expert)
    assert "Set up payouts" in client.get("/expert/earnings/").content.decode()
    response = client.post("/expert/payouts/setup/")
    connected = ConnectedAccount.objects.get(user=expert)
    assert response.status_code == 302 and "/_test/onboarding/" in response["Location"]
    assert not connected.payouts_enabled
    # A second click reuses the account (same idempotency key) and makes no new one.
    client.post("/expert/payouts/setup/")
    assert stripe_on.calls()["POST /v1/accounts"] == 1
    stripe_on.enable_payouts(connected.stripe_account_id)  # what finishing onboarding does
    response = client.get("/expert/payouts/return/")
    assert response.status_code == 302
    connected.refresh_from_db()
    assert connected.payouts_enabled and connected.details_submitted
    assert "Payouts enabled" in client.get("/expert/earnings/").content.decode()


def test_refresh_page_makes_a_new_link_while_onboarding_is_unfinished(stripe_on, expert):
    client = login_client(expert)
    client.post("/expert/payouts/setup/")
    response = client.get("/expert/payouts/refresh/")
    assert response.status_code == 302 and "/_test/onboarding/" in response["Location"]


def test_company_statement_page_and_csv_agree_with_the_ledger(
    no_stripe, company_member, organization, expert
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert)  # 7200 charged
    client = login_client(company_member)
    page = client.get(f"/company/billing/statements/{MONTH}/").content.decode()
    assert "$428.00" in page  # closing available
    response = client.get(f"/company/billing/statements/{MONTH}.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["kind"] == "opening_balance" and rows[-1]["kind"] == "closing_balance"
    assert rows[-1]["available_usd"] == "428.00"
    kinds = [row["kind"] for row in rows[1:-1]]
    assert kinds == ["credit_granted", "hold", "capture"]


def test_receipt_shows_captured_fee_and_released_and_hides_other_tenants(
    no_stripe, company_member, other_company_member, organization, expert
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert, billed_seconds=1800)
    url = f"/company/billing/receipt/?ref={earning.ref}"
    page = login_client(company_member).get(url).content.decode()
    assert "$36.00" in page and "$6.00" in page and "$108.00" in page
    other = login_client(other_company_member).get(url).content.decode()
    assert earning.ref not in other and "Nothing charged" in other


def test_expert_earnings_page_shows_balances_chart_and_table(
    no_stripe, expert, organization, django_assert_max_num_queries
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert)
    client = login_client(expert)
    with django_assert_max_num_queries(14):
        page = client.get("/expert/earnings/").content.decode()
    assert "<svg" in page and 'role="img"' in page
    assert page.count("$60.00") >= 2  # pending balance, the week's bar/table
    assert "Next payout" in page


def test_expert_statement_csv_lists_earnings(no_stripe, expert, organization):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert)
    response = login_client(expert).get(f"/expert/earnings/statements/{MONTH}.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["kind"], row["amount_usd"]) for row in rows] == [("earning", "60.00")]


def test_balance_api_reports_available_and_held(no_stripe, organization, api_key):
    CreditGrantFactory(organization=organization, amount_cents=10_000)
    from django.db import transaction

    with transaction.atomic():
        services.hold_place(organization=organization, ref=f"a:{uuid.uuid4()}", amount_cents=2500)
    response = Client().get("/api/v1/balance", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.json() == {"available_cents": 7500, "held_cents": 2500, "currency": "usd"}
