"""The hand-written SQL of matching (experts/matching.py says what the ranking does and why it is
one query). Each statement is here because the ORM cannot express it:

- every statement joins `tzclock`, a table built from parameters (VALUES, or unnest of arrays on
  PostgreSQL): the ORM joins models and subqueries in WHERE, never a derived table in FROM;
- the ranking orders by a score over that join and then reads, of the LIMITed rows only, whether
  each winner is inside a window this minute: a query over a LIMITed derived table, which the
  ORM cannot put in FROM either.

Assembled only from table names, column names and constants; every value a caller passes
travels as a query parameter.
"""

# ruff: noqa: S608

from __future__ import annotations

from datetime import date

from django.db import connection

from experts.models import (
    AvailabilityWindow,
    CompanyBlock,
    ExpertProfile,
    MatchRow,
    Specialization,
    SpecializationStanding,
    TimeOff,
)
from marketplace.models import User

MINUTES_PER_DAY = 1440
WEEK_MINUTES = 7 * MINUTES_PER_DAY

CLOCK_COLUMNS = ["tz", "wm_start", "wm_end", "local_date", "t0", "t1", "t2", "i0", "i1", "i2"]
CLOCK_TYPES = ["text", "int", "int", "date", *["bigint"] * 6]


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# The clock table --------------------------------------------------------------------------------


def clock_from_groups(groups) -> tuple[str, tuple]:
    """PostgreSQL: `tzclock` from the zones' clock groups, one comma-separated string a column,
    split by the server: psycopg adapts a Python list element by element on the client (6,000
    values took 8 ms a ranking). Rows come group by group, so a value column is its group's
    text repeated once per zone."""
    columns = [",".join(name for _, names in groups for name in names)]
    for index in range(len(CLOCK_COLUMNS) - 1):
        columns.append(
            ",".join(",".join([str(values[index])] * len(names)) for values, names in groups)
        )
    arrays = ", ".join(f"string_to_array(%s, ',')::{t}[]" for t in CLOCK_TYPES)
    sql = f"SELECT * FROM unnest({arrays}) AS tzclock({', '.join(CLOCK_COLUMNS)})"
    return sql, tuple(columns)


def clock_from_rows(rows) -> tuple[str, tuple]:
    """Other databases: `tzclock` as VALUES, one row per zone."""
    placeholders = "(" + ", ".join(["%s"] * len(CLOCK_COLUMNS)) + ")"
    values = ", ".join([placeholders] * len(rows))
    params = tuple(value for row in rows for value in (*row[:3], row[3].isoformat(), *row[4:]))
    names = ", ".join(f"column{i + 1} AS {c}" for i, c in enumerate(CLOCK_COLUMNS))
    return f"SELECT {names} FROM (VALUES {values})", params


# Availability -----------------------------------------------------------------------------------


def window_overlaps(expert_id_sql: str, z: str = "z") -> str:
    """Exact: some weekly window of the expert overlaps [z.wm_start, z.wm_end), also shifted by
    a week (a range that wraps past Sunday midnight)."""
    day = MINUTES_PER_DAY
    return f"""EXISTS (SELECT 1 FROM {table(AvailabilityWindow)} w
            WHERE w.expert_id = {expert_id_sql}
            AND ((w.weekday * {day} + w.start_minute < {z}.wm_end
                  AND w.weekday * {day} + w.end_minute > {z}.wm_start)
              OR (w.weekday * {day} + w.start_minute + {WEEK_MINUTES} < {z}.wm_end
                  AND w.weekday * {day} + w.end_minute + {WEEK_MINUTES} > {z}.wm_start)))"""


def not_on_time_off(expert_id_sql: str, z: str = "z") -> str:
    return f"""NOT EXISTS (SELECT 1 FROM {table(TimeOff)} t WHERE t.expert_id = {expert_id_sql}
            AND t.start_date <= {z}.local_date AND t.end_date >= {z}.local_date)"""


def availability_condition(expert_alias: str = "e", clock_alias: str = "z") -> str:
    """True when the expert may work in the clock's range (normalized tables): on call, or a
    window overlaps it, and not on time off on the local date."""
    e = expert_alias
    return (
        f"{not_on_time_off(f'{e}.id', clock_alias)} AND ({e}.always_available OR "
        f"{window_overlaps(f'{e}.id', clock_alias)})"
    )


def available_expert_ids(clock_sql: str) -> str:
    """The ids of experts inside a window right now (the directory's filter, as a subquery)."""
    return (
        f"SELECT e.id FROM {table(ExpertProfile)} e JOIN ({clock_sql}) z ON z.tz = e.timezone "
        f"WHERE {availability_condition()}"
    )


# Ranking ----------------------------------------------------------------------------------------


def request_filters(
    *,
    node_id,
    max_rate_cents: int | None,
    credential_on,
    excluded: list,
    organization_id,
    qualification_required: bool = False,
) -> tuple[list[str], list]:
    """The hard filters of one request over a match row `x` and the expert's standing `s` in
    the requested node (LEFT JOINed: NULL columns when the expert has none). The NOT IN
    subqueries are small sets PostgreSQL hashes once per query."""
    # Never an expert suspended in this specialization for golden-item accuracy; and where the
    # node has a qualification test, only experts who passed it.
    where = ["x.node_id = %s", "s.suspended_at IS NULL"]
    if qualification_required:
        where.append("s.qualified_at IS NOT NULL")
    params: list = [node_id]
    if max_rate_cents is not None:
        where.append("x.rate_cents <= %s")
        params.append(int(max_rate_cents))
    if credential_on is not None:
        # Verified, for this top-level field, not expired (credential_until is null without one).
        where.append("x.credential_until >= %s")
        params.append(credential_on)
    if excluded:
        where.append(f"x.expert_id NOT IN ({', '.join(['%s'] * len(excluded))})")
        params.extend(excluded)
    if organization_id is not None:
        where.append(
            f"x.expert_id NOT IN (SELECT b.expert_id FROM {table(CompanyBlock)} b "
            "WHERE b.organization_id = %s)"
        )
        params.append(organization_id)
    return where, params


