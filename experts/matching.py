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

# SQL below is assembled only from table names, column names and constants; every value a caller
# passes travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import math
import uuid
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

from django.db import connection
from django.db.models import Q

from experts.models import (
    MAX_RATE_CENTS,
    AvailabilityWindow,
    CompanyBlock,
    ExpertProfile,
    MatchRow,
    Specialization,
    TimeOff,
)
from marketplace.models import User

MINUTES_PER_DAY = 1440
WEEK_MINUTES = 7 * MINUTES_PER_DAY

# The soft score: one place for every weight. Each term is in [0, 1] before weighting.
WEIGHTS: dict[str, float] = {
    "exact": 2.0,  # the expert holds the requested specialization itself, not only a child of it
    "years": 1.0,  # years of experience in the matched specialization, capped at YEARS_CAP
    "rating": 2.0,  # average rating / 5 (RATING_PRIOR while unrated)
    "completion": 1.0,  # share of accepted assignments completed
    "on_time": 1.0,  # share of completed assignments submitted before the deadline
    "headroom": 1.0,  # (cap - rate) / cap, the cap being the request's max rate or MAX_RATE_CENTS
    "load": 1.0,  # free share of the expert's concurrency cap
}
YEARS_CAP = 30
RATING_PRIOR = 0.8  # an unrated expert counts as 4 stars: new experts still get offers


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


def timezone_clock(*, now: datetime, deadline: datetime | None) -> list[ClockRow]:
    """Per zone: (zone, wm_start, wm_end, local date of now, touch words x3, inner words x3).

    [wm_start, wm_end) is the range of local week-minutes to test; `touch` marks the hours it
    meets and `inner` the hours it covers whole, for the hour masks of experts.models.MatchRow.
    """
    rows: list[ClockRow] = []
    masks: dict[tuple[int, int], tuple[int, ...]] = {}
    for name, zone in _zones():
        local_now = now.astimezone(zone)
        wm_start = _week_minute(local_now)
        wm_end = wm_start + 1
        if deadline is not None and deadline > now:
            # Wall-clock minutes between the start of now's minute and the deadline, rounded up:
            # windows are wall-clock, so a DST jump inside the range is counted as the clock shows.
            floor_now = local_now.replace(second=0, microsecond=0, tzinfo=None)
            local_deadline = deadline.astimezone(zone).replace(tzinfo=None)
            span = math.ceil((local_deadline - floor_now).total_seconds() / 60)
            wm_end = wm_start + min(max(span, 1), WEEK_MINUTES)
        key = (wm_start, wm_end)
        words = masks.get(key)
        if words is None:
            words = masks[key] = (
                *_words(_hour_bits(wm_start, wm_end)),
                *_words(_inner_bits(wm_start, wm_end)),
            )
        rows.append((name, wm_start, wm_end, local_now.date(), *words))
    return rows


_CLOCK_COLUMNS = ["tz", "wm_start", "wm_end", "local_date", "t0", "t1", "t2", "i0", "i1", "i2"]
_CLOCK_TYPES = [
    "text",
    "int",
    "int",
    "date",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
]


@lru_cache(maxsize=512)
def _clock(now_minute: datetime, deadline: datetime | None, vendor: str) -> tuple[str, tuple]:
    rows = timezone_clock(now=now_minute, deadline=deadline)
    if vendor == "postgresql":
        # One comma-separated string a column, split by the server: psycopg adapts a Python
        # list element by element on the client (6,000 values took 8 ms a ranking).
        columns = zip(*rows, strict=True)
        arrays = ", ".join(f"string_to_array(%s, ',')::{t}[]" for t in _CLOCK_TYPES)
        sql = f"SELECT * FROM unnest({arrays}) AS tzclock({', '.join(_CLOCK_COLUMNS)})"
        return sql, tuple(",".join(map(str, column)) for column in columns)
    placeholders = "(" + ", ".join(["%s"] * len(_CLOCK_COLUMNS)) + ")"
    values = ", ".join([placeholders] * len(rows))
    params = tuple(value for row in rows for value in (*row[:3], row[3].isoformat(), *row[4:]))
    names = ", ".join(f"column{i + 1} AS {c}" for i, c in enumerate(_CLOCK_COLUMNS))
    return f"SELECT {names} FROM (VALUES {values})", params


