"""client.exports: create / get / list / wait / download (with its SHA-256 check), against a
MockTransport."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import inloop
import pytest
from inloop_fakes import envelope

BODY = b'{"prompt":"p","chosen":"a","rejected":"b"}\n'


def export(status: str = "completed", **overrides) -> dict:
    data = {
        "id": "ex1",
        "status": status,
        "format": "dpo",
        "schema_version": "inloop.dpo.v1",
        "filters": {"status": ["completed"]},
        "progress": {"rows_done": 1, "rows_total": 1},
        "rows": 1 if status == "completed" else None,
        "size_bytes": len(BODY) if status == "completed" else None,
        "sha256": hashlib.sha256(BODY).hexdigest() if status == "completed" else None,
        "error": None,
        "created_at": "2026-12-07T14:00:00+00:00",
        "started_at": None,
        "finished_at": None,
        "download_url": "/api/v1/exports/ex1/download" if status == "completed" else None,
    }
    data.update(overrides)
    return data


def _download(body: bytes = BODY, digest: bytes | None = None):
    digest = hashlib.sha256(BODY).digest() if digest is None else digest
    header = f"sha-256=:{base64.b64encode(digest).decode()}:"
    return httpx.Response(200, content=body, headers={"Repr-Digest": header})


def test_create_sends_format_and_filters(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(201, json=export("queued")))
    made = client.exports.create("dpo", specialization="medicine", agreement_min=0.5)
    assert made.status == "queued" and not made.is_final
    [request] = recorder.requests
    assert request.method == "POST" and request.url.path == "/api/v1/exports"
    assert json.loads(request.content) == {
        "format": "dpo",
        "filters": {"specialization": "medicine", "agreement_min": 0.5, "status": ["completed"]},
    }


def test_a_misspelt_filter_fails_before_anything_is_sent(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(201, json=export()))
    with pytest.raises(ValueError):
        client.exports.create("dpo", specialisation="medicine")
    assert recorder.requests == []


def test_wait_polls_until_final(make_client):
    answers = [export("queued"), export("running"), export("completed")]
    client, recorder, waits = make_client(
        lambda request, n: httpx.Response(200, json=answers[n - 1])
    )
    done = client.exports.wait("ex1", poll_interval=1.5)
    assert done.status == "completed" and waits == [1.5, 1.5] and len(recorder.requests) == 3


def test_list_follows_the_cursor(make_client):
    pages = [
        {"data": [export(id="a"), export(id="b")], "next_cursor": "c1"},
        {"data": [export(id="c")], "next_cursor": None},
    ]
    client, recorder, _ = make_client(lambda request, n: httpx.Response(200, json=pages[n - 1]))
    assert [e.id for e in client.exports.list(limit=2)] == ["a", "b", "c"]
    assert recorder.requests[1].url.params["cursor"] == "c1"


def test_download_writes_the_file_and_checks_its_hash(make_client, tmp_path):
    client, _, _ = make_client(lambda request, n: _download())
    target = tmp_path / "out.jsonl"
    assert client.exports.download("ex1", target) == hashlib.sha256(BODY).hexdigest()
    assert target.read_bytes() == BODY


def test_a_download_whose_hash_differs_raises_and_leaves_no_file(make_client, tmp_path):
    client, _, _ = make_client(lambda request, n: _download(body=BODY + b"tampered"))
    target = tmp_path / "out.jsonl"
    with pytest.raises(inloop.InloopChecksumError):
        client.exports.download("ex1", target)
    assert not target.exists()


def test_a_download_before_completion_is_a_conflict(make_client, tmp_path):
    client, _, _ = make_client(
        lambda request, n: envelope(409, "export_not_ready", "This export is running.")
    )
    with pytest.raises(inloop.InloopConflict) as raised:
        client.exports.download("ex1", tmp_path / "out.jsonl")
    assert raised.value.code == "export_not_ready"
