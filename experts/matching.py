"""Ranking experts for a review request: every hard filter and the score in one SQL query.

Why one query: at 100k experts, fetching candidates and filtering in Python costs a round trip
per batch and cannot promise the best-scored expert was seen. Everything, availability included,
is decided by the database, ordered by a score computed there, and cut at `limit`.

Availability is in each expert's own wall-clock time (DST included). The database does not need
to know time zones: Python computes, for every IANA zone, the local week-minute now (Monday 00:00
= 0) and, with a deadline, the local week-minute of the deadline, and passes that table in as a
derived table `tzclock(tz, wm_start, wm_end, local_date)`. A weekly window [s, e) (week-minutes)
matches when it overlaps [wm_start, wm_end); windows are also tested shifted by one week, so a
range that wraps past Sunday midnight works. Without a deadline wm_end = wm_start + 1 (a point).
"""

# The statements themselves are in experts/sql.py.

from __future__ import annotations

import math
import uuid
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from experts import sql
from experts.models import (
    MAX_RATE_CENTS,
    CompanyBlock,
    ExpertProfile,
    QualificationTest,
    Specialization,
)

MINUTES_PER_DAY = sql.MINUTES_PER_DAY
WEEK_MINUTES = sql.WEEK_MINUTES

# The soft score: one place for every weight. Each term is in [0, 1] before weighting.
WEIGHTS: dict[str, float] = {
    "exact": 2.0,  # the expert holds the requested specialization itself, not only a child of it
    "years": 1.0,  # years of experience in the matched specialization, capped at YEARS_CAP
    "rating": 2.0,  # average rating / 5 (RATING_PRIOR while unrated)
    "completion": 1.0,  # share of accepted assignments completed
    "on_time": 1.0,  # share of completed assignments submitted before the deadline
    "headroom": 1.0,  # (cap - rate) / cap, the cap being the request's max rate or MAX_RATE_CENTS
    "load": 1.0,  # free share of the expert's concurrency cap
    "accuracy": 2.0,  # share of golden items right in the requested specialization (issue #20)
}
YEARS_CAP = 30
RATING_PRIOR = 0.8  # an unrated expert counts as 4 stars: new experts still get offers
ACCURACY_PRIOR = 0.8  # unmeasured on golden items: counted as 80% right, like RATING_PRIOR


@dataclass(frozen=True)
class Candidate:
    expert_id: uuid.UUID
    user_id: int
    rate_cents: int
    score: float
    reason: str


# Time zones ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """Every IANA zone the profile form accepts (static data shipped with tzdata)."""
    return tuple(sorted(zoneinfo.available_timezones()))


@lru_cache(maxsize=1)
def _zones() -> tuple[tuple[str, zoneinfo.ZoneInfo], ...]:
    # Held here on purpose: ZoneInfo's own cache keeps only a few zones strongly, and reloading
    # 600 zone files from disk made every ranking 20 ms slower.
    return tuple((name, zoneinfo.ZoneInfo(name)) for name in timezone_names())


@lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(timezone_names())


def is_valid_timezone(name: str) -> bool:
    return name in _zone_set()


def _week_minute(local: datetime) -> int:
    return local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute


WEEK_HOURS = 168
_WORD_BITS = 56
_WORD_MASK = (1 << _WORD_BITS) - 1


def _hour_bits(lo_minute: int, hi_minute: int) -> int:
    """Bits of the hours of the week holding some minute of [lo, hi) (wrapping past Sunday)."""
    if hi_minute - lo_minute >= WEEK_MINUTES:
        return (1 << WEEK_HOURS) - 1
    lo, hi = lo_minute // 60, (hi_minute - 1) // 60 + 1  # hours [lo, hi), hi may pass 168
    bits = ((1 << (hi - lo)) - 1) << lo
    return (bits | (bits >> WEEK_HOURS)) & ((1 << WEEK_HOURS) - 1)


