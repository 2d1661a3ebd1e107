"""Expert profile editor, credential uploads and documents, the operators' queue, the directory."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from experts.models import (
    AvailabilityWindow,
    CompanyBlock,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    TimeOff,
)
from marketplace.models import AuditLog, Notification
from tests.conftest import give_operator_mfa, login_client
from tests.factories import (
    AvailabilityWindowFactory,
    CredentialFactory,
    ExpertProfileFactory,
    ExpertSpecializationFactory,
    TimeOffFactory,
    specialization,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def profile(expert):
    return ExpertProfileFactory(user=expert, display_name="Erin Expert", timezone="Europe/Berlin")


@pytest.fixture
def mfa_operator(operator):
    give_operator_mfa(operator)
    return operator


def credential_post(client, content: bytes, name: str = "license.pdf", **extra):
    data = {
        "kind": "medical_license",
        "field": "medicine",
        "issuer": "Medical Board of California",
        "number": "A12345",
        "jurisdiction": "CA",
        "expires_on": "",
        "document": SimpleUploadedFile(name, content, content_type="application/pdf"),
    }
    data.update(extra)
    return client.post("/expert/profile/", {"section": "credential", **data})


# Role matrix -----------------------------------------------------------------------------------

EXPERT_PAGES = ["/expert/profile/"]
OPERATOR_PAGES = ["/console/credentials/"]
COMPANY_PAGES = ["/company/experts/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", EXPERT_PAGES + OPERATOR_PAGES + COMPANY_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_each_page_admits_only_its_role(expert, company_member, mfa_operator):
    clients = {
        "expert": login_client(expert),
        "company": login_client(company_member),
        "operator": login_client(mfa_operator),
    }
    for role, urls in [
        ("expert", EXPERT_PAGES),
        ("operator", OPERATOR_PAGES),
        ("company", COMPANY_PAGES),
    ]:
        for url in urls:
            for who, client in clients.items():
                status = client.get(url).status_code
                assert status == (200 if who == role else 403), (url, who, status)


@pytest.mark.django_db
def test_operator_without_two_factor_is_sent_to_set_it_up(operator):
    response = login_client(operator).get("/console/credentials/")
    assert response.status_code == 302
    assert "/accounts/2fa/" in response["Location"]


@pytest.mark.django_db
def test_the_old_profile_action_urls_are_gone(expert):
    """The profile's forms post to /expert/profile/ itself (see test_profile_post_redirect_get)."""
    client = login_client(expert)
    for url in [
        "/expert/profile/basics/",
        "/expert/profile/availability/",
        "/expert/profile/credentials/",
        "/expert/profile/specializations/",
        "/expert/profile/time-off/",
    ]:
        assert client.get(url).status_code == 404
        assert client.post(url, {}).status_code == 404


EXPERT_ACTIONS = [
    "/expert/profile/",
    "/expert/profile/specializations/1/remove/",
    "/expert/profile/time-off/1/remove/",
]


@pytest.mark.django_db
def test_profile_actions_refuse_other_roles_and_anonymous(company_member, mfa_operator):
    for url in EXPERT_ACTIONS:
        anonymous = Client().post(url, {"section": "availability", "day_0": "09:00-10:00"})
        assert anonymous.status_code == 302, url
        assert anonymous["Location"].startswith("/accounts/login/?next=")
        for user in (company_member, mfa_operator):
            data = {"section": "availability", "day_0": "09:00-10:00"}
            status = login_client(user).post(url, data).status_code
            assert status == 403, (url, user, status)
    assert not ExpertProfile.objects.exists()
    assert not AvailabilityWindow.objects.exists()


# Profile editor --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_visit_creates_an_empty_profile_with_a_completeness_meter(expert):
    response = login_client(expert).get("/expert/profile/")
    assert response.status_code == 200
    profile = ExpertProfile.objects.get(user=expert)
    assert profile.display_name == "Erin"
    body = response.content.decode()
    assert "an hourly rate" in body and "at least one specialization" in body
    assert "weekly availability" in body


