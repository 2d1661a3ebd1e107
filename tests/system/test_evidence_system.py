"""The oversight evidence over the real processes: a review submitted in the workspace while a
company member watches completes the request; the worker builds the record; the company
downloads it as JSON (API) and PDF (page), and evidence_verify recomputes the chain against the
same database."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time

from pypdf import PdfReader

from tests.system.flows import (
    company_member,
    connect,
    is_event,
    recv_json,
    recv_until,
    take_assignment,
)

OUTPUT = "Clause 4 lets the landlord raise the rent once a year by at most 3 %."


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def wait_for_evidence(system, request_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    with system.api() as client:
        while time.monotonic() < deadline:
            response = client.get(f"/api/v1/review-requests/{request_id}/evidence")
            if response.status_code == 200:
                return response.json()
            assert response.status_code == 404, response.text
            time.sleep(0.3)
    raise AssertionError(f"no evidence for {request_id} within {timeout} s\n{system.logs()}")


def test_a_completed_review_gets_a_record_that_downloads_and_verifies(system):
    assignment_id, expert, created = take_assignment(
        system,
        "law.contracts",
        content={"type": "text", "body": OUTPUT},
        model="contract-llm-2",
        prompt="Summarize clause 4.",
    )
    member = company_member(system)
    watcher = system.login(member["email"], member["password"])
    path = f"/ws/assignments/{assignment_id}/"

    async def scenario():
        async with connect(system, path, watcher) as watching:
            await recv_json(watching)
            async with connect(system, path, expert) as socket:
                await recv_json(socket)
                await socket.send(json.dumps({"type": "heartbeat"}))
                await socket.send(
                    json.dumps({"type": "draft.update", "verdict": "approved", "summary": "Fine."})
                )
                await recv_until(socket, is_event("draft.updated"))
                await socket.send(json.dumps({"type": "submit"}))
                await recv_until(socket, is_event("submitted"))

    run(scenario())
    export = wait_for_evidence(system, created["id"])
    (entry,) = export["entries"]
    body = entry["body"]
    assert entry["kind"] == "record" and entry["review_request_id"] == created["id"]
    assert body["ai_output"]["sha256"] == hashlib.sha256(OUTPUT.encode()).hexdigest()
    assert (body["model"], body["prompt"]) == ("contract-llm-2", "Summarize clause 4.")
    assert [d["kind"] for d in body["decisions"]][-2:] == ["draft.updated", "submitted"]
    assert body["reviews"][0]["verdict"] == "approved"
    assert [w["role"] for w in body["watchers"]] == ["company"]
    assert body["reviewers"][0]["credentials"], "the seeded on-call lawyer holds a bar admission"

    pdf = watcher.get(f"/company/requests/{created['id']}/evidence.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert entry["entry_hash"] in text and "Art. 26(2)" in text
    page = watcher.get(f"/company/requests/{created['id']}/evidence/")
    assert entry["entry_hash"] in page.text

    out = system.manage("evidence_verify")
    assert f"head #{entry['position']} {entry['entry_hash']}: ok" in out or ": ok" in out
    assert "chain(s) verified" in out
    watcher.close()
    expert.close()
