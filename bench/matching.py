"""Matching benchmark: rank the top 20 experts for a request at 1k, 10k and 100k experts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop .venv/bin/python bench/matching.py

Needs PostgreSQL (DATABASE_URL). Works in its own database (`--bench-db`, default
`inloop_match_bench_run`), created and dropped through Django's test-database machinery, so the
database named in DATABASE_URL is never touched. Experts are loaded with COPY, their match rows built (as `manage.py match_rows_rebuild`
does), the tables ANALYZEd, and each size is measured with `--runs` random requests
(random specialization, top-level or leaf; random rate cap; random instant in the week; a
deadline on a third of them). Prints p50/p95/p99 in milliseconds and the queries per ranking.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inloop_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

BENCH_DB = "inloop_match_bench_run"
SIZES = (1_000, 10_000, 100_000)
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Madrid",
    "Africa/Lagos",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
]


def _setup_django(bench_db: str) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench/matching.py needs DATABASE_URL=postgres://... (PostgreSQL)")
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = bench_db


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _load(rng: random.Random, start: int, count: int, organization_id) -> None:
    """Experts number start..start+count-1, spread over the whole taxonomy."""
    from django.db import connection

    from experts.match_index import match_rows_refresh
    from experts.models import Specialization

    specs = list(Specialization.objects.values("id", "slug", "parent_id", "requires_credentials"))
    leaves = [s for s in specs if s["parent_id"] is not None]
    tops = {s["id"]: s for s in specs if s["parent_id"] is None}
    now = datetime.now(UTC)
    today = date.today()
    users, profiles, expert_specs, windows, credentials, time_off, blocks = ([] for _ in range(7))
    for n in range(start, start + count):
        user_id = n + 1
        expert_id = uuid.uuid4()
        users.append(
            (user_id, f"bench{n}@inloop.test", "!", "expert", False, False, True, now, "", "", "")
        )
        always = rng.random() < 0.02
        max_concurrent = rng.choice([1, 2, 2, 3, 4])
        completed = rng.randint(0, 500)
        on_time = round(completed * rng.uniform(0.7, 1.0))
        dropped = round(completed * rng.uniform(0.0, 0.3))
        responses = completed + dropped + rng.randint(0, 100)
        response_seconds = rng.randint(20, 900)
        profiles.append(
            (
                expert_id,
                user_id,
                f"Bench Expert {n}",
                "",
                "",
                "[]",
                rng.randrange(1_000, 40_001, 500) if rng.random() < 0.9 else 60_000,
                "usd",
                rng.choice(ZONES),
                max_concurrent,
                rng.random() < 0.9,
                always,
                rng.randint(0, max_concurrent),
                round(rng.uniform(3.0, 5.0), 2),
                rng.randint(0, 200),
                completed,
                on_time,
                dropped,
                on_time / completed if completed else 1.0,
                completed / (completed + dropped) if completed + dropped else 1.0,
                responses,
                responses * response_seconds,
                response_seconds if responses else None,
                now,
                now,
            )
        )
        picked = rng.sample(leaves, k=rng.choice([1, 1, 2, 3]))
        if rng.random() < 0.1:
            picked.append(tops[picked[0]["parent_id"]])
        for spec in {s["id"]: s for s in picked}.values():
            expert_specs.append((expert_id, spec["id"], rng.randint(0, 35)))
        for weekday in range(7 if rng.random() < 0.2 else 5):
            start_minute = rng.choice([6, 7, 8, 9, 12, 14, 18]) * 60
            windows.append((expert_id, weekday, start_minute, start_minute + 240))
            windows.append((expert_id, weekday, start_minute + 300, min(1440, start_minute + 540)))
        field = tops[picked[0]["parent_id"]]
        if field["requires_credentials"]:
            status = rng.choices(["verified", "pending", "rejected"], [85, 10, 5])[0]
            expires = today + timedelta(days=rng.randint(-60, 1500))
            credentials.append(
                (expert_id, field["id"], "other", "Board", "", "", expires, "", "", status, "", now)
            )
        if rng.random() < 0.05:
            off_start = today + timedelta(days=rng.randint(-5, 20))
            time_off.append(
                (expert_id, off_start, off_start + timedelta(days=rng.randint(0, 10)), "")
            )
        if rng.random() < 0.01:
            blocks.append((organization_id, expert_id, now))
    with connection.cursor() as cursor:
        _copy(
            cursor,
            "marketplace_user",
            [
                "id",
                "email",
                "password",
                "account_type",
                "is_superuser",
                "is_staff",
                "is_active",
                "date_joined",
                "first_name",
                "last_name",
                "suspended_reason",
            ],
            users,
        )
        _copy(
            cursor,
            "experts_expertprofile",
            [
                "id",
                "user_id",
                "display_name",
                "headline",
                "bio",
                "languages",
                "hourly_rate_cents",
                "currency",
                "timezone",
                "max_concurrent",
                "accepting_work",
                "always_available",
                "current_load",
                "rating_avg",
                "rating_count",
                "completed_count",
                "on_time_count",
                "dropped_count",
                "on_time_rate",
                "completion_rate",
                "response_count",
                "response_seconds_total",
                "avg_response_seconds",
                "created_at",
                "updated_at",
            ],
            profiles,
        )
        _copy(
            cursor,
            "experts_expertspecialization",
            ["expert_id", "specialization_id", "years"],
            expert_specs,
        )
        _copy(
            cursor,
            "experts_availabilitywindow",
            ["expert_id", "weekday", "start_minute", "end_minute"],
            windows,
        )
        _copy(
            cursor,
            "experts_credential",
            [
                "expert_id",
                "field_id",
                "kind",
                "issuer",
                "number",
                "jurisdiction",
                "expires_on",
                "document",
                "document_content_type",
                "status",
                "rejection_reason",
                "created_at",
            ],
            credentials,
        )
        _copy(cursor, "experts_timeoff", ["expert_id", "start_date", "end_date", "note"], time_off)
        _copy(
            cursor, "experts_companyblock", ["organization_id", "expert_id", "created_at"], blocks
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('marketplace_user', 'id'), "
            "(SELECT MAX(id) FROM marketplace_user))"
        )
    # COPY sends no signals: build the matching cache the way `match_rows_rebuild` does.
    match_rows_refresh(expert_ids=[p[0] for p in profiles])
    with connection.cursor() as cursor:
        # What autovacuum does on a live system: statistics, and the visibility map that lets
        # the ranking use index-only scans.
        cursor.execute("VACUUM ANALYZE")


def _measure(rng: random.Random, runs: int, organization_id) -> tuple[list[float], set[int], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from experts.models import Specialization
    from experts.selectors import candidates_rank

    slugs = list(Specialization.objects.values_list("slug", flat=True))
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    timings: list[float] = []
    query_counts: set[int] = set()
    returned = 0
    for i in range(runs + 10):
        now = monday + timedelta(minutes=rng.randrange(7 * 1440))
        deadline = now + timedelta(hours=rng.choice([2, 8, 30])) if rng.random() < 0.33 else None
        kwargs = {
            "specialization_slug": rng.choice(slugs),
            "max_rate_cents": rng.choice([None, 5_000, 15_000, 30_000]),
            "organization_id": organization_id,
            "exclude_expert_ids": [uuid.uuid4() for _ in range(rng.randint(0, 3))],
            "now": now,
            "deadline": deadline,
            "limit": 20,
        }
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            result = candidates_rank(**kwargs)
            elapsed = (time.perf_counter() - started) * 1000
        if i >= 10:  # the first ten warm caches and plans
            timings.append(elapsed)
            query_counts.add(len(ctx.captured_queries))
            returned += len(result)
    return timings, query_counts, returned // runs


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="rankings measured per size")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--bench-db", default=BENCH_DB, help="scratch database (created, then dropped)"
    )
    args = parser.parse_args()
    _setup_django(args.bench_db)
    from django.db import connection

    from marketplace.models import Organization

    sizes = [int(s) for s in args.sizes.split(",")]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        organization = Organization.objects.create(name="Bench AI", slug="bench-ai")
        rng = random.Random(20260302)
        loaded = 0
        print(
            f"{'experts':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'queries':>8} {'found':>6}"
        )
        for size in sizes:
            started = time.perf_counter()
            _load(rng, loaded, size - loaded, organization.pk)
            loaded = size
            load_s = time.perf_counter() - started
            timings, query_counts, found = _measure(rng, args.runs, organization.pk)
            print(
                f"{size:>8} {_percentile(timings, 50):>8.1f} {_percentile(timings, 95):>8.1f} "
                f"{_percentile(timings, 99):>8.1f} {','.join(map(str, sorted(query_counts))):>8} "
                f"{found:>6}   (loaded in {load_s:.0f} s, mean {statistics.mean(timings):.1f} ms)",
                flush=True,
            )
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
