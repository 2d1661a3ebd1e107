"""Services review_requests calls, the supply-changed signal, and GET /api/v1/specializations."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from experts import services
from experts.models import ExpertProfile, MatchRow, Rating
from experts.selectors import expert_profile_for_user
from experts.signals import expert_supply_changed
from tests.factories import ExpertProfileFactory


@pytest.fixture
def supply_events():
    seen: list = []

    def receiver(sender, expert_id, **kwargs):
        seen.append(expert_id)

    expert_supply_changed.connect(receiver, weak=False, dispatch_uid="test-supply")
    yield seen
    expert_supply_changed.disconnect(dispatch_uid="test-supply")


@pytest.mark.django_db
def test_specializations_are_public_and_cacheable():
    response = Client().get("/api/v1/specializations")
    assert response.status_code == 200
    data = response.json()["data"]
    by_slug = {s["slug"]: s for s in data}
    assert by_slug["medicine"] == {
        "slug": "medicine",
        "name": "Medicine",
        "parent": None,
        "requires_credentials": True,
    }
    assert by_slug["medicine.radiology"]["parent"] == "medicine"
    assert by_slug["software.security"]["requires_credentials"] is False
    assert "max-age" in response["Cache-Control"]


@pytest.mark.django_db
def test_specializations_refuse_post():
    response = Client().post("/api/v1/specializations")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_load_changes_are_stored_and_freed_capacity_rematches(
    supply_events, django_capture_on_commit_callbacks
):
    expert = ExpertProfileFactory(specializations=["software"], max_concurrent=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.expert_load_set(expert_id=expert.pk, load=2)
    assert supply_events == []
    assert set(MatchRow.objects.filter(expert=expert).values_list("current_load", flat=True)) == {2}
    with django_capture_on_commit_callbacks(execute=True):
        services.expert_load_set(expert_id=expert.pk, load=1)
    assert supply_events == [expert.pk]
    expert.refresh_from_db()
    assert expert.current_load == 1


@pytest.mark.django_db
def test_the_signal_is_not_sent_when_the_transaction_rolls_back(supply_events):
    expert = ExpertProfileFactory(current_load=2)
    services.expert_load_set(expert_id=expert.pk, load=0)  # on_commit never runs in this test
    assert supply_events == []


@pytest.mark.django_db
def test_completion_updates_the_on_time_rate():
    expert = ExpertProfileFactory(completed_count=3, on_time_count=3, on_time_rate=1.0)
    services.expert_stats_record_completion(expert_id=expert.pk, on_time=False)
    expert.refresh_from_db()
    assert expert.completed_count == 4
    assert expert.on_time_rate == pytest.approx(0.75)


@pytest.mark.django_db
def test_ratings_recompute_the_average_once_per_assignment(organization):
    expert = ExpertProfileFactory(specializations=["software"])
    first = uuid.uuid4()
    services.rating_create(
        organization=organization, expert_id=expert.pk, assignment_id=first, score=5
    )
    services.rating_create(
        organization=organization,
        expert_id=expert.pk,
        assignment_id=uuid.uuid4(),
        score=4,
        comment="Thorough",
    )
    expert.refresh_from_db()
    assert (expert.rating_avg, expert.rating_count) == (4.5, 2)
    assert MatchRow.objects.filter(expert=expert).first().rating_avg == 4.5
    with pytest.raises(ValidationError):
        services.rating_create(
            organization=organization, expert_id=expert.pk, assignment_id=first, score=1
        )
    with pytest.raises(ValidationError):
        services.rating_create(
            organization=organization, expert_id=expert.pk, assignment_id=uuid.uuid4(), score=6
        )
    assert Rating.objects.count() == 2


@pytest.mark.django_db
def test_only_company_admins_block(organization, plain_member, company_member):
    expert = ExpertProfileFactory()
    with pytest.raises(PermissionDenied):
        services.company_block_set(
            organization=organization, expert_id=expert.pk, blocked=True, actor=plain_member
        )
    assert services.company_block_set(
        organization=organization, expert_id=expert.pk, blocked=True, actor=company_member
    )
    assert not services.company_block_set(
        organization=organization, expert_id=expert.pk, blocked=True, actor=company_member
    )


@pytest.mark.django_db
def test_profile_for_user_only_for_experts(expert, company_member):
    assert expert_profile_for_user(user=expert) is None
    profile = services.expert_profile_ensure(user=expert)
    assert expert_profile_for_user(user=expert) == profile
    assert expert_profile_for_user(user=company_member) is None
    with pytest.raises(PermissionDenied):
        services.expert_profile_ensure(user=company_member)
    assert ExpertProfile.objects.count() == 1


@pytest.mark.django_db
def test_switching_off_removes_the_expert_from_matching(
    supply_events, django_capture_on_commit_callbacks
):
    expert = ExpertProfileFactory(specializations=["software"], always_available=True)
    assert MatchRow.objects.filter(expert=expert).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.expert_accepting_work_set(expert=expert, accepting=False)
    assert not MatchRow.objects.filter(expert=expert).exists()
    assert supply_events == [expert.pk]


@pytest.mark.django_db
def test_match_rows_follow_direct_model_writes():
    """Writers that bypass the services (admin, seed data) still keep matching right."""
    from experts.models import AvailabilityWindow, ExpertSpecialization, Specialization

    expert = ExpertProfileFactory()
    assert not MatchRow.objects.filter(expert=expert).exists()
    ExpertSpecialization.objects.create(
        expert=expert, specialization=Specialization.objects.get(slug="software.python"), years=4
    )
    nodes = set(MatchRow.objects.filter(expert=expert).values_list("node__slug", "exact"))
    assert nodes == {("software.python", True), ("software", False)}
    AvailabilityWindow.objects.create(expert=expert, weekday=0, start_minute=540, end_minute=600)
    assert MatchRow.objects.filter(expert=expert).first().any0 == 1 << 9
    expert.user.is_active = False
    expert.user.save()
    assert not MatchRow.objects.filter(expert=expert).exists()
