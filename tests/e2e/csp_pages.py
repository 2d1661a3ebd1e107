"""Every HTML page, by role, for the Content-Security-Policy browser test (test_csp_e2e.py), and
what it needs in the database. Not a test module.

`PAGES` lists URL templates whose `{placeholders}` `setup()` fills from objects it makes in the
live server's database (run there with `manage.py shell`). tests/marketplace/test_csp_pages.py
resolves every route of the project and fails when one is neither here nor in `NOT_PAGES`, so a
new page cannot miss the browser test. Django admin pages are listed by `setup()` from the admin
registry (every model's list, and the change form of one row of each)."""

from __future__ import annotations

import json
import uuid

PAGES: dict[str, list[str]] = {
    "anonymous": [
        "/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/1-not-a-key/",
        "/accounts/password/reset/key/done/",
        "/accounts/confirm-email/",
        "/accounts/confirm-email/not-a-key/",
        "/accounts/inactive/",
        "/accounts/login/code/confirm/",
        "/accounts/2fa/authenticate/",
        "/accounts/3rdparty/login/cancelled/",
        "/accounts/3rdparty/login/error/",
        "/accounts/3rdparty/signup/",
        "/api/v1/docs",
        "/invitations/{invitation_token}/",
    ],
    "expert": [
        "/dashboard/",
        "/expert/",
        "/expert/offers/",
        "/expert/offers/list/",
        "/expert/assignments/",
        "/expert/profile/",
        "/expert/earnings/",
        "/expert/qualifications/",
        "/expert/earnings/statements/{month}/",
        "/expert/payouts/return/",
        "/expert/payouts/refresh/",
        "/workspace/{assignment}/",
        "/expert/disputes/{dispute}/",
        "/notifications/",
        "/accounts/2fa/",
        "/accounts/2fa/reauthenticate/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/password/set/",
        "/accounts/reauthenticate/",
        "/accounts/3rdparty/",
        "/accounts/logout/",  # GET shows the confirmation page; nothing logs out
    ],
    "company": [
        "/company/",
        "/company/requests/",
        "/company/requests/new/",
        "/company/requests/{request}/",
        "/company/experts/",
        "/company/experts/{expert_profile}/",
        "/company/billing/",
        "/company/billing/statements/{month}/",
        "/company/billing/receipt/?ref={hold_ref}",
        "/company/disputes/",
        "/company/disputes/new/{done_assignment}/",
        "/company/disputes/{dispute}/",
        "/company/api-keys/",
        "/company/webhooks/",
        "/company/webhooks/{webhook_event}/",
        "/company/team/",
        "/company/requests/{done_request}/evidence/",
        "/company/evidence/",
        "/company/golden/",
        "/company/oversight/",
        "/company/oversight/{policy}/",
        "/company/oversight/{policy}/simulate/",
        "/company/review-settings/",
        "/company/agreement/",
        "/company/datasets/",
        "/workspace/{assignment}/",
        "/notifications/",
    ],
    # The operator logs in, is sent to set up two-factor (/accounts/2fa/totp/activate/, loaded
    # and checked on the way), then sees these.
    "operator": [
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/recovery-codes/generate/",
        "/accounts/2fa/totp/deactivate/",
        "/console/",
        "/console/users/",
        "/console/users/{expert_user}/",
        "/console/organizations/",
        "/console/organizations/{organization}/",
        "/console/settings/",
        "/console/audit/",
        "/console/requests/",
        "/console/requests/{request}/",
        "/console/payouts/",
        "/console/money-actions/",
        "/console/disputes/",
        "/console/disputes/{dispute}/",
        "/console/credentials/",
        "/console/credentials/{credential}/",
        "/console/evidence/",
        "/console/golden/",
        "/workspace/{assignment}/",
        "/admin/",
    ],
}

# Pages where "still works" means more than loading: a selector the page's own script (or, for
# charts, the server) puts there. Checked after the page loaded without a violation.
WORKING: dict[str, str] = {
    "/workspace/{assignment}/": "body[data-ws-state=connected]",
    "/expert/profile/": ".avail-grid button[aria-pressed]",
    "/expert/earnings/": "figure.chart svg",
    "/console/": "figure.chart svg",
    "/company/webhooks/": "#verify-snippet.hljs",
    "/api/v1/docs": "#swagger-ui .info",
    "/company/requests/{request}/": "time[data-relative][title]",
    "/company/oversight/{policy}/": "figure.chart svg",
}

