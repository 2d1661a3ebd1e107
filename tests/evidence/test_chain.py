"""The per-organization hash chain and evidence_verify: every entry links to the one before,
a row edited through SQL or a removed entry is named as the first break (exit 1), the daily
anchor covers every head, and on PostgreSQL a trigger refuses UPDATE."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from evidence import services
from evidence.canonical import canonical_json, link_hash
from evidence.models import ChainHead, EvidenceEntry
from evidence.selectors import chain_verify
from tests.evidence.support import completed_request
from tests.factories import CreditGrantFactory

pytestmark = pytest.mark.django_db


def verify(*args) -> str:
    out = io.StringIO()
    call_command("evidence_verify", *args, stdout=out)
    return out.getvalue()


def sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def two_records(organization, expert, other_expert, operator, django_capture_on_commit_callbacks):
    _first, _ = completed_request(
        organization, expert, operator, django_capture_on_commit_callbacks
    )
    _second, _ = completed_request(
        organization, other_expert, operator, django_capture_on_commit_callbacks
    )
    return list(EvidenceEntry.objects.filter(organization=organization).order_by("position"))


def test_canonical_json_sorts_keys_without_whitespace_in_utf8():
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()
    assert link_hash("0" * 64, {"a": 1}) == link_hash("0" * 64, json.loads('{ "a" : 1 }'))


def test_entries_link_in_order_and_the_chain_verifies(organization, two_records):
    first, second = two_records
    assert [first.position, second.position] == [1, 2]
    assert second.previous_hash == first.entry_hash
    assert first.entry_hash == link_hash(first.previous_hash, first.hashed_fields())
    head = ChainHead.objects.get(organization=organization)
    assert (head.position, head.head_hash) == (2, second.entry_hash)
    out = verify()
    assert f"organization {organization.pk}: 2 entries, head #2 {second.entry_hash}: ok" in out
    assert "1 chain(s) verified" in verify("--organization", str(organization.pk))


def test_chains_are_per_organization(
    organization, other_organization, expert, other_expert, operator, two_records
):
    CreditGrantFactory(organization=other_organization)
    services.evidence_anchor_daily()
    assert chain_verify(organization_id=other_organization.pk).entries == 0


def _tamper(entry, body) -> None:
    if connection.vendor == "postgresql":
        sql("SET LOCAL session_replication_role = replica", [])  # the trigger sleeps
    sql("UPDATE evidence_evidenceentry SET body = %s WHERE id = %s", [json.dumps(body), entry.pk])
    if connection.vendor == "postgresql":
        sql("SET LOCAL session_replication_role = DEFAULT", [])


def test_a_row_edited_through_sql_is_named_and_exits_1(organization, two_records):
    first, _ = two_records
    forged = dict(first.body, model="gpt-honest")
    _tamper(first, forged)
    with pytest.raises(CommandError) as exc:
        verify()
    message = str(exc.value)
    assert f"organization {organization.pk}, entry #1 (id {first.pk}, record)" in message
    assert "does not match its hash" in message


def test_the_command_exits_1_in_a_real_process_too(organization, two_records):
    """call_command raises; manage.py turns CommandError into exit status 1."""
    from django.core.management import ManagementUtility

    _tamper(two_records[1], {"forged": True})
    with pytest.raises(SystemExit) as exc:
        ManagementUtility(["manage.py", "evidence_verify"]).execute()
    assert exc.value.code == 1


def test_a_removed_entry_in_the_middle_or_at_the_end_is_seen(organization, two_records, expert):
    _first, second = two_records
    sql("DELETE FROM evidence_evidenceentry WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match="chain ends at entry #1 but its head says #2"):
        verify()


def test_a_removed_first_entry_without_a_pruning_is_seen(organization, two_records):
    first, _ = two_records
    sql("DELETE FROM evidence_evidenceentry WHERE id = %s", [first.pk])
    with pytest.raises(CommandError, match="entries 1-1 are missing"):
        verify()


def test_an_anchor_covers_every_head_and_catches_a_rewritten_chain(organization, two_records):
    anchor = services.evidence_anchor_daily()
    assert services.evidence_anchor_daily() == anchor  # once a day
    _first, second = two_records
    assert anchor.heads == [
        {"organization_id": str(organization.pk), "position": 2, "hash": second.entry_hash}
    ]
    assert anchor.anchor_hash == link_hash(
        "0" * 64, {"day": anchor.day.isoformat(), "heads": anchor.heads}
    )
    # Someone rewrites the last entry and recomputes its hash and the head: the chain alone
    # holds, the anchor does not.
    forged = dict(second.body, prompt="forged")
    second.body = forged
    new_hash = link_hash(second.previous_hash, second.hashed_fields())
    if connection.vendor == "postgresql":
        sql("SET LOCAL session_replication_role = replica", [])  # the trigger sleeps
    sql(
        "UPDATE evidence_evidenceentry SET body = %s, entry_hash = %s WHERE id = %s",
        [json.dumps(forged), new_hash, second.pk],
    )
    if connection.vendor == "postgresql":
        sql("SET LOCAL session_replication_role = DEFAULT", [])
    ChainHead.objects.filter(organization=organization).update(head_hash=new_hash)
    assert chain_verify(organization_id=organization.pk).ok
    with pytest.raises(CommandError, match="differs from the one anchored"):
        verify()


@pytest.mark.postgres
def test_postgres_refuses_an_update_of_an_entry(two_records):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql("UPDATE evidence_evidenceentry SET kind = 'x' WHERE id = %s", [two_records[0].pk])
