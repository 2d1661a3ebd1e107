"""Submitting one request by hand (same rules as the API), the sanitized markdown preview, and
untrusted content (AI output, prompt, guidelines, metadata, result) escaped on every page."""

from __future__ import annotations

import json
import re

import pytest

from review_requests.models import ReviewRequest
from tests.conftest import login_client
from tests.factories import ReviewRequestFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _form(**overrides) -> dict:
    data = {
        "title": "Check this contract clause",
        "specialization": "medicine.radiology",
        "content_type": "text",
        "body": "The clause is enforceable.",
        "max_hours": "1.5",
        "reviewers": "1",
        "rubric-TOTAL_FORMS": "3",
        "rubric-INITIAL_FORMS": "0",
        "rubric-MIN_NUM_FORMS": "0",
        "rubric-MAX_NUM_FORMS": "50",
    }
    data.update(overrides)
    return data


def test_the_form_groups_specializations_by_field(company_member):
    page = login_client(company_member).get("/company/requests/new/").content.decode()
    assert '<optgroup label="Medicine">' in page
    assert '<option value="medicine.radiology">Radiology</option>' in page
    assert 'name="rubric-TOTAL_FORMS"' in page
    assert "/static/js/request_form.js" in page


def test_a_valid_request_is_created_through_the_service(
    company_member, organization, django_capture_on_commit_callbacks
):
    client = login_client(company_member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/company/requests/new/",
            _form(
                content_type="code",
                body="def f():\n    return 1\n",
                language="python",
                prompt="Write f",
                model="gpt-x",
                guidelines="Check **types**",
                max_hourly_rate="90.50",
                reviewers="2",
                metadata='{"batch": "b7"}',
                **{"rubric-0-key": "accuracy", "rubric-0-label": "Accuracy", "rubric-0-scale": "5"},
            ),
        )
    rr = ReviewRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/company/requests/{rr.pk}/"
    assert rr.organization == organization and rr.created_by_user == company_member
    assert rr.content == {"type": "code", "body": "def f():\n    return 1\n", "language": "python"}
    assert rr.max_hourly_rate_cents == 9050
    assert rr.reviewers == 2 and str(rr.max_hours) == "1.50"
    assert rr.rubric == [{"key": "accuracy", "label": "Accuracy", "scale": 5}]
    assert rr.metadata == {"batch": "b7"} and rr.model_name == "gpt-x"
    assert rr.history.filter(to_status="queued").exists()


def test_chat_transcripts_become_messages(company_member):
    client = login_client(company_member)
    client.post(
        "/company/requests/new/",
        _form(content_type="chat", body="user: Hi\nassistant: Hello,\nhow can I help?"),
    )
    assert ReviewRequest.objects.get().content["body"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello,\nhow can I help?"},
    ]


def test_a_deadline_is_read_in_the_viewers_time_zone(company_member):
    client = login_client(company_member)
    client.post(
        "/company/requests/new/",
        _form(deadline="2099-01-01T12:00", timezone="Europe/Berlin"),
    )
    deadline = ReviewRequest.objects.get().deadline
    assert deadline.isoformat() == "2099-01-01T11:00:00+00:00"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"content_type": "json", "body": "{not json"}, "body", "Not valid JSON"),
        ({"metadata": "[1, 2]"}, "metadata", "Must be a JSON object"),
        ({"callback_url": "http://example.com/hook"}, "callback_url", "https://"),
        ({"max_hours": "99"}, "max_hours", "less than or equal to 40"),
        ({"deadline": "2001-01-01T10:00"}, "deadline", "must be in the future"),
        ({"content_type": "chat", "body": "hello there"}, "body", "Start each message"),
        ({"specialization": "nope.nothing"}, "specialization", "Select a valid choice"),
    ],
)
def test_bad_input_shows_the_error_next_to_the_field_and_keeps_what_was_typed(
    company_member, overrides, field, message
):
    response = login_client(company_member).post("/company/requests/new/", _form(**overrides))
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert message in " ".join(form.errors[field])
    assert 'value="Check this contract clause"' in response.content.decode()
    assert not ReviewRequest.objects.exists()


