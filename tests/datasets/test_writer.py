"""Running an export: the file in the default storage, its SHA-256, progress every chunk, the
filters, and a failure that leaves no file and a failed export with its error."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from datasets import formats, services, writer
from datasets.models import Export
from datasets.schemas import ExportFiltersIn
from tests.datasets.conftest import corrected_request
from tests.factories import PolicyFactory, ReviewRequestFactory, specialization

pytestmark = pytest.mark.django_db


def _create(organization, fmt="dpo", **filters) -> Export:
    return services.export_create(
        organization=organization, format=fmt, filters=ExportFiltersIn(**filters)
    )


def _lines(export: Export) -> list[dict]:
    with default_storage.open(export.file.name, "rb") as handle:
        return [json.loads(line) for line in handle.read().splitlines()]


def test_a_dpo_export_writes_the_file_its_hash_and_counts(organization):
    first = corrected_request(organization, corrected="Fixed one.")
    corrected_request(organization, corrected="Fixed two.")
    ReviewRequestFactory(organization=organization)  # queued: no result, not read
    export = _create(organization)
    assert writer.export_write(export_id=export.pk) == "completed"

    export.refresh_from_db()
    with default_storage.open(export.file.name, "rb") as handle:
        body = handle.read()
    assert export.sha256 == hashlib.sha256(body).hexdigest()
    assert export.size_bytes == len(body)
    assert export.rows == 2 and export.rows_done == 2 and export.rows_total == 2
    assert export.schema_version == "inloop.dpo.v1"
    assert export.file.name == f"exports/{organization.pk}/{export.pk}.jsonl"
    lines = _lines(export)
    assert [line["chosen"] for line in lines] == ["Fixed one.", "Fixed two."]
    assert lines[0]["review_request_id"] == str(first.pk)
    assert list(export.history.values_list("to_status", flat=True)) == [
        "queued",
        "running",
        "completed",
    ]


def test_progress_is_saved_after_every_chunk(organization, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 2)
    for n in range(5):
        corrected_request(organization, corrected=f"Fixed {n}.")
    seen = []
    original = services.export_progress

    def spy(**kwargs):
        seen.append(kwargs["rows_done"])
        original(**kwargs)

    monkeypatch.setattr(services, "export_progress", spy)
    export = _create(organization, "sft")
    writer.export_write(export_id=export.pk)
    assert seen == [0, 2, 4, 5]
    export.refresh_from_db()
    assert export.rows == 5 and export.progressed_at is not None


def test_the_source_is_read_in_chunks_with_a_fixed_number_of_queries(organization, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 2)
    for n in range(6):
        corrected_request(organization, corrected=f"Fixed {n}.")
    export = _create(organization, "rubric")
    with CaptureQueriesContext(connection) as queries:
        writer.export_write(export_id=export.pk)
    selects = [q["sql"] for q in queries if "review_requests_reviewrequest" in q["sql"]]
    # One count, then the rows: no query per row (on SQLite fetched in chunks from one cursor).
    assert len(selects) == 2, selects


def test_a_failure_mid_file_leaves_no_file_and_a_failed_export_with_its_error(
    organization, monkeypatch
):
    monkeypatch.setattr(writer, "CHUNK", 1)
    corrected_request(organization, corrected="Fine.")
    corrected_request(organization, corrected="Breaks.")
    real = formats.LINES["dpo"]

    def breaking(row):
        if (row["result"] or {}).get("corrected_output") == "Breaks.":
            raise ValueError("row 2 is bad")
        return real(row)

    monkeypatch.setitem(formats.LINES, "dpo", breaking)
    export = _create(organization)
    assert writer.export_write(export_id=export.pk) == "failed"
    export.refresh_from_db()
    assert export.status == "failed" and "row 2 is bad" in export.error
    assert not export.file and not export.sha256
    assert not default_storage.exists(writer.storage_name(export))
    assert export.finished_at is not None


def test_a_short_write_is_never_marked_completed(organization, monkeypatch):
    corrected_request(organization)
    monkeypatch.setattr(default_storage, "size", lambda name: 1)
    export = _create(organization)
    assert writer.export_write(export_id=export.pk) == "failed"
    export.refresh_from_db()
    assert "bytes of the" in export.error
    assert not default_storage.exists(writer.storage_name(export))


def test_a_rerun_after_a_dead_worker_starts_again_and_replaces_the_half_file(organization):
    corrected_request(organization)
    export = _create(organization)
    services.export_start(export=export)  # the first claim, whose worker then died
    default_storage.save(writer.storage_name(export), io.BytesIO(b'{"half'))
    assert writer.export_write(export_id=export.pk) == "completed"
    export.refresh_from_db()
    assert export.file.name == writer.storage_name(export)
    assert _lines(export)[0]["chosen"] == "Fixed."


def test_a_finished_export_is_not_run_again(organization):
    corrected_request(organization)
    export = _create(organization)
    writer.export_write(export_id=export.pk)
    export.refresh_from_db()
    sha = export.sha256
    assert writer.export_write(export_id=export.pk) == "completed"
    export.refresh_from_db()
    assert export.sha256 == sha and export.history.count() == 3


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"old", "new", "medicine", "policy", "routed", "agreed", "law"}),
        ({"specialization": "law"}, {"law"}),
        ({"specialization": "medicine"}, {"old", "new", "medicine", "policy", "routed", "agreed"}),
        ({"policy": "p-7"}, {"policy", "routed"}),
        ({"agreement_min": 0.8}, {"agreed"}),
        ({"status": ["disputed"]}, {"disputed"}),
        ({"status": ["completed", "disputed"], "specialization": "law"}, {"law", "disputed"}),
    ],
)
def test_filters_choose_the_requests(organization, other_organization, filters, expected):
    now = timezone.now()
    corrected_request(organization, corrected="old", completed_at=now - timedelta(days=40))
    corrected_request(organization, corrected="new")
    corrected_request(organization, corrected="medicine")
    corrected_request(organization, corrected="policy", metadata={"policy": "p-7"})
    routed_by = PolicyFactory(organization=organization, name="p-7").versions.get()
    corrected_request(organization, corrected="routed", policy_version=routed_by)
    theirs = PolicyFactory(organization=other_organization, name="p-7").versions.get()
    corrected_request(other_organization, corrected="theirs-routed", policy_version=theirs)
    corrected_request(organization, corrected="agreed", reviewers=2, agreement=0.9)
    corrected_request(organization, corrected="low", reviewers=2, agreement=0.5, status="in_review")
    corrected_request(organization, corrected="law", specialization=specialization("law.contracts"))
    corrected_request(
        organization,
        corrected="disputed",
        status="disputed",
        specialization=specialization("law.contracts"),
    )
    corrected_request(other_organization, corrected="theirs")
    export = _create(organization, "sft", **filters)
    writer.export_write(export_id=export.pk)
    export.refresh_from_db()
    assert {line["completion"] for line in _lines(export)} == expected


def test_the_period_filter(organization):
    now = timezone.now()
    corrected_request(organization, corrected="old", completed_at=now - timedelta(days=40))
    corrected_request(organization, corrected="new", completed_at=now - timedelta(days=1))
    export = _create(organization, "sft", completed_after=now - timedelta(days=7))
    writer.export_write(export_id=export.pk)
    export.refresh_from_db()
    assert [line["completion"] for line in _lines(export)] == ["new"]
    before = _create(organization, "sft", completed_before=now - timedelta(days=7))
    writer.export_write(export_id=before.pk)
    before.refresh_from_db()
    assert [line["completion"] for line in _lines(before)] == ["old"]


def test_raw_has_one_line_per_review(organization):
    corrected_request(organization, reviewers=2)
    export = _create(organization, "raw")
    writer.export_write(export_id=export.pk)
    export.refresh_from_db()
    lines = _lines(export)
    assert export.rows == 2 and export.rows_total == 2
    assert {line["assignment"]["billed_seconds"] for line in lines} == {300, 301}
    assert export.schema_version == "inloop.raw.v1"


def test_an_empty_export_completes_with_an_empty_file(organization):
    export = _create(organization)
    assert writer.export_write(export_id=export.pk) == "completed"
    export.refresh_from_db()
    assert export.rows == 0 and export.sha256 == hashlib.sha256(b"").hexdigest()


def test_stale_running_exports_are_failed_and_free_their_slot(organization):
    export = _create(organization)
    services.export_start(export=export)
    Export.objects.filter(pk=export.pk).update(progressed_at=timezone.now() - timedelta(hours=1))
    fresh = _create(organization)
    services.export_start(export=fresh)
    assert services.exports_fail_stale() == 1
    export.refresh_from_db()
    fresh.refresh_from_db()
    assert export.status == "failed" and "worker" in export.error
    assert fresh.status == "running"