@pytest.mark.django_db
def test_saving_basics_converts_dollars_to_cents(
    profile, expert, django_capture_on_commit_callbacks
):
    from experts.signals import expert_supply_changed

    seen = []
    expert_supply_changed.connect(
        lambda sender, expert_id, **kw: seen.append(expert_id), weak=False, dispatch_uid="t1"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = login_client(expert).post(
                "/expert/profile/",
                {
                    "section": "basics",
                    "display_name": "Dr. Erin",
                    "headline": "Radiologist",
                    "bio": "**Board certified**",
                    "languages": "en, DE",
                    "hourly_rate": "120.50",
                    "timezone": "America/New_York",
                    "max_concurrent": "3",
                    "accepting_work": "on",
                },
            )
    finally:
        expert_supply_changed.disconnect(dispatch_uid="t1")
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.hourly_rate_cents == 12_050
    assert profile.languages == ["en", "de"]
    assert profile.timezone == "America/New_York"
    assert seen == [profile.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hourly_rate", "9.99", "greater than or equal to 10"),
        ("hourly_rate", "1000.01", "less than or equal to 1000"),
        ("timezone", "Mars/Olympus", "Select a valid choice"),
        ("languages", "english", "is not a language code"),
    ],
)
def test_bad_basics_are_refused_next_to_the_field(profile, expert, field, value, message):
    data = {
        "display_name": "Erin",
        "hourly_rate": "100",
        "timezone": "UTC",
        "max_concurrent": "2",
        field: value,
    }
    response = login_client(expert).post("/expert/profile/", {"section": "basics", **data})
    assert response.status_code == 400
    assert message in response.content.decode()
    profile.refresh_from_db()
    assert profile.hourly_rate_cents == 10_000 and profile.timezone == "Europe/Berlin"


@pytest.mark.django_db
def test_bio_preview_is_sanitized_and_not_saved(profile, expert):
    response = login_client(expert).post(
        "/expert/profile/",
        {
            "section": "basics",
            "display_name": "Erin",
            "timezone": "UTC",
            "max_concurrent": "2",
            "bio": "<script>alert(1)</script> **bold** [x](javascript:alert(1))",
            "action": "preview",
        },
    )
    body = response.content.decode()
    assert "<strong>bold</strong>" in body
    assert "<script>alert(1)</script>" not in body
    assert 'href="javascript:' not in body
    profile.refresh_from_db()
    assert profile.bio == "I check **facts**."


@pytest.mark.django_db
def test_specializations_are_added_updated_and_removed(profile, expert):
    client = login_client(expert)
    assert (
        client.post(
            "/expert/profile/",
            {"section": "specialization", "specialization": "medicine.radiology", "years": "12"},
        ).status_code
        == 302
    )
    item = ExpertSpecialization.objects.get(expert=profile)
    assert item.years == 12
    client.post(
        "/expert/profile/",
        {"section": "specialization", "specialization": "medicine.radiology", "years": "13"},
    )
    assert ExpertSpecialization.objects.get(expert=profile).years == 13
    bad = client.post(
        "/expert/profile/", {"section": "specialization", "specialization": "nope", "years": "1"}
    )
    assert bad.status_code == 400
    assert client.post(f"/expert/profile/specializations/{item.pk}/remove/").status_code == 302
    assert not ExpertSpecialization.objects.filter(expert=profile).exists()


@pytest.mark.django_db
def test_another_experts_rows_cannot_be_removed(profile, other_expert):
    mine = ExpertSpecializationFactory(
        expert=profile, specialization=specialization("law"), years=1
    )
    off = TimeOffFactory(expert=profile, start_date=date.today())
    ExpertProfileFactory(user=other_expert)
    client = login_client(other_expert)
    assert client.post(f"/expert/profile/specializations/{mine.pk}/remove/").status_code == 404
    assert client.post(f"/expert/profile/time-off/{off.pk}/remove/").status_code == 404
    assert ExpertSpecialization.objects.filter(pk=mine.pk).exists()
    assert TimeOff.objects.filter(pk=off.pk).exists()