def test_duplicate_rubric_keys_are_refused(company_member):
    response = login_client(company_member).post(
        "/company/requests/new/",
        _form(
            **{
                "rubric-0-key": "accuracy",
                "rubric-0-label": "A",
                "rubric-1-key": "accuracy",
                "rubric-1-label": "B",
            }
        ),
    )
    assert "appears twice" in response.content.decode()
    assert not ReviewRequest.objects.exists()


def test_preview_renders_markdown_and_strips_html(company_member):
    response = login_client(company_member).post(
        "/company/requests/preview/",
        {"text": f"# Title\n\n**bold** {XSS} [x](javascript:alert(1))"},
    )
    html = response.json()["html"]
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html


def test_preview_refuses_huge_input(company_member):
    response = login_client(company_member).post(
        "/company/requests/preview/", {"text": "x" * 200_001}
    )
    assert response.status_code == 413


def test_preview_is_for_company_members_only(expert):
    assert login_client(expert).post("/company/requests/preview/", {"text": "x"}).status_code == 403


# Untrusted content is escaped everywhere ----------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        {"type": "text", "body": XSS},
        {"type": "markdown", "body": XSS},
        {"type": "code", "body": XSS, "language": '"><script>alert(2)</script>'},
        {"type": "json", "body": {"k": XSS}},
        {"type": "chat", "body": [{"role": XSS, "content": XSS}]},
    ],
)
def test_xss_in_every_untrusted_field_is_escaped(company_member, organization, content):
    rr = ReviewRequestFactory(
        organization=organization,
        title=XSS,
        content_type=content["type"],
        content=content,
        prompt=XSS,
        model_name=XSS,
        guidelines=XSS,
        rubric=[{"key": "k", "label": XSS, "scale": 5}],
        metadata={"note": XSS, XSS: 1},
        status="completed",
        result={
            "verdict": "corrected",
            "corrected_output": XSS,
            "summary": XSS,
            "scores": {XSS: 3},
            "annotations": [
                {"start": 0, "end": 5, "quote": XSS, "comment": XSS, "severity": "major"}
            ],
            "reviews": [],
            "agreement": None,
        },
    )
    client = login_client(company_member)
    for url in (f"/company/requests/{rr.pk}/", "/company/requests/", "/company/"):
        page = client.get(url).content.decode()
        assert "<script>alert" not in page, url
        assert "onerror=alert" not in page or "&lt;img src=x onerror=alert(1)&gt;" in page, url
        assert "<img src=x" not in page, url
    detail = client.get(f"/company/requests/{rr.pk}/").content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in detail
    # The diff reads the escaped text the page shows (no data islands): the corrected output and
    # the AI output are in the page as escaped text.
    assert "data-corrected>\n&lt;script&gt;alert(&quot;x&quot;)" in detail


def test_xss_in_a_webhook_response_excerpt_is_escaped(company_member, organization):
    from review_requests.models import WebhookAttempt

    rr = ReviewRequestFactory(organization=organization)
    event = WebhookEventFactory(
        id="evt_xss",
        review_request=rr,
        url="https://93.184.216.34/h",
        body=json.dumps({"title": XSS}),
    )
    WebhookAttempt.objects.create(event=event, number=1, status_code=500, response_excerpt=XSS)
    page = login_client(company_member).get(f"/company/webhooks/{event.pk}/").content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page


# Oversight, independent reviews and a second submit of the same form (issue #18) -----------------