def _tzclock_sql(*, now: datetime, deadline: datetime | None) -> tuple[str, list]:
    """The derived table `tzclock` (see timezone_clock) for a query: string arrays on
    PostgreSQL, VALUES elsewhere. Memoized by the minute (everything the clock depends on), so
    the rankings of one matching pass build it once."""
    now_minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    sql, params = _clock(now_minute, deadline, connection.vendor)
    return sql, list(params)


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _window_overlaps(expert_id_sql: str, z: str = "z") -> str:
    """Exact: some weekly window of the expert overlaps [z.wm_start, z.wm_end)."""
    day = MINUTES_PER_DAY
    return f"""EXISTS (SELECT 1 FROM {_t(AvailabilityWindow)} w WHERE w.expert_id = {expert_id_sql}
            AND ((w.weekday * {day} + w.start_minute < {z}.wm_end
                  AND w.weekday * {day} + w.end_minute > {z}.wm_start)
              OR (w.weekday * {day} + w.start_minute + {WEEK_MINUTES} < {z}.wm_end
                  AND w.weekday * {day} + w.end_minute + {WEEK_MINUTES} > {z}.wm_start)))"""


def _not_on_time_off(expert_id_sql: str, z: str = "z") -> str:
    return f"""NOT EXISTS (SELECT 1 FROM {_t(TimeOff)} t WHERE t.expert_id = {expert_id_sql}
            AND t.start_date <= {z}.local_date AND t.end_date >= {z}.local_date)"""


def availability_condition(expert_alias: str = "e", clock_alias: str = "z") -> str:
    """SQL true when the expert may work in the clock's range (normalized tables): on call, or
    a window overlaps it, and not on time off on the local date."""
    e = expert_alias
    return (
        f"{_not_on_time_off(f'{e}.id', clock_alias)} AND ({e}.always_available OR "
        f"{_window_overlaps(f'{e}.id', clock_alias)})"
    )


def available_expert_ids_sql(*, now: datetime) -> tuple[str, list]:
    """A subquery of the ids of experts inside a window right now (for the directory filter)."""
    clock_sql, params = _tzclock_sql(now=now, deadline=None)
    sql = (
        f"SELECT e.id FROM {_t(ExpertProfile)} e JOIN ({clock_sql}) z ON z.tz = e.timezone "
        f"WHERE {availability_condition()}"
    )
    return sql, params


# Ranking ------------------------------------------------------------------------------------


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


