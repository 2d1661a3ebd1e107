"""Every door, discovered: each URL pattern (Django's resolver, recursively), each operation of
the OpenAPI document and each websocket route is found here by itself and tried by every role
of the cast, against ONE table of who may pass. A route the table does not name fails.

GET is sent by everyone (a POST-only route answers 405 once its guard let the caller through);
unsafe methods are sent with a valid CSRF token, by a client that enforces CSRF, only by the
roles that must be refused, so nothing is changed by this test. URL parameters are real objects
owned by the expert and the company of the cast; the other expert and the other company's admin
must not get past them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from billing.models import MoneyAction, Payout
from evidence.services import evidence_for_completion
from experts.models import QualificationTest, SpecializationStanding
from inloop_site.asgi import application
from inloop_site.routing import websocket_urlpatterns
from marketplace import services
from marketplace.models import Membership, User
from oversight import services as policy_services
from tests.conftest import give_operator_mfa
from tests.console.dispute_support import ready_dispute, submitted_assignment
from tests.factories import (
    CredentialFactory,
    ExpertProfileFactory,
    ExpertSpecializationFactory,
    FundingFactory,
    MembershipFactory,
    OfferFactory,
    TimeOffFactory,
    UserFactory,
    WebhookEventFactory,
    completed_export,
    specialization,
)

ROLES = [
    "anonymous",
    "expert",
    "other_expert",
    "member",
    "company_admin",
    "other_company_admin",
    "operator_without_mfa",
    "operator",
]
MFA_SETUP = "/accounts/2fa/totp/activate/"
# The admin's routes are many and alike: one role of each kind tries them.
ADMIN_ROLES = ["anonymous", "expert", "member", "operator_without_mfa", "operator"]
CSRF = "a" * 32  # a well-formed token, sent as cookie and header alike

# Outcomes ---------------------------------------------------------------------------------
OK = "ok"  # 200 for a page, 405 for GET on a POST-only route (the guard let it through)
LOGIN = "login"  # 302 to /accounts/login/
MFA = "mfa"  # 302 to the TOTP setup
ADMIN_LOGIN = "admin_login"  # refused by the admin: to its login (then allauth, MFA), or 403
ADMIN_IN = "admin_in"  # past the admin's door (a model page may still need a permission)
DENIED = "denied"  # 403, or 404 where existence would leak
PAGE = "page"  # a library's own page (allauth): whatever it answers, but never a 5xx
UNAUTHORIZED = "401"
FORBIDDEN = "403"
GONE = "410"


@dataclass(frozen=True)
class Door:
    """Who passes: `audience` decides the outcome per role; `owned_by` says whose object the
    URL names ("expert" or "company"), so the other expert or company is refused."""

    audience: str
    post_only: bool = False
    owned_by: str | None = None
    company_admin_only: bool = False
    redirects: bool = False  # the page's answer to a caller let through is a redirect


def page(**kw):
    return Door("page", **kw)


def expert(**kw):
    return Door("expert", **kw)


def company(**kw):
    return Door("company", **kw)


def operator(**kw):
    return Door("operator", **kw)


PUBLIC = Door("public")
ANY_USER = Door("user")
COMPANY_API = Door("company_api")
EXPERT_API = Door("expert_api")
STAFF = Door("staff")

# THE table: every route by its URL name (namespaced), or its pattern when it has no name.
DOORS: dict[str, Door] = {
    "home": page(),
    "dashboard": Door("user_page"),
    "healthz": PUBLIC,
    "notifications": ANY_USER,
    "invitation_accept": Door("invitation"),
    "team": company(),
    "team_member_role": company(post_only=True, owned_by="company", company_admin_only=True),
    "team_member_remove": company(post_only=True, owned_by="company", company_admin_only=True),
    "invitation_revoke": company(post_only=True, owned_by="company", company_admin_only=True),
    "api_keys": company(),
    "api_key_revoke": company(post_only=True, owned_by="company", company_admin_only=True),
    "webhook_secret_rotate": company(post_only=True, company_admin_only=True),
    # oversight pages (members read and simulate; owners and admins change)
    "oversight_policies": company(),
    "oversight_policy": company(owned_by="company"),
    "oversight_policy_default": company(
        post_only=True, owned_by="company", company_admin_only=True
    ),
    "oversight_policy_simulate": company(owned_by="company"),
    # experts
    "expert_profile": expert(),
    "expert_specialization_remove": expert(post_only=True, owned_by="expert"),
    "expert_time_off_remove": expert(post_only=True, owned_by="expert"),
    "credential_document": Door("credential_document", owned_by="expert"),
    "console_credentials": operator(),
    "console_credential": operator(),
    "console_credential_verify": operator(post_only=True),
    "console_credential_reject": operator(post_only=True),
    "company_experts": company(),
    "company_expert": company(),
    "company_expert_block": company(post_only=True, company_admin_only=True),
    # review requests
    "company_disputes": company(),
    "company_dispute_new": company(owned_by="company"),
    "company_dispute": company(owned_by="company"),
    "expert_dispute": expert(owned_by="expert"),
    "company_dashboard": company(),
    "company_requests": company(),
    "company_request_new": company(),
    "company_request_preview": company(post_only=True),
    "company_request_estimate": company(),
    "company_requests_export": company(),
    "company_request_detail": company(owned_by="company"),
    "company_request_state": company(owned_by="company"),
    "company_request_cancel": company(post_only=True, owned_by="company"),
    "company_webhooks": company(),
    "company_webhook_event": company(owned_by="company"),
    "company_webhook_event_resend": company(
        post_only=True, owned_by="company", company_admin_only=True
    ),
    "expert_offers": expert(),
    "expert_offers_fragment": expert(),
    "expert_offer_accept": expert(post_only=True, owned_by="expert"),
    "expert_offer_decline": expert(post_only=True, owned_by="expert"),
    "workspace": Door("workspace"),
    "expert_dashboard": expert(),
    "expert_assignments": expert(),
    # datasets
    "datasets": company(),
    # billing
    "billing_company": company(),
    "billing_funding": company(owned_by="company"),
    "billing_company_statement": company(),
    "billing_company_statement_csv": company(),
    "billing_request_receipt": company(),
    "billing_expert_earnings": expert(),
    "billing_expert_statement": expert(),
    "billing_expert_statement_csv": expert(),
    "billing_payouts_setup": expert(post_only=True),
    "billing_payouts_return": expert(redirects=True),
    "billing_payouts_refresh": expert(redirects=True),
    "stripe_webhook": Door("stripe_webhook"),
    # console
    "console_home": operator(),
    "console_users": operator(),
    "console_user": operator(),
    "console_user_suspend": operator(post_only=True),
    "console_user_reinstate": operator(post_only=True),
    "console_organizations": operator(),
    "console_organization": operator(),
    "console_settings": operator(),
    "console_audit": operator(),
    "console_audit_export": operator(),
    "console_requests": operator(),
    "console_request": operator(),
    "console_request_reoffer": operator(post_only=True),
    "console_request_cancel": operator(post_only=True),
    "console_assignment_reassign": operator(post_only=True),
    "console_payouts": operator(),
    # GET shows the money action's confirmation page, or sends back to the list when the
    # action does not apply to the payout's state (the table's payout has failed).
    "console_payout_retry": operator(),
    "console_payout_fail": operator(redirects=True),
    "console_payout_reverse": operator(redirects=True),
    "console_money_actions": operator(),
    "console_money_action_approve": operator(post_only=True),
    "console_money_action_reject": operator(post_only=True),
    "console_disputes": operator(),
    "console_dispute": operator(),
    "console_dispute_approve": operator(post_only=True),
    "console_dispute_reject": operator(post_only=True),
    # the API (django-ninja); its own 401/403 rules (marketplace/api.py)
    "api:openapi-json": PUBLIC,
    "api:openapi-view": PUBLIC,
    "api:api-root": Door("api_root"),
    "api:specializations": PUBLIC,
    "api:review_request_create": COMPANY_API,
    "api:review_request_list": COMPANY_API,
    "api:review_request_batch": Door("company_api", post_only=True),
    "api:review_request_get": Door("company_api", owned_by="company"),
    "api:review_request_cancel": Door("company_api", owned_by="company", post_only=True),
    "api:my_offers": EXPERT_API,
    "api:offer_accept": Door("expert_api", post_only=True),
    "api:offer_decline": Door("expert_api", post_only=True),
    "api:get_balance": COMPANY_API,
    "api:review_request_evidence": Door("company_api", owned_by="company"),
    # oversight evidence (evidence app)
    "company_request_evidence": company(owned_by="company"),
    "company_request_evidence_download": company(owned_by="company"),
    "company_evidence": company(),
    "console_evidence": operator(),
    "console_evidence_export": operator(),
    # proven experts (issue #20)
    "console_golden": operator(),
    "console_golden_item_create": operator(post_only=True),
    "console_qualification_test_set": operator(post_only=True),
    "company_golden": company(),
    "company_golden_create": company(post_only=True, company_admin_only=True),
    "company_request_mark_golden": company(
        post_only=True, owned_by="company", company_admin_only=True
    ),
    "expert_qualifications": expert(),
    "expert_qualification_start": expert(post_only=True),
    "console_standing_lift": operator(post_only=True),
    # golden items API (docs/contract/golden.md). The mark is not owned_by here for the reason
    # given at api:oversight_policy_simulate; another tenant's 404 is in test_golden_api.py.
    "api:golden_item_list": COMPANY_API,
    "api:review_request_mark_golden": Door("company_api", post_only=True),
    # oversight policies (oversight app): any key of the organization; a name is per
    # organization, so another company's is a 404 (tests/oversight/test_policies_api.py).
    # independent reviews: the adjudication threshold (owners and admins change it)
    "company_review_settings": company(),
    "company_agreement": company(),
    "api:agreement_figures": COMPANY_API,
    "api:policy_list": COMPANY_API,
    "api:policy_create": COMPANY_API,
    "api:policy_get": Door("company_api", owned_by="company"),
    "api:policy_version_add": Door("company_api", owned_by="company"),
    "api:policy_set_default": Door("company_api", post_only=True),
    "api:settings_get": COMPANY_API,
    "api:settings_set": COMPANY_API,
    "api:oversight_policy_stats": Door("company_api", owned_by="company"),
    # Not owned_by here: this table's refused POSTs are multipart forms, and a session's CSRF
    # check reads such a body before ninja parses the JSON one (RawPostDataException, a 500 on
    # any JSON endpoint with a body). Another tenant's 404 is in test_oversight_api.py.
    "api:oversight_policy_simulate": Door("company_api", post_only=True),
    "api:export_create": COMPANY_API,
    "api:export_list": COMPANY_API,
    "api:export_get": Door("company_api", owned_by="company"),
    "api:export_download": Door("company_api", owned_by="company"),
}
# allauth's account pages and the Django admin: one rule each, by namespace or prefix.
ACCOUNT_PREFIXES = ("account_", "mfa_", "socialaccount_", "accounts/")

# Websocket routes, by pattern: the roles that get in (everyone else is refused at the
# handshake, 4401 when not logged in).
SOCKETS: dict[str, set[str]] = {
    "ws/notifications/": set(ROLES) - {"anonymous"},
    "ws/assignments/<uuid:assignment_id>/": {"expert", "member", "company_admin", "operator"},
    "ws/requests/<uuid:request_id>/": {"member", "company_admin", "operator"},
}


def expected(door: Door, role: str, method: str) -> str:
    """The one rule table, applied: what `role` gets from `door` with `method`."""
    ok = "405" if method == "GET" and door.post_only else "302" if door.redirects else OK
    audience = door.audience
    if audience == "public":
        return OK
    if audience == "page":
        return PAGE
    if audience in ("user", "user_page"):
        return LOGIN if role == "anonymous" else (ok if audience == "user" else PAGE)
    if audience == "company_api":
        if role == "other_company_admin" and door.owned_by == "company":
            return DENIED
        return ok if role in ("member", "company_admin", "other_company_admin") else UNAUTHORIZED
    if audience == "expert_api":
        if role == "anonymous":
            return UNAUTHORIZED
        return ok if role in ("expert", "other_expert") else FORBIDDEN
    if audience == "api_root":
        return "404"
    if audience == "staff":
        return ADMIN_IN if role == "operator" else ADMIN_LOGIN
    if audience == "stripe_webhook":
        return "405" if method == "GET" else "400"
    if audience == "invitation":
        return PAGE
    if role == "anonymous":
        return LOGIN
    if audience == "operator":
        if role == "operator_without_mfa":
            return MFA
        return ok if role == "operator" else DENIED
    if audience == "expert":
        if role not in ("expert", "other_expert"):
            return DENIED
        return DENIED if role == "other_expert" and door.owned_by == "expert" else ok
    if audience == "company":
        if role not in ("member", "company_admin", "other_company_admin"):
            return DENIED
        if role == "other_company_admin" and door.owned_by == "company":
            return DENIED
        return DENIED if role == "member" and door.company_admin_only else ok
    if audience == "credential_document":
        return ok if role in ("expert", "operator") else DENIED
    if audience == "workspace":
        return ok if role in ("expert", "member", "company_admin", "operator") else DENIED
    raise AssertionError(f"no rule for audience {audience}")


def outcome_matches(outcome: str, response, *, or_405: bool = False) -> bool:
    status = response.status_code
    if or_405 and status == 405:
        return True
    location = response.get("Location", "")
    return {
        OK: status == 200,
        PAGE: status < 500,
        LOGIN: status == 302 and location.startswith("/accounts/login/"),
        MFA: status == 302 and location.startswith(MFA_SETUP),
        ADMIN_LOGIN: status == 403
        or (status == 302 and location.startswith(("/admin/", "/accounts/login/", MFA_SETUP))),
        ADMIN_IN: status in (200, 403, 404, 405)
        or (status == 302 and not location.startswith(("/admin/login/", "/accounts/login/"))),
        DENIED: status in (403, 404),
    }.get(outcome, str(status) == outcome)


# Discovery --------------------------------------------------------------------------------


def every_route(resolver=None, prefix: str = "", namespace: str = ""):
    """(full pattern, namespaced name, pattern) for each URL pattern, recursively."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from every_route(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield prefix + str(entry.pattern), name, entry