SURE = [{"name": "sure", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"}]


def _oversight(organization, rules, name: str = "triage", is_default: bool = True):
    from tests.factories import PolicyFactory

    return PolicyFactory(organization=organization, name=name, rules=rules, is_default=is_default)


def test_the_form_offers_the_organizations_policies_with_the_default_chosen(
    company_member, organization, other_organization
):
    _oversight(organization, SURE)
    _oversight(organization, SURE, name="strict", is_default=False)
    _oversight(other_organization, SURE, name="theirs")
    page = login_client(company_member).get("/company/requests/new/").content.decode()
    assert '<option value="triage" selected>triage (default)</option>' in page
    assert '<option value="strict">strict</option>' in page
    assert '<option value="">None: a person reviews it</option>' in page
    assert "theirs" not in page
    assert 'href="/company/oversight/">Oversight policies</a>' in page
    assert 'name="confidence"' in page and 'id="estimate-policy-note"' in page
    blind = re.search(r'<input type="checkbox" name="blind"[^>]*>', page).group(0)
    four_eyes = re.search(r'<input type="checkbox" name="four_eyes"[^>]*>', page).group(0)
    assert " checked" in blind and " checked" not in four_eyes  # blind by default
    assert re.search(r'name="submission" value="[0-9a-f]{32}"', page)


def test_without_policies_the_select_says_none_and_links_to_the_oversight_page(company_member):
    page = login_client(company_member).get("/company/requests/new/").content.decode()
    assert '<option value="" selected>None: a person reviews it</option>' in page
    assert 'no oversight policy: <a href="/company/oversight/">set one up</a>' in page
    assert 'id="estimate-policy-note"' not in page


def test_a_policy_that_auto_approves_stores_it_unreviewed_uncharged_and_says_so(
    company_member, organization, django_capture_on_commit_callbacks
):
    from billing.selectors import company_balance
    from review_requests.models import Offer
    from tests.factories import CreditGrantFactory
    from tests.review_requests.api_offers_support import radiologist

    radiologist()
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    _oversight(organization, SURE)
    before = company_balance(organization=organization)
    client = login_client(company_member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/company/requests/new/", _form(policy="triage", confidence="0.95"), follow=True
        )
    rr = ReviewRequest.objects.get()
    assert rr.status == "auto_approved" and rr.confidence == 0.95
    assert (rr.policy_rule_name, rr.oversight_outcome, rr.cost_cents) == ("sure", "auto_approve", 0)
    assert not Offer.objects.exists()
    assert company_balance(organization=organization) == before
    page = response.content.decode()
    said = "Auto-approved by rule “sure” of policy triage v1: no reviewer, no charge."
    assert f"Request stored. {said}" in page  # the message after the submit
    assert f'<dd id="rr-oversight">{said}</dd>' in page  # and the page itself, for good
    assert "nothing charged" in page


@pytest.mark.parametrize(
    ("rules", "confidence", "said", "reviewers"),
    [
        (
            [{"name": "watch", "outcome": "sample", "audit_rate": 1}],
            "0.5",
            "Sampled for audit by rule “watch” of policy triage v1: a person reviews it",
            1,
        ),
        (
            [{"name": "doubtful", "outcome": "review", "review": {"reviewers": 2}}],
            "",
            "Sent to review by rule “doubtful” of policy triage v1.",
            2,
        ),
        (SURE, "0.2", "Sent to review: no rule of policy triage v1 matched", 1),
    ],
)
def test_what_the_policy_decided_is_said_on_the_request_page(
    company_member, organization, rules, confidence, said, reviewers
):
    _oversight(organization, rules)
    response = login_client(company_member).post(
        "/company/requests/new/", _form(policy="triage", confidence=confidence), follow=True
    )
    rr = ReviewRequest.objects.get()
    assert rr.status == "queued" and rr.reviewers == reviewers
    assert rr.blind is (reviewers > 1)  # the rule's reviewers: blind by the API's default
    assert rr.audit is ("audit" in said)
    page = response.content.decode()
    assert said in page and page.count(said) == 2  # the message and the Oversight row


def test_none_applies_no_policy_even_when_the_default_would_approve(company_member, organization):
    _oversight(organization, [{"name": "all", "outcome": "auto_approve"}])
    response = login_client(company_member).post(
        "/company/requests/new/", _form(policy="", confidence="0.99"), follow=True
    )
    rr = ReviewRequest.objects.get()
    assert rr.status == "queued" and rr.oversight_outcome == "" and rr.policy_version is None
    assert rr.confidence == 0.99  # stored whether or not a policy applies
    assert 'id="rr-oversight"' not in response.content.decode()


def test_blind_and_four_eyes_reach_the_request(company_member):
    client = login_client(company_member)
    client.post("/company/requests/new/", _form(reviewers="3", blind="on", four_eyes="on"))
    client.post("/company/requests/new/", _form(title="Open", reviewers="2"))
    four_eyes, open_review = ReviewRequest.objects.order_by("title")
    assert (four_eyes.reviewers, four_eyes.blind, four_eyes.four_eyes) == (3, True, True)
    assert (open_review.title, open_review.blind, open_review.four_eyes) == ("Open", False, False)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"confidence": "1.5"}, "confidence", "less than or equal to 1"),
        ({"confidence": "-0.1"}, "confidence", "greater than or equal to 0"),
        ({"confidence": "nan"}, "confidence", "Enter a number"),
        ({"confidence": "0.5\x00"}, "confidence", "Enter a number"),
        ({"policy": "theirs"}, "policy", "Choose one of your organization's policies"),
        ({"policy": "triage\x00"}, "policy", "Choose one of your organization's policies"),
        ({"title": "Nul\x00here"}, "title", "This text"),
        ({"four_eyes": "on"}, "four_eyes", "Four-eyes needs at least 2 reviewers."),
        (
            {"four_eyes": "on", "reviewers": "2"},
            "four_eyes",
            "Four-eyes reviews are always blind",
        ),
        ({"reviewers": "6"}, "reviewers", "less than or equal to 5"),
    ],
)
def test_bad_oversight_and_review_input_is_refused_next_to_its_field(
    company_member, organization, other_organization, overrides, field, message
):
    _oversight(organization, SURE)
    _oversight(other_organization, SURE, name="theirs")
    response = login_client(company_member).post("/company/requests/new/", _form(**overrides))
    assert response.status_code == 200
    form = response.context["form"]
    assert message in " ".join(form.errors[field]), form.errors
    assert not ReviewRequest.objects.exists()