def _inner_bits(lo_minute: int, hi_minute: int) -> int:
    """Bits of the hours lying entirely inside [lo, hi)."""
    lo, hi = -(-lo_minute // 60), hi_minute // 60
    if hi <= lo:
        return 0
    if hi - lo >= WEEK_HOURS:
        return (1 << WEEK_HOURS) - 1
    bits = ((1 << (hi - lo)) - 1) << lo
    return (bits | (bits >> WEEK_HOURS)) & ((1 << WEEK_HOURS) - 1)


def _words(bits: int) -> tuple[int, int, int]:
    return bits & _WORD_MASK, (bits >> _WORD_BITS) & _WORD_MASK, bits >> (2 * _WORD_BITS)


ClockRow = tuple[str, int, int, date, int, int, int, int, int, int]


ClockValues = tuple[int, int, date, int, int, int, int, int, int]


def _clock_groups(
    *, now: datetime, deadline: datetime | None
) -> list[tuple[ClockValues, list[str]]]:
    """The clock of every zone, grouped: zones whose UTC offsets at `now` and at the deadline
    are the same share every value (about 40 groups for 600 zones), so each group is computed
    once. Per group: (wm_start, wm_end, local date of now, touch words x3, inner words x3)."""
    now = now.astimezone(UTC)
    deadline = deadline.astimezone(UTC) if deadline is not None and deadline > now else None
    zones_by_offsets: dict[tuple, list[str]] = {}
    for name, zone in _zones():
        key = (
            now.astimezone(zone).utcoffset(),
            deadline.astimezone(zone).utcoffset() if deadline is not None else None,
        )
        zones_by_offsets.setdefault(key, []).append(name)
    groups: list[tuple[ClockValues, list[str]]] = []
    for (offset_now, offset_deadline), names in zones_by_offsets.items():
        local_now = (now + offset_now).replace(tzinfo=None)
        wm_start = _week_minute(local_now)
        wm_end = wm_start + 1
        if deadline is not None:
            # Wall-clock minutes between the start of now's minute and the deadline, rounded up:
            # windows are wall-clock, so a DST jump inside the range is counted as the clock shows.
            floor_now = local_now.replace(second=0, microsecond=0)
            local_deadline = (deadline + offset_deadline).replace(tzinfo=None)
            span = math.ceil((local_deadline - floor_now).total_seconds() / 60)
            wm_end = wm_start + min(max(span, 1), WEEK_MINUTES)
        values = (
            wm_start,
            wm_end,
            local_now.date(),
            *_words(_hour_bits(wm_start, wm_end)),
            *_words(_inner_bits(wm_start, wm_end)),
        )
        groups.append((values, names))
    return groups


def timezone_clock(*, now: datetime, deadline: datetime | None) -> list[ClockRow]:
    """Per zone: (zone, wm_start, wm_end, local date of now, touch words x3, inner words x3).

    [wm_start, wm_end) is the range of local week-minutes to test; `touch` marks the hours it
    meets and `inner` the hours it covers whole, for the hour masks of experts.models.MatchRow.
    """
    return [
        (name, *values)
        for values, names in _clock_groups(now=now, deadline=deadline)
        for name in names
    ]


@lru_cache(maxsize=64)  # about 40 kB an entry
def _clock(now_minute: datetime, deadline: datetime | None, vendor: str) -> tuple[str, tuple]:
    if vendor == "postgresql":
        return sql.clock_from_groups(_clock_groups(now=now_minute, deadline=deadline))
    return sql.clock_from_rows(timezone_clock(now=now_minute, deadline=deadline))


def _tzclock_sql(*, now: datetime, deadline: datetime | None) -> tuple[str, list]:
    """The derived table `tzclock` (see timezone_clock) for a query: string arrays on
    PostgreSQL, VALUES elsewhere. Memoized by the minute (everything the clock depends on), so
    the rankings of one matching pass build it once."""
    now_minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    sql, params = _clock(now_minute, deadline, connection.vendor)
    return sql, list(params)


# Ranking ------------------------------------------------------------------------------------


def available_expert_ids_sql(*, now: datetime) -> tuple[str, list]:
    """A subquery of the ids of experts inside a window right now (for the directory filter)."""
    clock_sql, params = _tzclock_sql(now=now, deadline=None)
    return sql.available_expert_ids(clock_sql), params


def _dollars(cents: int) -> str:
    whole, rest = divmod(int(cents), 100)
    return f"${whole:,}" if rest == 0 else f"${whole:,}.{rest:02d}"


def _reason(
    *,
    spec_name: str,
    years: int,
    rating_avg: float,
    rating_count: int,
    rate_cents: int,
    max_rate_cents: int | None,
    current_load: int,
    max_concurrent: int,
    always_available: bool,
    available_now: bool,
) -> str:
    parts = [spec_name.lower(), f"{years} y"]
    parts.append(f"{rating_avg:.1f}★" if rating_count else "not rated yet")
    if max_rate_cents is not None:
        parts.append(f"{_dollars(rate_cents)}/h under {_dollars(max_rate_cents)}/h cap")
    else:
        parts.append(f"{_dollars(rate_cents)}/h")
    if always_available:
        when = "on call"
    elif available_now:
        when = "free now" if current_load == 0 else "available now"
    else:
        when = "available before the deadline"
    parts.append(when)
    if current_load:
        parts.append(f"{current_load} of {max_concurrent} slots busy")
    return ", ".join(parts)


def _requested_specs(specialization_slug: str, top_slug: str) -> dict[str, dict]:
    """Query 1: the requested node, its descendants and its top-level field by slug (names for
    the reasons come along), and whether a qualification test with items is configured."""
    return {
        s["slug"]: s
        for s in Specialization.objects.filter(
            Q(slug=specialization_slug)
            | Q(slug__startswith=f"{specialization_slug}.")
            | Q(slug=top_slug)
        )
        .annotate(
            has_test=Exists(
                QualificationTest.objects.filter(specialization=OuterRef("pk"), items__active=True)
            )
        )
        .values("id", "slug", "name", "requires_credentials", "has_test")
    }


def candidates_rank(
    *,
    specialization_slug: str,
    max_rate_cents: int | None,
    organization_id,
    exclude_expert_ids: Collection,
    now: datetime,
    deadline: datetime | None,
    limit: int,
) -> list[Candidate]:
    """The best `limit` experts passing every hard filter, best first. Two queries, always."""
    if limit <= 0:
        return []
    now = now.astimezone(UTC)
    top_slug = specialization_slug.split(".", 1)[0]
    specs = _requested_specs(specialization_slug, top_slug)
    requested = specs.get(specialization_slug)
    if requested is None:
        return []
    names = {s["id"]: s["name"] for s in specs.values()}
    expert_pk = ExpertProfile._meta.pk
    cap = max_rate_cents if max_rate_cents is not None else MAX_RATE_CENTS
    clock_sql, clock_params = _tzclock_sql(now=now, deadline=deadline)
    today = now.date()
    adapt_date = connection.ops.adapt_datefield_value

    org_pk = CompanyBlock._meta.get_field("organization").target_field
    where, params = sql.request_filters(
        node_id=requested["id"],
        max_rate_cents=max_rate_cents,
        credential_on=adapt_date(today) if requested["requires_credentials"] else None,
        excluded=[expert_pk.get_db_prep_value(x, connection) for x in exclude_expert_ids],
        organization_id=(
            None
            if organization_id is None
            else org_pk.get_db_prep_value(organization_id, connection)
        ),
        qualification_required=bool(requested["has_test"]),
    )
    supply_where, supply_params = sql.free_and_available(today=today)
    where.extend(supply_where)
    params.extend(supply_params)

    w = WEIGHTS
    score_params = [
        w["exact"],
        w["years"],
        YEARS_CAP,
        YEARS_CAP,
        YEARS_CAP,
        w["rating"],
        RATING_PRIOR,
        w["completion"],
        w["on_time"],
        w["headroom"],
        cap,
        cap,
        w["load"],
        w["accuracy"],
        ACCURACY_PRIOR,
    ]
    # Query 2: the ranking itself.
    with connection.cursor() as cursor:
        cursor.execute(
            sql.ranking(clock_sql=clock_sql, where=where),
            [*score_params, *clock_params, *params, int(limit)],
        )
        rows = cursor.fetchall()
    return _candidates_from_rows(
        rows, names=names, requested=requested, max_rate_cents=max_rate_cents
    )


def _candidates_from_rows(
    rows: list[tuple], *, names: dict, requested: dict, max_rate_cents: int | None
) -> list[Candidate]:
    """The ranking query's rows as candidates, each with the reason it was chosen."""
    expert_pk = ExpertProfile._meta.pk

    candidates = []
    for (
        expert_id,
        user_id,
        rate,
        rating_avg,
        rating_count,
        current_load,
        max_concurrent,
        always_available,
        years,
        best_spec_id,
        score,
        available_now,
    ) in rows:
        candidates.append(
            Candidate(
                expert_id=expert_pk.to_python(expert_id),
                user_id=int(user_id),
                rate_cents=int(rate),
                score=float(score),
                reason=_reason(
                    spec_name=names.get(best_spec_id, requested["name"]),
                    years=int(years),
                    rating_avg=float(rating_avg),
                    rating_count=int(rating_count),
                    rate_cents=int(rate),
                    max_rate_cents=max_rate_cents,
                    current_load=int(current_load),
                    max_concurrent=int(max_concurrent),
                    always_available=bool(always_available),
                    available_now=bool(available_now),
                ),
            )
        )
    return candidates


# Supply ---------------------------------------------------------------------------------------


def available_by_top_level(*, now: datetime) -> list[tuple[str, int]]:
    """(field name, experts a request in that field could be offered to right now) for every
    top-level field, in slug order, zeros included: every request-independent hard filter of
    candidates_rank, and a verified unexpired credential where the field requires one. One
    query, over the match rows of top-level nodes."""
    now = now.astimezone(UTC)
    today = now.date()
    clock_sql, clock_params = _tzclock_sql(now=now, deadline=None)
    conditions, params = sql.free_and_available(today=today)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.supply(clock_sql=clock_sql, conditions=conditions),
            [*clock_params, connection.ops.adapt_datefield_value(today), *params],
        )
        return [(name, int(count)) for name, count in cursor.fetchall()]