def free_and_available(*, today: date) -> tuple[list[str], list]:
    """The hard filters that do not depend on the request, over a match row `x` joined to the
    clock `z`: under the concurrency cap, not suspended, not on time off on the local date,
    and inside an availability window in the clock's range (or on call)."""
    adapt_date = connection.ops.adapt_datefield_value
    where = [
        "x.current_load < x.max_concurrent",
        f"x.user_id NOT IN (SELECT u.id FROM {table(User)} u WHERE u.suspended_at IS NOT NULL)",
    ]
    params: list = []
    # Time off on the expert's local date: local dates are within a day of UTC's, so only
    # experts with time off touching those three days need the exact check.
    where.append(
        f"(x.expert_id NOT IN (SELECT t0.expert_id FROM {table(TimeOff)} t0 "
        "WHERE t0.start_date <= %s AND t0.end_date >= %s) "
        f"OR {not_on_time_off('x.expert_id')})"
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
        f"     AND {window_overlaps('x.expert_id')}))"
    )
    return where, params


# The score, written once; the Python reference in the tests mirrors this expression. Its
# parameters, in order: the weights of exact, years (with YEARS_CAP three times), rating (with
# RATING_PRIOR), completion, on_time, headroom (with the cap twice), load, and accuracy on
# golden items in the requested node (with ACCURACY_PRIOR while unmeasured). Floating point
# throughout (CAST): PostgreSQL's NUMERIC arithmetic was a third of the time.
SCORE = (
    "(%s * (CASE WHEN x.exact THEN 1.0 ELSE 0.0 END)"
    " + %s * CAST(CASE WHEN x.years > %s THEN %s ELSE x.years END AS DOUBLE PRECISION) / %s"
    " + %s * (CASE WHEN x.rating_count > 0 THEN x.rating_avg / 5 ELSE %s END)"
    " + %s * x.completion_rate"
    " + %s * x.on_time_rate"
    " + %s * CAST(%s - x.rate_cents AS DOUBLE PRECISION) / %s"
    " + %s * CAST(x.max_concurrent - x.current_load AS DOUBLE PRECISION) / x.max_concurrent"
    " + %s * (CASE WHEN s.golden_total > 0"
    "         THEN CAST(s.golden_correct AS DOUBLE PRECISION) / s.golden_total ELSE %s END))"
)


def ranking(*, clock_sql: str, where: list[str]) -> str:
    """The best match rows by SCORE, cut at a LIMIT, and whether each winner is inside a window
    this very minute (for the reason only). Parameters: the score's, the clock's, the
    filters', the limit."""
    ranked = f"""
        SELECT x.expert_id AS expert_id, x.user_id AS user_id, x.rate_cents AS rate,
               x.rating_avg AS rating_avg, x.rating_count AS rating_count,
               x.current_load AS current_load, x.max_concurrent AS max_concurrent,
               x.always_available AS always_available, x.years AS years,
               x.best_spec_id AS best_spec_id, z.wm_start AS wm_start, {SCORE} AS score
        FROM {table(MatchRow)} x
        JOIN ({clock_sql}) z ON z.tz = x.timezone
        LEFT JOIN {table(SpecializationStanding)} s
            ON s.expert_id = x.expert_id AND s.specialization_id = x.node_id
        WHERE {" AND ".join(where)}
        ORDER BY score DESC, x.expert_id
        LIMIT %s"""
    return f"""
        SELECT r.expert_id, r.user_id, r.rate, r.rating_avg, r.rating_count, r.current_load,
               r.max_concurrent, r.always_available, r.years, r.best_spec_id, r.score,
               EXISTS (SELECT 1 FROM {table(AvailabilityWindow)} w2
                       WHERE w2.expert_id = r.expert_id
                       AND w2.weekday * {MINUTES_PER_DAY} + w2.start_minute <= r.wm_start
                       AND w2.weekday * {MINUTES_PER_DAY} + w2.end_minute > r.wm_start)
        FROM ({ranked}) r
        ORDER BY r.score DESC, r.expert_id"""


def supply(*, clock_sql: str, conditions: list[str]) -> str:
    """(field name, available experts) per top-level field, zeros included. Parameters: the
    clock's, the date for credentials, the conditions'."""
    spec = table(Specialization)
    return f"""
        SELECT s.name, COALESCE(a.available, 0)
        FROM {spec} s
        LEFT JOIN (
            SELECT x.node_id AS node_id, COUNT(*) AS available
            FROM {table(MatchRow)} x
            JOIN {spec} n ON n.id = x.node_id
            JOIN ({clock_sql}) z ON z.tz = x.timezone
            WHERE n.parent_id IS NULL
              AND (NOT n.requires_credentials OR x.credential_until >= %s)
              AND {" AND ".join(conditions)}
            GROUP BY x.node_id
        ) a ON a.node_id = s.id
        WHERE s.parent_id IS NULL
        ORDER BY s.slug"""