def door_for(name: str | None, pattern: str) -> Door | None:
    if name in DOORS:
        return DOORS[name]
    if (name and name.startswith("admin:")) or pattern.startswith("admin/"):
        return STAFF
    if (name or "").startswith(ACCOUNT_PREFIXES) or pattern.startswith("accounts/"):
        return page()
    return None


# The world --------------------------------------------------------------------------------


@pytest.fixture
def world(db):
    """The cast and one real object of each kind a URL can name, owned by `expert` and by
    the company `company_admin` owns (the other company and the other expert own nothing)."""
    cast = {
        "expert": UserFactory(
            email="erin@doors.test", account_type=User.AccountType.EXPERT, first_name="Erin"
        ),
        "other_expert": UserFactory(
            email="eli@doors.test", account_type=User.AccountType.EXPERT, first_name="Eli"
        ),
        "company_admin": UserFactory(
            email="carla@doors.test", account_type=User.AccountType.COMPANY
        ),
        "member": UserFactory(email="mark@doors.test", account_type=User.AccountType.COMPANY),
        "other_company_admin": UserFactory(
            email="gina@doors.test", account_type=User.AccountType.COMPANY
        ),
        "operator": UserFactory(
            email="olivia@doors.test", account_type=User.AccountType.OPERATOR, is_staff=True
        ),
        "operator_without_mfa": UserFactory(
            email="oscar@doors.test",
            account_type=User.AccountType.OPERATOR,
            is_staff=True,
        ),
    }
    give_operator_mfa(cast["operator"])
    organization = services.organization_create(owner=cast["company_admin"], name="Acme")
    services.organization_create(owner=cast["other_company_admin"], name="Globex")
    MembershipFactory(organization=organization, user=cast["member"])
    # The team routes name a colleague: a member may remove itself (leave), not others.
    colleague = MembershipFactory(
        organization=organization,
        user=UserFactory(email="mia@doors.test", account_type=User.AccountType.COMPANY),
    )
    ExpertProfileFactory(user=cast["other_expert"])
    assignment = submitted_assignment(organization, cast["expert"])
    evidence_for_completion(review_request_id=assignment.review_request_id)
    dispute = ready_dispute(assignment, cast["company_admin"], cast["expert"])
    undisputed = submitted_assignment(organization, cast["expert"])
    profile = ExpertProfileFactory(user=cast["expert"])
    offer = OfferFactory(review_request__organization=organization, expert=profile)
    invitation, token = services.invitation_create(
        organization=organization,
        inviter=cast["company_admin"],
        email="new@doors.test",
        role=Membership.Role.MEMBER,
    )
    key, _ = services.api_key_create(
        organization=organization, name="pipeline", actor=cast["company_admin"]
    )
    credential = CredentialFactory(
        expert=profile,
        document=ContentFile(b"%PDF-1.4 license", name="license.pdf"),
        document_content_type="application/pdf",
    )
    event = WebhookEventFactory(
        id="evt_doors",
        review_request=assignment.review_request,
        url="https://example.com/hook",
    )
    month = date.today().strftime("%Y-%m")
    policy_services.policy_create(
        organization=organization,
        name="support",
        rules=[{"name": "all", "when": {}, "outcome": "review"}],
        actor=cast["company_admin"],
    )
    export = completed_export(organization=organization)
    # A credit grant waiting for a second operator (what approve and reject act on).
    money_action = MoneyAction.objects.create(
        kind=MoneyAction.Kind.CREDIT_GRANT,
        status=MoneyAction.Status.AWAITING_APPROVAL,
        amount_cents=500_000,
        organization=organization,
        summary="Grant $5,000.00 of credit",
        reason="doors",
        threshold_cents=100_000,
        proposed_by=cast["operator"],
        request_token=uuid.uuid4(),
    )
    kwargs = {
        "invitation_accept": {"token": token},
        "team_member_role": {"pk": colleague.pk},
        "team_member_remove": {"pk": colleague.pk},
        "invitation_revoke": {"pk": invitation.pk},
        "api_key_revoke": {"pk": key.pk},
        "expert_specialization_remove": {
            "pk": ExpertSpecializationFactory(expert=profile, years=3).pk
        },
        "expert_time_off_remove": {"pk": TimeOffFactory(expert=profile).pk},
        "credential_document": {"pk": credential.pk},
        "console_credential": {"pk": credential.pk},
        "console_credential_verify": {"pk": credential.pk},
        "console_credential_reject": {"pk": credential.pk},
        "company_expert": {"pk": profile.pk},
        "company_expert_block": {"pk": profile.pk},
        "company_dispute_new": {"assignment_pk": undisputed.pk},
        "company_dispute": {"pk": dispute.pk},
        "expert_dispute": {"pk": dispute.pk},
        "company_requests_export": {"fmt": "csv"},
        "company_request_detail": {"pk": assignment.review_request_id},
        "company_request_state": {"pk": assignment.review_request_id},
        "company_request_cancel": {"pk": assignment.review_request_id},
        "company_webhook_event": {"event_id": event.pk},
        "company_webhook_event_resend": {"event_id": event.pk},
        "expert_offer_accept": {"pk": offer.pk},
        "expert_offer_decline": {"pk": offer.pk},
        "workspace": {"pk": assignment.pk},
        "billing_funding": {"pk": FundingFactory(organization=organization, amount_cents=5000).pk},
        "billing_company_statement": {"month": month},
        "billing_company_statement_csv": {"month": month},
        "billing_expert_statement": {"month": month},
        "billing_expert_statement_csv": {"month": month},
        "console_user": {"pk": cast["expert"].pk},
        "console_user_suspend": {"pk": cast["expert"].pk},
        "console_user_reinstate": {"pk": cast["expert"].pk},
        "console_organization": {"pk": organization.pk},
        "console_request": {"pk": assignment.review_request_id},
        "console_request_reoffer": {"pk": assignment.review_request_id},
        "console_request_cancel": {"pk": assignment.review_request_id},
        "console_assignment_reassign": {"pk": assignment.pk},
        "console_payout_retry": {"pk": _payout(cast["expert"]).pk},
        "console_payout_fail": {"pk": Payout.objects.get(user=cast["expert"]).pk},
        "console_payout_reverse": {"pk": Payout.objects.get(user=cast["expert"]).pk},
        "console_money_action_approve": {"pk": money_action.pk},
        "console_money_action_reject": {"pk": money_action.pk},
        "console_dispute": {"pk": dispute.pk},
        "console_dispute_approve": {"pk": dispute.pk},
        "console_dispute_reject": {"pk": dispute.pk},
        "api:review_request_get": {"review_request_id": assignment.review_request_id},
        "api:review_request_evidence": {"review_request_id": assignment.review_request_id},
        "company_request_evidence": {"pk": assignment.review_request_id},
        "company_request_evidence_download": {"pk": assignment.review_request_id, "fmt": "json"},
        "api:review_request_cancel": {"review_request_id": assignment.review_request_id},
        "oversight_policy": {"name": "support"},
        "oversight_policy_default": {"name": "support"},
        "oversight_policy_simulate": {"name": "support"},
        "api:oversight_policy_stats": {"name": "support"},
        "api:policy_get": {"name": "support"},
        "api:policy_version_add": {"name": "support"},
        "api:policy_set_default": {"name": "support"},
        "api:oversight_policy_simulate": {"name": "support"},
        "api:offer_accept": {"offer_id": offer.pk},
        "api:offer_decline": {"offer_id": offer.pk},
        "company_request_mark_golden": {"pk": assignment.review_request_id},
        "expert_qualification_start": {
            "pk": QualificationTest.objects.create(specialization=specialization()).pk
        },
        "console_standing_lift": {
            "pk": SpecializationStanding.objects.create(
                expert=profile,
                specialization=specialization(),
                suspended_at=timezone.now(),
                suspended_reason="doors",
            ).pk
        },
        "api:review_request_mark_golden": {"review_request_id": assignment.review_request_id},
        "api:export_get": {"export_id": export.pk},
        "api:export_download": {"export_id": export.pk},
    }
    return {
        "cast": cast,
        "kwargs": kwargs,
        "assignment": assignment,
        "request": assignment.review_request,
    }