# Routes that are not HTML pages a person opens, and why.
NOT_PAGES: dict[str, str] = {
    "healthz": "JSON for load balancers",
    "stripe_webhook": "Stripe's POST endpoint",
    "account_confirm_login_code": "listed: /accounts/login/code/confirm/ (redirects without a code)",
    "mfa_activate_totp": "loaded by the operator's login flow before the list",
    "mfa_download_recovery_codes": "a text file",
    "credential_document": "a file download",
    "company_requests_export": "CSV / JSON export",
    "company_request_state": "JSON polled by the request page",
    "company_request_preview": "POST fragment for the new-request form's preview",
    "company_request_estimate": "JSON read by the new-request form's cost estimate",
    "billing_company_statement_csv": "CSV",
    "billing_expert_statement_csv": "CSV",
    "console_audit_export": "CSV",
    "company_request_evidence_download": "JSON / PDF download",
    "console_evidence_export": "JSON download",
    "billing_funding": "the card payment page: test_csp_e2e.py loads it with Stripe.js on",
}
POST_ONLY = {
    "team_member_role",
    "team_member_remove",
    "invitation_revoke",
    "api_key_revoke",
    "webhook_secret_rotate",
    "expert_specialization_remove",
    "expert_time_off_remove",
    "console_credential_verify",
    "console_credential_reject",
    "company_expert_block",
    "company_request_cancel",
    "company_webhook_event_resend",
    "expert_offer_accept",
    "expert_offer_decline",
    "billing_payouts_setup",
    "console_user_suspend",
    "console_user_reinstate",
    "console_request_reoffer",
    "console_request_cancel",
    "console_assignment_reassign",
    "console_payout_retry",
    "console_payout_fail",
    "console_payout_reverse",
    "console_money_action_approve",
    "console_money_action_reject",
    "console_dispute_approve",
    "console_dispute_reject",
    "console_golden_item_create",
    "console_qualification_test_set",
    "company_golden_create",
    "company_request_mark_golden",
    "expert_qualification_start",
    "console_standing_lift",
    "oversight_policy_default",
}
NOT_PAGES.update(dict.fromkeys(POST_ONLY, "POST-only action (its form is on a listed page)"))

# Values of the right shape for each placeholder, to resolve the templates without a database.
SAMPLES = {
    "invitation_token": "tok",
    "month": "2026-12",
    "assignment": str(uuid.UUID(int=1)),
    "done_assignment": str(uuid.UUID(int=2)),
    "dispute": str(uuid.UUID(int=3)),
    "request": str(uuid.UUID(int=4)),
    "done_request": str(uuid.UUID(int=7)),
    "expert_profile": str(uuid.UUID(int=5)),
    "organization": str(uuid.UUID(int=6)),
    "hold_ref": "assignment:1",
    "webhook_event": "evt_1",
    "expert_user": "1",
    "credential": "1",
    "policy": "support",
}


def setup(expert_email: str) -> None:
    """Run inside the live server's database (manage.py shell): make what the pages show and
    print the placeholders' values, with the admin pages, as one JSON object."""
    from django.apps import apps
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from evidence.services import evidence_anchor_daily, evidence_for_completion
    from experts.models import Credential, Specialization, SpecializationStanding
    from inloop_site.company_oversight.starters import starter_rules
    from marketplace import services
    from marketplace.models import Membership, User
    from oversight import services as policy_services
    from tests.console.dispute_support import open_dispute, submitted_assignment
    from tests.factories import AssignmentFactory, WebhookEventFactory

    expert = User.objects.get(email=expert_email)
    owner = Membership.objects.get(role=Membership.Role.OWNER).user
    organization = owner.memberships.get().organization
    active = AssignmentFactory(review_request__organization=organization, expert__user=expert)
    done = submitted_assignment(organization, expert)
    evidence_for_completion(review_request_id=done.review_request_id)
    evidence_anchor_daily()
    disputed = submitted_assignment(organization, expert)
    dispute = open_dispute(disputed, owner)
    _, token = services.invitation_create(
        organization=organization, inviter=owner, email="new.hire@acme.test", role="member"
    )
    event = WebhookEventFactory(
        id="evt_csp_pages",
        review_request=active.review_request,
        type="review_request.in_review",
        url="https://hooks.example.test/inloop",
        attempts=1,
        gave_up_at=timezone.now(),
    )
    # A pause in one specialization: the expert's qualifications page says why and how to get
    # offers again, the console's golden page offers to lift it.
    SpecializationStanding.objects.create(
        expert=expert.expert_profile,
        specialization=Specialization.objects.get(slug="medicine.radiology"),
        golden_correct=2,
        golden_total=10,
        suspended_at=timezone.now(),
        suspended_reason="Your accuracy on golden items in Radiology is 20% over 10 items.",
    )
    policy_services.policy_create(
        organization=organization,
        name="support",
        rules=starter_rules("in_command"),
        note="for the page tests",
        is_default=True,
        actor=owner,
    )
    values = {
        "invitation_token": token,
        "month": timezone.now().strftime("%Y-%m"),
        "assignment": str(active.pk),
        "done_assignment": str(done.pk),
        "done_request": str(done.review_request_id),
        "dispute": str(dispute.pk),
        "request": str(active.review_request_id),
        "expert_profile": str(expert.expert_profile.pk),
        "organization": str(organization.pk),
        "hold_ref": done.hold_ref,
        "webhook_event": event.pk,
        "expert_user": str(expert.pk),
        "credential": str(Credential.objects.order_by("pk").first().pk),
        "policy": "support",
    }
    admin_pages = []
    for model in apps.get_models():
        if not admin.site.is_registered(model):
            continue
        opts = model._meta
        admin_pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            try:
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            except NoReverseMatch:
                continue
            admin_pages.append(url)
    print(json.dumps({"values": values, "admin_pages": admin_pages}))
