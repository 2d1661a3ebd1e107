"""Submitting one request by hand (same rules as the API), the sanitized markdown preview, and
untrusted content (AI output, prompt, guidelines, metadata, result) escaped on every page."""

from __future__ import annotations

import json

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