@pytest.mark.django_db
def test_availability_grid_saves_several_windows_a_day(profile, expert):
    client = login_client(expert)
    response = client.post(
        "/expert/profile/",
        {"section": "availability", "day_0": "09:00-12:00, 13:00-17:30", "day_4": "22:00-24:00"},
    )
    assert response.status_code == 302
    windows = list(
        AvailabilityWindow.objects.filter(expert=profile).values_list(
            "weekday", "start_minute", "end_minute"
        )
    )
    assert windows == [(0, 540, 720), (0, 780, 1050), (4, 1320, 1440)]
    page = client.get("/expert/profile/").content.decode()
    assert "09:00-12:00, 13:00-17:30" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("09:00-12:00, 11:00-13:00", "Windows overlap"),
        ("12:00-09:00", "ends before it starts"),
        ("9am-5pm", "is not a range"),
        ("09:00-25:00", "is not a time of day"),
    ],
)
def test_bad_availability_is_refused_and_nothing_changes(profile, expert, value, message):
    AvailabilityWindowFactory(expert=profile, weekday=2, start_minute=60, end_minute=120)
    response = login_client(expert).post(
        "/expert/profile/", {"section": "availability", "day_1": value}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(
        AvailabilityWindow.objects.filter(expert=profile).values_list("weekday", flat=True)
    ) == [2]


@pytest.mark.django_db
def test_time_off_needs_ordered_dates(profile, expert):
    client = login_client(expert)
    today = date.today()
    bad = client.post(
        "/expert/profile/",
        {
            "section": "time_off",
            "start_date": today + timedelta(days=3),
            "end_date": today + timedelta(days=1),
        },
    )
    assert bad.status_code == 400 and "cannot be before the first" in bad.content.decode()
    ok = client.post(
        "/expert/profile/",
        {
            "section": "time_off",
            "start_date": today,
            "end_date": today + timedelta(days=2),
            "note": "Conference",
        },
    )
    assert ok.status_code == 302
    assert TimeOff.objects.get(expert=profile).note == "Conference"


# Credential uploads -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_real_pdf_is_stored_under_a_generated_name(profile, expert, settings):
    response = credential_post(login_client(expert), PDF, name="../../etc/passwd.pdf")
    assert response.status_code == 302
    credential = Credential.objects.get(expert=profile)
    assert credential.status == "pending"
    assert credential.document_content_type == "application/pdf"
    assert credential.document.name.startswith("credentials/")
    assert "passwd" not in credential.document.name
    assert (settings.MEDIA_ROOT / credential.document.name).read_bytes() == PDF


@pytest.mark.django_db
def test_a_png_is_accepted_by_its_content(profile, expert):
    response = credential_post(login_client(expert), png_bytes(), name="scan.png")
    assert response.status_code == 302
    credential = Credential.objects.get(expert=profile)
    assert credential.document_content_type == "image/png"
    assert credential.document.name.endswith(".png")


@pytest.mark.django_db
def test_a_renamed_executable_is_refused(profile, expert):
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
    response = credential_post(login_client(expert), exe, name="license.pdf")
    assert response.status_code == 400
    assert "content is not one of these" in response.content.decode()
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_a_file_over_five_megabytes_is_refused(profile, expert):
    big = PDF + b"0" * (5 * 1024 * 1024)
    response = credential_post(login_client(expert), big)
    assert response.status_code == 400
    assert "larger than 5 MB" in response.content.decode()
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_missing_issuer_and_expired_date_are_named(profile, expert):
    response = credential_post(
        login_client(expert),
        PDF,
        issuer="",
        expires_on=(date.today() - timedelta(days=1)).isoformat(),
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required" in body
    assert not Credential.objects.exists()


@pytest.fixture
def uploaded(profile, expert):
    credential_post(login_client(expert), PDF)
    return Credential.objects.get(expert=profile)


@pytest.mark.django_db
def test_the_document_is_served_to_its_expert_as_an_attachment(uploaded, expert):
    response = login_client(expert).get(f"/credentials/{uploaded.pk}/document/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"


@pytest.mark.django_db
def test_the_document_is_served_to_operators_with_two_factor(uploaded, operator):
    assert login_client(operator).get(f"/credentials/{uploaded.pk}/document/").status_code == 404
    give_operator_mfa(operator)
    assert login_client(operator).get(f"/credentials/{uploaded.pk}/document/").status_code == 200


@pytest.mark.django_db
def test_the_document_is_hidden_from_everyone_else(uploaded, other_expert, company_member):
    for user in (other_expert, company_member):
        assert login_client(user).get(f"/credentials/{uploaded.pk}/document/").status_code == 404
    anonymous = Client().get(f"/credentials/{uploaded.pk}/document/")
    assert anonymous.status_code == 302


# Operators' verification queue -----------------------------------------------------------------


@pytest.mark.django_db
def test_queue_lists_pending_oldest_first_with_filters(mfa_operator, django_assert_max_num_queries):
    for n in range(3):
        CredentialFactory(status="pending", issuer=f"Board {n}")
    CredentialFactory(status="verified", issuer="Done board")
    client = login_client(mfa_operator)
    with django_assert_max_num_queries(12):
        response = client.get("/console/credentials/")
    body = response.content.decode()
    assert body.index("Board 0") < body.index("Board 1") < body.index("Board 2")
    assert "Done board" not in body and "3 total" in body
    assert "Done board" in client.get("/console/credentials/?status=verified").content.decode()
    assert (
        "Nothing to review"
        in client.get("/console/credentials/?status=pending&q=zzz").content.decode()
    )


@pytest.mark.django_db
def test_verify_audits_notifies_and_makes_the_expert_matchable(
    uploaded, mfa_operator, django_capture_on_commit_callbacks
):
    from tests.experts.test_matching import rank

    ExpertSpecializationFactory(
        expert=uploaded.expert, specialization=uploaded.field.children.first(), years=3
    )
    uploaded.expert.always_available = True
    uploaded.expert.save()
    assert rank("medicine") == []
    with django_capture_on_commit_callbacks(execute=True):
        response = login_client(mfa_operator).post(f"/console/credentials/{uploaded.pk}/verify/")
    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert uploaded.status == "verified" and uploaded.reviewed_by == mfa_operator
    assert AuditLog.objects.filter(
        action="credential.verified", object_id=str(uploaded.pk)
    ).exists()
    assert Notification.objects.filter(
        user=uploaded.expert.user, title__contains="verified"
    ).exists()
    assert [c.expert_id for c in rank("medicine")] == [uploaded.expert_id]


@pytest.mark.django_db
def test_reject_needs_a_reason_which_the_expert_sees(uploaded, mfa_operator, expert):
    client = login_client(mfa_operator)
    refused = client.post(f"/console/credentials/{uploaded.pk}/reject/", {"reason": " "})
    assert refused.status_code == 302
    assert refused["Location"] == f"/console/credentials/{uploaded.pk}/"
    uploaded.refresh_from_db()
    assert uploaded.status == "pending"
    client.post(
        f"/console/credentials/{uploaded.pk}/reject/",
        {"reason": "Number not on the board's register"},
    )
    uploaded.refresh_from_db()
    assert uploaded.status == "rejected"
    assert AuditLog.objects.filter(action="credential.rejected").exists()
    page = login_client(expert).get("/expert/profile/").content.decode()
    assert "Number not on the board&#x27;s register" in page and "Rejected" in page
    # A rejected credential cannot be verified afterwards.
    client.post(f"/console/credentials/{uploaded.pk}/verify/")
    uploaded.refresh_from_db()
    assert uploaded.status == "rejected"


@pytest.mark.django_db
def test_queue_actions_refuse_other_roles(uploaded, expert, company_member):
    for user in (expert, company_member):
        client = login_client(user)
        assert client.post(f"/console/credentials/{uploaded.pk}/verify/").status_code == 403
        assert client.get(f"/console/credentials/{uploaded.pk}/").status_code == 403
    uploaded.refresh_from_db()
    assert uploaded.status == "pending"


@pytest.mark.django_db
def test_queue_detail_of_a_missing_credential_is_404(mfa_operator):
    assert login_client(mfa_operator).get("/console/credentials/99999/").status_code == 404


# Directory and public profiles ----------------------------------------------------------------


@pytest.mark.django_db
def test_directory_filters_paginates_and_counts(company_member, django_assert_max_num_queries):
    radiologist = ExpertProfileFactory(
        display_name="Rita Radiology",
        specializations=["medicine.radiology"],
        credentials=["medicine"],
        hourly_rate_cents=20_000,
        languages=["en", "de"],
        always_available=True,
    )
    ExpertProfileFactory(
        display_name="Pete Python", specializations=["software.python"], hourly_rate_cents=8_000
    )
    client = login_client(company_member)
    # Session, user, membership and the header's counts, then count, page and specializations:
    # the same whatever the number of experts on the page.
    with django_assert_max_num_queries(10):
        body = client.get("/company/experts/").content.decode()
    assert "Rita Radiology" in body and "Pete Python" in body and "2 total" in body
    body = client.get("/company/experts/?specialization=medicine").content.decode()
    assert "Rita Radiology" in body and "Pete Python" not in body
    body = client.get("/company/experts/?max_rate=100").content.decode()
    assert "Pete Python" in body and "Rita Radiology" not in body
    body = client.get("/company/experts/?language=de&verified=on").content.decode()
    assert "Rita Radiology" in body and "Pete Python" not in body
    body = client.get("/company/experts/?available=on").content.decode()
    assert "Rita Radiology" in body and "Pete Python" not in body
    empty = client.get("/company/experts/?specialization=law").content.decode()
    assert "No experts match these filters" in empty
    assert radiologist.user.email not in body


@pytest.mark.django_db
def test_public_profile_shows_badges_but_no_email_or_documents(company_member):
    expert = ExpertProfileFactory(
        display_name="Rita",
        bio="Hello <script>alert(1)</script> **there**",
        specializations=["medicine.radiology"],
        credentials=["medicine"],
        rating_avg=4.87,
        rating_count=31,
        completed_count=120,
    )
    CredentialFactory(
        expert=expert,
        field=expert.credentials.get().field,
        expires_on=date(2020, 1, 1),
        issuer="Old board",
    )
    response = login_client(company_member).get(f"/company/experts/{expert.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Verified medicine" in body and "4.9★" in body and "120" in body
    assert expert.user.email not in body
    assert "/document/" not in body
    assert "<strong>there</strong>" in body and "<script>alert(1)</script>" not in body
    assert "Old board" not in body


@pytest.mark.django_db
def test_public_profile_of_an_unknown_expert_is_404(company_member):
    import uuid

    assert login_client(company_member).get(f"/company/experts/{uuid.uuid4()}/").status_code == 404


@pytest.mark.django_db
def test_company_admins_block_and_unblock_and_matching_follows(
    company_member, organization, plain_member, other_organization
):
    from tests.experts.test_matching import rank

    expert = ExpertProfileFactory(specializations=["software"], always_available=True)
    url = f"/company/experts/{expert.pk}/block/"
    assert login_client(plain_member).post(url, {"action": "block"}).status_code == 403
    assert not CompanyBlock.objects.exists()
    client = login_client(company_member)
    assert client.get(url).status_code == 405
    assert client.post(url, {"action": "block"}).status_code == 302
    assert CompanyBlock.objects.filter(organization=organization, expert=expert).exists()
    assert rank(organization_id=organization.pk) == []
    assert len(rank(organization_id=other_organization.pk)) == 1
    assert (
        "Blocked by your company" in client.get(f"/company/experts/{expert.pk}/").content.decode()
    )
    client.post(url, {"action": "unblock"})
    assert not CompanyBlock.objects.exists()
    assert AuditLog.objects.filter(action__in=["expert.blocked", "expert.unblocked"]).count() == 2


@pytest.mark.django_db
def test_directory_and_profiles_refuse_experts_and_operators(expert, mfa_operator):
    other = ExpertProfileFactory()
    for user in (expert, mfa_operator):
        client = login_client(user)
        assert client.get(f"/company/experts/{other.pk}/").status_code == 403
        assert client.post(f"/company/experts/{other.pk}/block/").status_code == 403


def test_an_incomplete_profile_is_not_shown_as_accepting_work_and_its_missing_fields_are_not_optional(
    expert, profile
):
    """The badge says no offers reach the expert until the profile is complete; the fields the
    completeness list names as missing carry no "(optional)" mark."""
    page = login_client(expert).get("/expert/profile/").content.decode()
    assert "No offers until your profile is complete" in page
    assert ">Accepting work</span>" not in page
    for label in ("Headline", "Languages", "Hourly rate (USD)", "Bio"):
        assert re.search(rf"<label[^>]*>{re.escape(label)}</label>", page), label
    assert (
        '<span class="optional">(optional)</span>'
        not in page.split('id="basics-h"')[1].split("</form>")[0]
    )
