"""Benchmark: one dataset export over 100k completed reviews, on PostgreSQL: rows per second and
the peak RSS of the process against its RSS before the export.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop_datasets_bench \\
        .venv/bin/python bench/exports.py --reviews 100000 --format dpo

The database named in DATABASE_URL is created if missing and EMPTIED (flush) first: never point
it at data you want to keep. The seeding (one organization, one expert, N completed requests
with one corrected review each: bulk_create, not measured) runs in a child process, so its
memory does not count in the export's peak. Measured, in this process: the export task's work
(datasets.writer.export_write, as the worker runs it) from the count query to the completed
row, with the file written to a temporary MEDIA_ROOT. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 5_000
# A review of a believable size: a paragraph of output, a corrected paragraph, a summary.
OUTPUT = "The scan shows a small fracture of the left radius without displacement. " * 6
CORRECTED = "The scan shows a hairline fracture of the distal left radius, not displaced. " * 6


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = url.rsplit("/", 1)
    name = parts[1].split("?")[0]
    with psycopg.connect(parts[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _django(media_root: str | None = None) -> None:
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdefghijklmnop")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inloop_site.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    if media_root:
        os.environ["MEDIA_ROOT"] = media_root
    import django

    django.setup()


def _request(organization, specialization, when, n: int):
    from review_requests.models import ReviewRequest

    return ReviewRequest(
        id=uuid.uuid4(),
        organization=organization,
        title=f"Radiology report {n}",
        specialization=specialization,
        content_type="text",
        content={"type": "text", "body": f"{OUTPUT}({n})"},
        prompt=f"Summarize the X-ray report of case {n}.",
        model_name="acme-med-7b",
        rubric=[{"key": "accuracy", "label": "Accuracy", "scale": 5}],
        max_hours=1,
        status="completed",
        created_at=when,
        completed_at=when,
        metadata={"case": n, "policy": "radiology-v1"},
    )


def _result(assignment_id, n: int) -> dict:
    review = {
        "assignment_id": str(assignment_id),
        "verdict": "corrected",
        "corrected_output": f"{CORRECTED}({n})",
        "summary": "Missed the displacement grade.",
        "scores": {"accuracy": 2 + n % 4},
        "annotations": [
            {"start": 0, "end": 8, "quote": "The scan", "comment": "c", "severity": "minor"}
        ],
    }
    fields = ("verdict", "corrected_output", "summary", "scores", "annotations")
    return {**{k: review[k] for k in fields}, "reviews": [review], "agreement": None}


def seed(reviews: int) -> dict:
    """The child process: migrate, flush, and bulk-create `reviews` completed requests."""
    from django.core.management import call_command
    from django.utils import timezone

    from experts.models import ExpertProfile, Specialization
    from marketplace.models import User
    from marketplace.services import organization_create
    from review_requests.models import Assignment, Review, ReviewRequest

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    # The flush emptied the taxonomy too, and a second migrate runs nothing (every migration is
    # recorded): load it as its data migration does (tests/conftest.py does the same).
    from django.apps import apps

    importlib.import_module("experts.migrations.0003_load_taxonomy").load_taxonomy(apps, None)
    started = time.monotonic()
    owner = User.objects.create_user("owner@bench.test", "x", account_type="company")
    organization = organization_create(owner=owner, name="Bench AI")
    expert = ExpertProfile.objects.create(
        user=User.objects.create_user("erin@bench.test", "x", account_type="expert"),
        display_name="Erin",
        hourly_rate_cents=10_000,
    )
    specialization = Specialization.objects.get(slug="medicine.radiology")
    base = timezone.now() - timedelta(days=30)
    for start in range(0, reviews, BATCH):
        numbers = range(start, min(start + BATCH, reviews))
        requests = [
            _request(organization, specialization, base + timedelta(seconds=n), n) for n in numbers
        ]
        assignments = [
            Assignment(
                id=uuid.uuid4(),
                review_request=rr,
                expert=expert,
                rate_cents=10_000,
                status="submitted",
                max_seconds=3600,
                billed_seconds=600,
                submitted_at=rr.completed_at,
            )
            for rr in requests
        ]
        for n, rr, assignment in zip(numbers, requests, assignments, strict=True):
            rr.result = _result(assignment.id, n)
        ReviewRequest.objects.bulk_create(requests)
        Assignment.objects.bulk_create(assignments)
        Review.objects.bulk_create(
            Review(assignment=a, **{k: rr.result[k] for k in ("verdict", "corrected_output", "summary", "scores", "annotations")})
            for rr, a in zip(requests, assignments, strict=True)
        )  # fmt: skip
    return {"organization_id": str(organization.pk), "seed_seconds": time.monotonic() - started}


def _rss_kib() -> int:
    """The process's resident set now (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(organization_id: str, fmt: str) -> dict:
    from datasets import services, writer
    from datasets.models import Export
    from datasets.schemas import ExportFiltersIn
    from marketplace.models import Organization

    organization = Organization.objects.get(pk=organization_id)
    export = services.export_create(
        organization=organization, format=fmt, filters=ExportFiltersIn()
    )
    rss_before = _rss_kib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    status = writer.export_write(export_id=export.pk)
    seconds = time.monotonic() - started
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    export = Export.objects.get(pk=export.pk)
    return {
        "format": fmt,
        "status": status,
        "error": export.error or None,
        "source_rows": export.rows_done,
        "lines": export.rows,
        "file_mib": round((export.size_bytes or 0) / 2**20, 1),
        "seconds": round(seconds, 2),
        "source_rows_per_second": round(export.rows_done / seconds) if seconds else None,
        "rss_before_mib": round(rss_before / 1024, 1),
        "peak_rss_before_mib": round(peak_before / 1024, 1),
        "peak_rss_after_mib": round(peak_after / 1024, 1),
        "peak_growth_mib": round((peak_after - peak_before) / 1024, 1),
        "chunk_rows": writer.CHUNK,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--format", default="dpo", choices=["sft", "dpo", "rubric", "raw"])
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-seed", metavar="ORGANIZATION_ID", help="reuse a seeded database")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (a scratch database: it is emptied).")
    if args.seed_only:
        _django()
        print(json.dumps(seed(args.reviews)))
        return
    _ensure_database(url)
    seeded = {"organization_id": args.no_seed, "seed_seconds": None}
    if not args.no_seed:
        child = subprocess.run(
            [sys.executable, __file__, "--seed-only", "--reviews", str(args.reviews)],
            capture_output=True,
            text=True,
            check=True,
        )
        seeded = json.loads(child.stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as media:
        _django(media)
        result = measure(seeded["organization_id"], args.format)
    result["reviews"] = args.reviews
    result["seed_seconds"] = seeded["seed_seconds"] and round(seeded["seed_seconds"], 1)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