def _payout(user):
    return Payout.objects.create(user=user, amount_cents=100, status=Payout.Status.FAILED)


def _client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    client.cookies["csrftoken"] = CSRF
    return client


def _url(name: str | None, pattern: str, entry: URLPattern, kwargs: dict) -> str | None:
    """The route's URL with real objects; admin and allauth routes with parameters get
    placeholder values (their guards run before any lookup)."""
    if name and name in kwargs:
        return reverse(name, kwargs=kwargs[name])
    if not entry.pattern.regex.groupindex:
        return "/" + pattern.replace("^", "").replace("$", "").replace("\\", "")
    path = pattern.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: PLACEHOLDERS.get(m.group(1), "x"), path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PLACEHOLDERS.get(m.group(1), "x"), path)
    return "/" + path.replace("\\", "")


# Parameters of routes whose guard runs before any lookup (the admin's, allauth's).
PLACEHOLDERS = {"object_id": "0", "app_label": "marketplace", "content_type_id": "1"}


def test_every_url_pattern_and_openapi_operation_answers_each_role_as_the_table_says(world):
    clients = {role: _client(world["cast"].get(role)) for role in ROLES}
    wrong, unnamed, unfilled = {}, [], []
    for pattern, name, entry in every_route():
        door = door_for(name, pattern)
        if door is None:
            unnamed.append(name or pattern)
            continue
        url = _url(name, pattern, entry, world["kwargs"])
        if url is None:
            unfilled.append(name or pattern)
            continue
        for role in ADMIN_ROLES if door is STAFF else ROLES:
            client = clients[role]
            want = expected(door, role, "GET")
            response = client.get(url)
            # A POST-only route may refuse the method before it checks the caller.
            if not outcome_matches(want, response, or_405=door.post_only):
                wrong[(url, role, "GET")] = (want, response.status_code, response.get("Location"))
            if door.audience in ("staff", "page", "public", "invitation") or name == "healthz":
                continue
            want_post = expected(door, role, "POST")
            if want_post in (OK, PAGE):
                continue  # an allowed write would change the world; the refusals are tried
            response = client.post(url, {}, HTTP_X_CSRFTOKEN=CSRF)
            # A page that takes no POST refuses the method, whoever asks: also a refusal.
            if not outcome_matches(want_post, response, or_405=not door.post_only):
                wrong[(url, role, "POST")] = (
                    want_post,
                    response.status_code,
                    response.get("Location"),
                )
    assert unnamed == [], "routes the table does not name"
    assert unfilled == [], "routes whose parameters the test cannot fill"
    report = "\n".join(
        f"{method} {url} as {role}: wanted {want}, got {status} {location or ''}"
        for (url, role, method), (want, status, location) in sorted(wrong.items())
    )
    assert wrong == {}, report