def _free_and_available(*, today: date) -> tuple[list[str], list]:
    """The hard filters that do not depend on the request, over a match row `x` joined to the
    clock `z`: under the concurrency cap, not suspended, not on time off on the local date,
    and inside an availability window in the clock's range (or on call)."""
    adapt_date = connection.ops.adapt_datefield_value
    where = [
        "x.current_load < x.max_concurrent",
        f"x.user_id NOT IN (SELECT u.id FROM {_t(User)} u WHERE u.suspended_at IS NOT NULL)",
    ]
    params: list = []
    # Time off on the expert's local date: local dates are within a day of UTC's, so only
    # experts with time off touching those three days need the exact check.
    where.append(
        f"(x.expert_id NOT IN (SELECT t0.expert_id FROM {_t(TimeOff)} t0 "
        "WHERE t0.start_date <= %s AND t0.end_date >= %s) "
        f"OR {_not_on_time_off('x.expert_id')})"
    )
    params.extend(
        [
            adapt_date(date.fromordinal(today.toordinal() + 1)),
            adapt_date(date.fromordinal(today.toordinal() - 1)),
        ]
    )
    # Availability: the hour masks settle almost every row; only when the range meets an hour
    # that is partly inside a window do the windows themselves decide (minute precision).
    where.append(
        "(x.always_available"
        " OR ((x.full0 & z.t0) | (x.full1 & z.t1) | (x.full2 & z.t2)"
        "     | (x.any0 & z.i0) | (x.any1 & z.i1) | (x.any2 & z.i2)) <> 0"
        " OR (((x.any0 & z.t0) | (x.any1 & z.t1) | (x.any2 & z.t2)) <> 0"
        f"     AND {_window_overlaps('x.expert_id')}))"
    )
    return where, params


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
    # Query 1: the requested node and its top-level field (names for the reasons come along).
    specs = {
        s["slug"]: s
        for s in Specialization.objects.filter(
            Q(slug=specialization_slug)
            | Q(slug__startswith=f"{specialization_slug}.")
            | Q(slug=top_slug)
        ).values("id", "slug", "name", "requires_credentials")
    }
    requested = specs.get(specialization_slug)
    if requested is None:
        return []
    names = {s["id"]: s["name"] for s in specs.values()}
    expert_pk = ExpertProfile._meta.pk
    cap = max_rate_cents if max_rate_cents is not None else MAX_RATE_CENTS
    clock_sql, clock_params = _tzclock_sql(now=now, deadline=deadline)
    today = now.date()
    adapt_date = connection.ops.adapt_datefield_value

    # Hard filters. The NOT IN subqueries are small sets PostgreSQL hashes once per query.
    where = ["x.node_id = %s"]
    params: list = [requested["id"]]
    if max_rate_cents is not None:
        where.append("x.rate_cents <= %s")
        params.append(int(max_rate_cents))
    if requested["requires_credentials"]:
        # Verified, for this top-level field, not expired (credential_until is null without one).
        where.append("x.credential_until >= %s")
        params.append(adapt_date(today))
    excluded = [expert_pk.get_db_prep_value(x, connection) for x in exclude_expert_ids]
    if excluded:
        where.append(f"x.expert_id NOT IN ({', '.join(['%s'] * len(excluded))})")
        params.extend(excluded)
    if organization_id is not None:
        org_pk = CompanyBlock._meta.get_field("organization").target_field
        where.append(
            f"x.expert_id NOT IN (SELECT b.expert_id FROM {_t(CompanyBlock)} b "
            "WHERE b.organization_id = %s)"
        )
        params.append(org_pk.get_db_prep_value(organization_id, connection))
    supply_where, supply_params = _free_and_available(today=today)
    where.extend(supply_where)
    params.extend(supply_params)

    # The score, written once; the Python reference in the tests mirrors this expression.
    # Floating point throughout (CAST): PostgreSQL's NUMERIC arithmetic was a third of the time.
    w = WEIGHTS
    score_sql = (
        "(%s * (CASE WHEN x.exact THEN 1.0 ELSE 0.0 END)"
        " + %s * CAST(CASE WHEN x.years > %s THEN %s ELSE x.years END AS DOUBLE PRECISION) / %s"
        " + %s * (CASE WHEN x.rating_count > 0 THEN x.rating_avg / 5 ELSE %s END)"
        " + %s * x.completion_rate"
        " + %s * x.on_time_rate"
        " + %s * CAST(%s - x.rate_cents AS DOUBLE PRECISION) / %s"
        " + %s * CAST(x.max_concurrent - x.current_load AS DOUBLE PRECISION) / x.max_concurrent)"
    )
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
    ]
    ranked_sql = f"""
        SELECT x.expert_id AS expert_id, x.user_id AS user_id, x.rate_cents AS rate,
               x.rating_avg AS rating_avg, x.rating_count AS rating_count,
               x.current_load AS current_load, x.max_concurrent AS max_concurrent,
               x.always_available AS always_available, x.years AS years,
               x.best_spec_id AS best_spec_id, z.wm_start AS wm_start, {score_sql} AS score
        FROM {_t(MatchRow)} x
        JOIN ({clock_sql}) z ON z.tz = x.timezone
        WHERE {" AND ".join(where)}
        ORDER BY score DESC, x.expert_id
        LIMIT %s"""
    # Whether the winners are inside a window this very minute (for the reason only).
    window = _t(AvailabilityWindow)
    sql = f"""
        SELECT r.expert_id, r.user_id, r.rate, r.rating_avg, r.rating_count, r.current_load,
               r.max_concurrent, r.always_available, r.years, r.best_spec_id, r.score,
               EXISTS (SELECT 1 FROM {window} w2 WHERE w2.expert_id = r.expert_id
                       AND w2.weekday * {MINUTES_PER_DAY} + w2.start_minute <= r.wm_start
                       AND w2.weekday * {MINUTES_PER_DAY} + w2.end_minute > r.wm_start)
        FROM ({ranked_sql}) r
        ORDER BY r.score DESC, r.expert_id"""
    # Query 2: the ranking itself.
    with connection.cursor() as cursor:
        cursor.execute(sql, [*score_params, *clock_params, *params, int(limit)])
        rows = cursor.fetchall()

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
    conditions, params = _free_and_available(today=today)
    spec = _t(Specialization)
    sql = f"""
        SELECT s.name, COALESCE(a.available, 0)
        FROM {spec} s
        LEFT JOIN (
            SELECT x.node_id AS node_id, COUNT(*) AS available
            FROM {_t(MatchRow)} x
            JOIN {spec} n ON n.id = x.node_id
            JOIN ({clock_sql}) z ON z.tz = x.timezone
            WHERE n.parent_id IS NULL
              AND (NOT n.requires_credentials OR x.credential_until >= %s)
              AND {" AND ".join(conditions)}
            GROUP BY x.node_id
        ) a ON a.node_id = s.id
        WHERE s.parent_id IS NULL
        ORDER BY s.slug"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*clock_params, connection.ops.adapt_datefield_value(today), *params])
        return [(name, int(count)) for name, count in cursor.fetchall()]