def test_every_error_is_shown_at_once(company_member, organization, other_organization):
    _oversight(other_organization, SURE, name="theirs")
    response = login_client(company_member).post(
        "/company/requests/new/",
        _form(
            title="",
            confidence="1.5",
            policy="theirs",
            four_eyes="on",
            deadline="2001-01-01T10:00",
            metadata="[1]",
            callback_url="http://example.com/hook",
        ),
    )
    form = response.context["form"]
    assert set(form.errors) >= {
        "title",
        "confidence",
        "policy",
        "four_eyes",
        "deadline",
        "metadata",
        "callback_url",
    }, form.errors
    page = response.content.decode()
    assert page.count("field--error") >= 7
    assert not ReviewRequest.objects.exists()


def test_a_second_submit_of_the_same_form_makes_one_request(
    company_member, organization, django_capture_on_commit_callbacks
):
    _oversight(organization, SURE)
    client = login_client(company_member)
    data = _form(policy="triage", confidence="0.95", submission="a" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/company/requests/new/", data)
        again = client.post("/company/requests/new/", data, follow=True)
    rr = ReviewRequest.objects.get()
    assert first.status_code == 302 and first["Location"] == f"/company/requests/{rr.pk}/"
    assert again.redirect_chain == [(f"/company/requests/{rr.pk}/", 302)]
    assert "This form was already submitted: here is the request it made" in again.content.decode()
    assert rr.history.count() == 1


def test_the_same_form_with_other_values_is_refused_once_then_sent_anew(company_member):
    client = login_client(company_member)
    key = "b" * 32
    client.post("/company/requests/new/", _form(submission=key))
    refused = client.post("/company/requests/new/", _form(title="Edited", submission=key))
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "already submitted with other values" in page
    assert 'value="Edited"' in page  # what was typed is kept
    fresh = re.search(r'name="submission" value="([0-9a-f]{32})"', page).group(1)
    assert fresh != key
    assert ReviewRequest.objects.count() == 1
    sent = client.post("/company/requests/new/", _form(title="Edited", submission=fresh))
    assert sent.status_code == 302
    assert sorted(ReviewRequest.objects.values_list("title", flat=True)) == [
        "Check this contract clause",
        "Edited",
    ]


def test_a_damaged_submission_key_is_refused_with_a_visible_error(company_member):
    response = login_client(company_member).post(
        "/company/requests/new/", _form(submission="../../etc")
    )
    assert response.status_code == 200
    assert "This form is out of date" in response.content.decode()
    assert not ReviewRequest.objects.exists()


def test_a_post_without_a_submission_key_still_creates_each_time(company_member):
    client = login_client(company_member)
    assert client.post("/company/requests/new/", _form()).status_code == 302
    assert client.post("/company/requests/new/", _form()).status_code == 302
    assert ReviewRequest.objects.count() == 2
