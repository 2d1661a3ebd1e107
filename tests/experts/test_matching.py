"""candidates_rank: every hard filter, the score order, time zones and DST, query count."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from experts import services
from experts.matching import ACCURACY_PRIOR, MAX_RATE_CENTS, RATING_PRIOR, WEIGHTS, YEARS_CAP
from experts.models import CompanyBlock, Credential, ExpertProfile, Specialization
from experts.selectors import candidates_rank
from tests.factories import CredentialFactory, ExpertProfileFactory, TimeOffFactory

MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ALL_WEEK = [(d, 0, 1440) for d in range(7)]


def rank(slug="software", **kwargs):
    params = {
        "specialization_slug": slug,
        "max_rate_cents": None,
        "organization_id": None,
        "exclude_expert_ids": [],
        "now": MONDAY,
        "deadline": None,
        "limit": 20,
    }
    params.update(kwargs)
    return candidates_rank(**params)


def ids(candidates):
    return [c.expert_id for c in candidates]


# A reference implementation, written the plain way ----------------------------------------------


def ref_available(expert: ExpertProfile, now: datetime, deadline: datetime | None) -> bool:
    zone = zoneinfo.ZoneInfo(expert.timezone)
    local_now = now.astimezone(zone)
    if any(t.start_date <= local_now.date() <= t.end_date for t in expert.time_off.all()):
        return False
    if expert.always_available:
        return True
    start = local_now.replace(second=0, microsecond=0, tzinfo=None)
    if deadline is None or deadline <= now:
        end = start + timedelta(minutes=1)
    else:
        end = min(deadline.astimezone(zone).replace(tzinfo=None), start + timedelta(days=7))
    day = start.date() - timedelta(days=7)
    while day <= end.date():
        for w in expert.availability.all():
            if day.weekday() != w.weekday:
                continue
            midnight = datetime.combine(day, time())
            occ_start = midnight + timedelta(minutes=w.start_minute)
            occ_end = midnight + timedelta(minutes=w.end_minute)
            if occ_start < end and occ_end > start:
                return True
        day += timedelta(days=1)
    return False


def ref_rank(*, slug, max_rate_cents, organization_id, exclude, now, deadline, limit):
    """[(score, expert)] of every expert passing every hard filter, best first (all of them)."""
    top = slug.split(".")[0]
    passing = []
    for e in ExpertProfile.objects.select_related("user").prefetch_related(
        "specializations__specialization", "availability", "time_off", "credentials__field"
    ):
        held = [
            es
            for es in e.specializations.all()
            if es.specialization.slug == slug or es.specialization.slug.startswith(slug + ".")
        ]
        if not held or not e.accepting_work or e.hourly_rate_cents is None:
            continue
        if max_rate_cents is not None and e.hourly_rate_cents > max_rate_cents:
            continue
        if e.current_load >= e.max_concurrent or e.user.suspended_at or not e.user.is_active:
            continue
        if e.pk in exclude:
            continue
        if (
            organization_id
            and CompanyBlock.objects.filter(organization_id=organization_id, expert=e).exists()
        ):
            continue
        if held[0].specialization.requires_credentials and not any(
            c.field.slug == top
            and c.status == "verified"
            and (c.expires_on is None or c.expires_on >= now.astimezone(UTC).date())
            for c in e.credentials.all()
        ):
            continue
        if not ref_available(e, now, deadline):
            continue
        cap = max_rate_cents if max_rate_cents is not None else MAX_RATE_CENTS
        exact = any(es.specialization.slug == slug for es in held)
        years = max(es.years for es in held)
        score = (
            WEIGHTS["exact"] * (1.0 if exact else 0.0)
            + WEIGHTS["years"] * min(years, YEARS_CAP) / YEARS_CAP
            + WEIGHTS["rating"] * (e.rating_avg / 5 if e.rating_count > 0 else RATING_PRIOR)
            + WEIGHTS["completion"] * e.completion_rate
            + WEIGHTS["on_time"] * e.on_time_rate
            + WEIGHTS["headroom"] * (cap - e.hourly_rate_cents) / cap
            + WEIGHTS["load"] * (e.max_concurrent - e.current_load) / e.max_concurrent
            # No golden items measured here: the prior (tests/experts/test_golden.py measures).
            + WEIGHTS["accuracy"] * ACCURACY_PRIOR
        )
        passing.append((score, e))
    passing.sort(key=lambda pair: -pair[0])
    return passing


# The property ------------------------------------------------------------------------------------

SLUGS = ["medicine", "medicine.radiology", "medicine.cardiology", "software", "software.python"]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland"]


def mostly(value: bool):
    """True or False, `value` nine times in ten: most experts pass most filters."""
    return st.integers(0, 9).map(lambda n: value if n else not value)


window = st.tuples(st.integers(0, 6), st.integers(0, 1439), st.integers(1, 1440)).map(
    lambda t: (t[0], t[1], min(1440, t[1] + t[2]))
)
# A working week: the same long window on several days, plus a few odd ones.
working_week = st.tuples(
    st.sets(st.integers(0, 6), min_size=3), st.integers(0, 900), st.integers(240, 1440)
).map(lambda t: [(d, t[1], min(1440, t[1] + t[2])) for d in sorted(t[0])])


expert_strategy = st.fixed_dictionaries(
    {
        "specializations": st.lists(
            st.tuples(st.sampled_from(SLUGS), st.integers(0, 40)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ),
        "timezone": st.sampled_from(ZONES),
        "hourly_rate_cents": st.integers(1_000, 60_000),
        "accepting_work": mostly(True),
        "always_available": st.integers(0, 2).map(lambda n: n == 0),
        "max_concurrent": st.integers(1, 3),
        "current_load": st.sampled_from([0, 0, 0, 1, 2]),
        "rating_avg": st.floats(1, 5).map(lambda x: round(x, 2)),
        "rating_count": st.integers(0, 3),
        "on_time_rate": st.floats(0, 1).map(lambda x: round(x, 3)),
        "windows": st.tuples(working_week, st.lists(window, max_size=3)).map(lambda t: t[0] + t[1]),
        "credential": st.sampled_from(["verified"] * 6 + ["none", "pending", "expired"]),
        "time_off_days": st.none() | st.none() | st.integers(-2, 2),
        "blocked": mostly(False),
        "suspended": mostly(False),
        "excluded": mostly(False),
    }
)
request_strategy = st.fixed_dictionaries(
    {
        "slug": st.sampled_from(SLUGS),
        "max_rate_cents": st.none() | st.integers(20_000, 100_000),
        # Two weeks around the US and EU spring DST switches, at minute precision.
        "now": st.integers(0, 14 * 1440).map(
            lambda m: datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=m, seconds=17)
        ),
        "deadline_minutes": st.none() | st.integers(-30, 9 * 1440),
        "limit": st.integers(1, 6),
    }
)


def _build(spec: dict, organization) -> ExpertProfile:
    windows = [
        w
        for i, w in enumerate(spec["windows"])
        if not any(o[0] == w[0] and o[1] < w[2] and w[1] < o[2] for o in spec["windows"][:i])
    ]
    expert = ExpertProfileFactory(
        specializations=spec["specializations"],
        timezone=spec["timezone"],
        hourly_rate_cents=spec["hourly_rate_cents"],
        accepting_work=spec["accepting_work"],
        always_available=spec["always_available"],
        max_concurrent=spec["max_concurrent"],
        current_load=spec["current_load"],
        rating_avg=spec["rating_avg"],
        rating_count=spec["rating_count"],
        on_time_rate=spec["on_time_rate"],
        windows=windows,
    )
    if spec["credential"] != "none":
        CredentialFactory(
            expert=expert,
            status="pending" if spec["credential"] == "pending" else "verified",
            expires_on=date(2026, 3, 1) if spec["credential"] == "expired" else None,
        )
    if spec["time_off_days"] is not None:
        day = date(2026, 3, 9) + timedelta(days=spec["time_off_days"])
        TimeOffFactory(expert=expert, start_date=day)
    if spec["blocked"]:
        CompanyBlock.objects.create(organization=organization, expert=expert)
    if spec["suspended"]:
        type(expert.user).objects.filter(pk=expert.user_id).update(suspended_at=timezone.now())
    return expert


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(experts=st.lists(expert_strategy, min_size=4, max_size=8), request=request_strategy)
def test_ranking_matches_the_reference(organization, experts, request):
    with transaction.atomic():
        built = [_build(spec, organization) for spec in experts]
        exclude = {e.pk for e, spec in zip(built, experts, strict=True) if spec["excluded"]}
        now = request["now"]
        deadline = (
            None
            if request["deadline_minutes"] is None
            else now + timedelta(minutes=request["deadline_minutes"])
        )
        args = {
            "slug": request["slug"],
            "max_rate_cents": request["max_rate_cents"],
            "organization_id": organization.pk,
            "now": now,
            "deadline": deadline,
            "limit": request["limit"],
        }
        expected = ref_rank(exclude=exclude, **args)
        event(
            f"experts passing every filter: {min(len(expected), 3)}{'+' if len(expected) > 2 else ''}"
        )
        got = candidates_rank(
            specialization_slug=args["slug"],
            max_rate_cents=args["max_rate_cents"],
            organization_id=organization.pk,
            exclude_expert_ids=exclude,
            now=now,
            deadline=deadline,
            limit=args["limit"],
        )
        reference_scores = {e.pk: score for score, e in expected}
        # No returned candidate breaks a hard filter, and its score is the reference score.
        for candidate in got:
            assert candidate.expert_id in reference_scores
            assert candidate.score == pytest.approx(reference_scores[candidate.expert_id])
        assert len(got) == min(args["limit"], len(expected))
        assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
        # Whoever passes and scores higher than a returned candidate was returned too.
        if got:
            lowest = got[-1].score
            returned = set(ids(got))
            for score, expert in expected:
                if score > lowest + 1e-9:
                    assert expert.pk in returned
        transaction.set_rollback(True)


# Each hard filter, one at a time -----------------------------------------------------------------


@pytest.mark.django_db
def test_descendants_match_a_parent_request_but_not_the_other_way_round():
    child = ExpertProfileFactory(specializations=["software.python"], windows=ALL_WEEK)
    parent_only = ExpertProfileFactory(specializations=["software"], windows=ALL_WEEK)
    assert set(ids(rank("software"))) == {child.pk, parent_only.pk}
    assert ids(rank("software.python")) == [child.pk]


@pytest.mark.django_db
def test_exact_specialization_outranks_a_child_with_the_same_record():
    child = ExpertProfileFactory(specializations=[("software.python", 5)], windows=ALL_WEEK)
    exact = ExpertProfileFactory(specializations=[("software", 5)], windows=ALL_WEEK)
    result = rank("software")
    assert ids(result) == [exact.pk, child.pk]
    assert result[0].score - result[1].score == pytest.approx(WEIGHTS["exact"])


@pytest.mark.django_db
def test_credentials_required_where_the_field_demands_them():
    verified = ExpertProfileFactory(
        specializations=["medicine.radiology"], credentials=["medicine"], windows=ALL_WEEK
    )
    ExpertProfileFactory(specializations=["medicine.radiology"], windows=ALL_WEEK)
    pending = ExpertProfileFactory(specializations=["medicine.radiology"], windows=ALL_WEEK)
    CredentialFactory(expert=pending, status=Credential.Status.PENDING)
    expired = ExpertProfileFactory(specializations=["medicine.radiology"], windows=ALL_WEEK)
    CredentialFactory(expert=expired, expires_on=date(2026, 3, 1))
    wrong_field = ExpertProfileFactory(
        specializations=["medicine.radiology"], credentials=["law"], windows=ALL_WEEK
    )
    assert ids(rank("medicine.radiology")) == [verified.pk]
    assert wrong_field.pk not in ids(rank("medicine"))


@pytest.mark.django_db
def test_credential_expiring_today_still_counts_and_stops_tomorrow():
    expert = ExpertProfileFactory(specializations=["law.contracts"], windows=ALL_WEEK)
    law = Specialization.objects.get(slug="law")
    CredentialFactory(expert=expert, field=law, expires_on=date(2026, 3, 2))
    assert ids(rank("law", now=MONDAY)) == [expert.pk]
    assert ids(rank("law", now=MONDAY + timedelta(days=1))) == []


@pytest.mark.django_db
def test_rate_cap_switch_load_suspension_exclusion_and_block(organization):
    def make(**kw):
        return ExpertProfileFactory(specializations=["software"], windows=ALL_WEEK, **kw)

    ok = make(hourly_rate_cents=15_000)
    at_cap = make(hourly_rate_cents=15_000, max_concurrent=2, current_load=1)
    over_rate = make(hourly_rate_cents=15_001)
    make(accepting_work=False)
    make(max_concurrent=2, current_load=2)
    make(hourly_rate_cents=None)
    suspended = make()
    type(suspended.user).objects.filter(pk=suspended.user_id).update(suspended_at=timezone.now())
    excluded = make()
    blocked = make()
    CompanyBlock.objects.create(organization=organization, expert=blocked)

    result = rank(
        max_rate_cents=15_000, organization_id=organization.pk, exclude_expert_ids=[excluded.pk]
    )
    assert set(ids(result)) == {ok.pk, at_cap.pk}
    assert over_rate.pk not in ids(result)
    # Another company has not blocked anyone.
    assert blocked.pk in ids(rank(organization_id=None))


@pytest.mark.django_db
def test_limit_and_order_by_score_with_reasons():
    low = ExpertProfileFactory(
        specializations=[("software.python", 1)], windows=ALL_WEEK, hourly_rate_cents=12_000
    )
    high = ExpertProfileFactory(
        specializations=[("software.python", 12)],
        windows=ALL_WEEK,
        rating_avg=4.9,
        rating_count=10,
        hourly_rate_cents=12_000,
    )
    result = rank("software.python", max_rate_cents=15_000, limit=1)
    assert ids(result) == [high.pk]
    assert result[0].reason == "python, 12 y, 4.9★, $120/h under $150/h cap, free now"
    assert result[0].rate_cents == 12_000
    assert result[0].user_id == high.user_id
    assert ids(rank("software.python", limit=5)) == [high.pk, low.pk]


@pytest.mark.django_db
def test_unknown_specialization_or_zero_limit_gives_nobody():
    ExpertProfileFactory(specializations=["software"], windows=ALL_WEEK)
    assert rank("nonsense") == []
    assert rank(limit=0) == []


@pytest.mark.django_db
def test_two_queries_whatever_the_number_of_experts(django_assert_max_num_queries, organization):
    for _ in range(3):
        ExpertProfileFactory(specializations=["software.python"], windows=ALL_WEEK)
    # 1: the requested node and its field; 2: the ranking (filters, score, order, limit).
    with django_assert_max_num_queries(2):
        small = rank("software", organization_id=organization.pk)
    for _ in range(12):
        ExpertProfileFactory(specializations=["software.ml"], windows=ALL_WEEK)
    with django_assert_max_num_queries(2):
        large = rank("software", organization_id=organization.pk, deadline=MONDAY + timedelta(1))
    assert len(small) == 3 and len(large) == 15


# Time zones and DST ------------------------------------------------------------------------------


def at(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "window", "now", "available"),
    [
        # New York, spring forward on Sunday 2026-03-08: 09:00-10:00 local is 13:00 UTC after...
        ("America/New_York", (6, 540, 600), at(2026, 3, 8, 13, 30), True),
        ("America/New_York", (6, 540, 600), at(2026, 3, 8, 14, 30), False),
        # ...and 14:00 UTC the Sunday before (EST, UTC-5).
        ("America/New_York", (6, 540, 600), at(2026, 3, 1, 13, 30), False),
        ("America/New_York", (6, 540, 600), at(2026, 3, 1, 14, 30), True),
        # Fall back on Sunday 2026-11-01: EST again.
        ("America/New_York", (6, 540, 600), at(2026, 11, 1, 14, 30), True),
        ("America/New_York", (6, 540, 600), at(2026, 11, 1, 13, 30), False),
        ("America/New_York", (5, 540, 600), at(2026, 10, 31, 13, 30), True),
        # Berlin switches on Sunday 2026-03-29: Monday 09:00 is 08:00 UTC before, 07:00 after.
        ("Europe/Berlin", (0, 540, 600), at(2026, 3, 23, 8, 30), True),
        ("Europe/Berlin", (0, 540, 600), at(2026, 3, 23, 7, 30), False),
        ("Europe/Berlin", (0, 540, 600), at(2026, 3, 30, 7, 30), True),
        ("Europe/Berlin", (0, 540, 600), at(2026, 3, 30, 8, 30), False),
        # Kolkata, UTC+05:30: a half-hour window at minute precision, end excluded.
        ("Asia/Kolkata", (0, 540, 570), at(2026, 3, 2, 3, 45), True),
        ("Asia/Kolkata", (0, 540, 570), at(2026, 3, 2, 4, 0), False),
        ("Asia/Kolkata", (0, 540, 570), at(2026, 3, 2, 3, 29), False),
        # Tokyo's Monday starts on Sunday in UTC: the week wraps.
        ("Asia/Tokyo", (0, 0, 60), at(2026, 3, 1, 15, 30), True),
        ("Asia/Tokyo", (6, 1380, 1440), at(2026, 3, 1, 15, 30), False),
        # Minutes inside an hour.
        ("UTC", (0, 555, 585), at(2026, 3, 2, 9, 10), False),
        ("UTC", (0, 555, 585), at(2026, 3, 2, 9, 20), True),
        ("UTC", (0, 555, 585), at(2026, 3, 2, 9, 45), False),
    ],
)
def test_availability_now_in_the_experts_own_time(zone, window, now, available):
    expert = ExpertProfileFactory(specializations=["software"], timezone=zone, windows=[window])
    assert (expert.pk in ids(rank(now=now))) is available


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "window", "now", "deadline", "available"),
    [
        ("UTC", (1, 540, 600), at(2026, 3, 2, 12), at(2026, 3, 3, 9, 30), True),
        ("UTC", (1, 540, 600), at(2026, 3, 2, 12), at(2026, 3, 3, 8, 59), False),
        ("UTC", (1, 540, 600), at(2026, 3, 2, 12), at(2026, 3, 3, 9, 0), False),
        # Sunday night to Monday morning wraps the week.
        ("UTC", (0, 60, 120), at(2026, 3, 1, 22), at(2026, 3, 2, 3), True),
        ("UTC", (0, 60, 120), at(2026, 3, 1, 22), at(2026, 3, 2, 0, 30), False),
        # A window that ended an hour ago does not count.
        ("UTC", (0, 540, 600), at(2026, 3, 2, 11), at(2026, 3, 2, 20), False),
        # A deadline more than a week away reaches every window.
        ("UTC", (0, 540, 600), at(2026, 3, 2, 11), at(2026, 3, 12, 0), True),
        # New York across the spring-forward night: Sunday 03:00-04:00 local.
        ("America/New_York", (6, 180, 240), at(2026, 3, 8, 5), at(2026, 3, 8, 7, 30), True),
        ("America/New_York", (6, 180, 240), at(2026, 3, 8, 5), at(2026, 3, 8, 6, 59), False),
    ],
)
def test_availability_before_a_deadline(zone, window, now, deadline, available):
    expert = ExpertProfileFactory(specializations=["software"], timezone=zone, windows=[window])
    assert (expert.pk in ids(rank(now=now, deadline=deadline))) is available


@pytest.mark.django_db
def test_always_available_passes_without_windows_but_not_on_time_off():
    expert = ExpertProfileFactory(
        specializations=["software"], timezone="Pacific/Auckland", always_available=True
    )
    TimeOffFactory(expert=expert, start_date=date(2026, 3, 3))
    # 10:00 UTC on Monday is 23:00 Monday in Auckland (UTC+13): working.
    assert ids(rank(now=at(2026, 3, 2, 10))) == [expert.pk]
    # 12:00 UTC is 01:00 Tuesday there: on time off in the expert's own calendar.
    assert ids(rank(now=at(2026, 3, 2, 12))) == []
    assert ids(rank(now=at(2026, 3, 3, 12))) == [expert.pk]


@pytest.mark.django_db
def test_windows_written_through_the_service_are_matched_at_once():
    expert = ExpertProfileFactory(specializations=["software"])
    assert rank() == []
    services.expert_availability_set(expert=expert, windows=[(0, 720, 780)])
    assert ids(rank()) == [expert.pk]
    services.expert_load_set(expert_id=expert.pk, load=2)
    assert rank() == []
    services.expert_load_set(expert_id=expert.pk, load=1)
    assert "1 of 2 slots busy" in rank()[0].reason