def test_every_openapi_operation_is_a_route_of_the_table(db):
    """The document lists what ninja serves: each of its paths resolves to a route of the
    table, and each operation is one of the table's API entries (by its operation id)."""
    document = Client().get("/api/v1/openapi.json").json()
    api_names = [name.split(":", 1)[1] for name in DOORS if name.startswith("api:")]
    missing = []
    for path, item in document["paths"].items():
        sample = re.sub(r"\{[^}]+\}", "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f", path)
        if resolve(sample).view_name not in DOORS:
            missing.append(path)
        for method, operation in item.items():
            if not any(operation["operationId"].endswith(name) for name in api_names):
                missing.append(f"{method.upper()} {path} ({operation['operationId']})")
    assert missing == []


@pytest.mark.django_db(transaction=True)
def test_every_websocket_route_admits_only_the_roles_the_table_names(world):
    routes = {str(entry.pattern) for entry in websocket_urlpatterns}
    assert routes == set(SOCKETS), "websocket routes the table does not name, or gone"
    paths = {
        "ws/notifications/": "/ws/notifications/",
        "ws/assignments/<uuid:assignment_id>/": f"/ws/assignments/{world['assignment'].pk}/",
        "ws/requests/<uuid:request_id>/": f"/ws/requests/{world['request'].pk}/",
    }
    wrong = {}
    for route, admitted in SOCKETS.items():
        for role in ROLES:
            headers = [(b"origin", b"http://testserver")]
            user = world["cast"].get(role)
            if user is not None:
                client = Client()
                client.force_login(user)
                headers.append(
                    (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
                )

            async def attempt(path=paths[route], headers=headers):
                communicator = WebsocketCommunicator(application, path, headers=headers)
                connected, code = await communicator.connect(timeout=5)
                await communicator.disconnect()
                return connected, code

            connected, code = async_to_sync(attempt)()
            want = role in admitted
            want_code = None if want else (4401 if role == "anonymous" else 4403)
            if connected != want or (not want and code != want_code):
                wrong[(route, role)] = (want, connected, code)
    assert wrong == {}
