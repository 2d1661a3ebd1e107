"""Evidence on the client: `review_requests.evidence` (JSON into its models) and `evidence_pdf`
(the raw bytes, through the same retries), sync and async, and `inloop evidence`, against a
MockTransport."""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx
import inloop
import pytest
from inloop import cli
from inloop_fakes import Recorder, envelope

RR = "00000000-0000-0000-0000-000000000001"
PATH = f"/api/v1/review-requests/{RR}/evidence"
PDF = b"%PDF-1.7\n\x00\xff binary\n%%EOF\n"
ENTRY = {
    "organization_id": "org-1",
    "position": 1,
    "kind": "record",
    "review_request_id": RR,
    "schema_version": 1,
    "created_at": "2026-12-07T10:00:00.123456+00:00",
    "body": {"schema": "inloop.evidence.record", "reviewers": []},
    "previous_hash": "0" * 64,
    "entry_hash": "ab" * 32,
}
EXPORT = {
    "schema_name": "inloop.evidence.export",
    "schema_version": 1,
    "exported_at": "2026-12-07T10:05:00+00:00",
    "organization": {"id": "org-1", "name": "Acme"},
    "scope": {"review_request_id": RR},
    "hash_rule": "entry_hash = sha256_hex(previous_hash + canonical_json(E))",
    "chain_head": {"position": 1, "hash": "ab" * 32},
    "latest_anchor": None,
    "entries": [ENTRY],
}


def _pdf(request, n):
    return httpx.Response(200, content=PDF, headers={"Content-Type": "application/pdf"})


def test_evidence_reads_the_export_into_its_models(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(200, json=EXPORT))
    evidence = client.review_requests.evidence(RR)
    [request] = recorder.requests
    assert (request.method, request.url.path, request.url.query) == ("GET", PATH, b"")
    assert evidence.latest_anchor is None and evidence.chain_head["position"] == 1
    [entry] = evidence.entries
    # The hashed strings stay as the server wrote them, so the chain can be checked.
    assert entry.created_at == ENTRY["created_at"] and entry.previous_hash == "0" * 64
    assert evidence.model_dump(mode="json") == EXPORT


def test_evidence_pdf_returns_the_bytes(make_client):
    client, recorder, _ = make_client(_pdf)
    assert client.review_requests.evidence_pdf(RR) == PDF
    [request] = recorder.requests
    assert request.url.path == PATH and dict(request.url.params) == {"format": "pdf"}


def test_evidence_pdf_goes_through_the_retry_policy(make_client):
    client, recorder, waits = make_client(
        lambda request, n: envelope(503, "unavailable") if n < 3 else _pdf(request, n)
    )
    assert client.review_requests.evidence_pdf(RR) == PDF
    assert len(recorder.requests) == 3 and len(waits) == 2


def test_no_record_yet_is_not_found_and_not_retried(make_client):
    client, recorder, _ = make_client(lambda request, n: envelope(404, "not_found"))
    with pytest.raises(inloop.InloopNotFound):
        client.review_requests.evidence(RR)
    with pytest.raises(inloop.InloopNotFound):
        client.review_requests.evidence_pdf(RR)
    assert len(recorder.requests) == 2


def test_the_async_client_has_the_same_evidence_methods():
    def answer(request, n):
        return (
            _pdf(request, n)
            if request.url.params.get("format")
            else httpx.Response(200, json=EXPORT)
        )

    recorder = Recorder(answer)

    async def run():
        async with inloop.AsyncInloop(
            api_key="k", base_url="http://t", transport=httpx.MockTransport(recorder)
        ) as client:
            return (
                await client.review_requests.evidence(RR),
                await client.review_requests.evidence_pdf(RR),
            )

    evidence, pdf = asyncio.run(run())
    assert evidence.entries[0].entry_hash == "ab" * 32 and pdf == PDF
    assert [dict(r.url.params) for r in recorder.requests] == [{}, {"format": "pdf"}]


def test_cli_evidence_prints_json_or_writes_the_pdf(make_client, tmp_path, capsys):
    client, _, _ = make_client(
        lambda request, n: (
            _pdf(request, n)
            if request.url.params.get("format")
            else httpx.Response(200, json=EXPORT)
        )
    )
    assert cli.cmd_evidence(argparse.Namespace(id=RR, pdf=None), client) == 0
    assert json.loads(capsys.readouterr().out) == EXPORT
    target = tmp_path / "evidence.pdf"
    assert cli.cmd_evidence(argparse.Namespace(id=RR, pdf=str(target)), client) == 0
    assert target.read_bytes() == PDF
    assert f"{len(PDF)} bytes" in capsys.readouterr().err


def test_cli_parses_evidence_with_pdf():
    args = cli.build_parser().parse_args(["evidence", RR, "--pdf", "out.pdf"])
    assert (args.command, args.id, args.pdf) == ("evidence", RR, "out.pdf")
    assert cli.COMMANDS["evidence"] is cli.cmd_evidence
