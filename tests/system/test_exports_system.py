"""A dataset export on the running processes: an expert corrects an output in the workspace, the
company creates a DPO export over HTTP with its API key, the Procfile's worker writes it, and
the download (raw HTTP, then the Python client) has the SHA-256 the API names."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time

import inloop

from tests.system.flows import connect, is_event, recv_json, recv_until, take_assignment

CORRECTED = "The tenant may terminate the lease with three months' notice."


def _review(system, assignment_id: str, client) -> None:
    async def scenario():
        async with connect(system, f"/ws/assignments/{assignment_id}/", client) as socket:
            await recv_json(socket)
            await socket.send(json.dumps({"type": "heartbeat"}))
            await socket.send(
                json.dumps(
                    {
                        "type": "draft.update",
                        "verdict": "corrected",
                        "corrected_output": CORRECTED,
                        "summary": "Termination needs notice.",
                    }
                )
            )
            await socket.send(json.dumps({"type": "submit"}))
            await recv_until(socket, is_event("submitted"))

    asyncio.run(scenario())


def test_a_dpo_export_is_written_by_the_worker_and_downloads_with_its_hash(system, tmp_path):
    assignment_id, expert, created = take_assignment(
        system, "law.contracts", prompt="Summarize the termination clause."
    )
    _review(system, assignment_id, expert)
    expert.close()
    with system.api() as api:
        system.wait_until(
            lambda: (
                api.get(f"/api/v1/review-requests/{created['id']}").json()["status"] == "completed"
            ),
            timeout=30,
            what="the request to complete",
        )
        response = api.post(
            "/api/v1/exports",
            json={"format": "dpo", "filters": {"specialization": "law"}},
        )
        assert response.status_code == 201, response.text
        export_id = response.json()["id"]
        started = time.monotonic()
        done = system.wait_until(
            lambda: (
                (e := api.get(f"/api/v1/exports/{export_id}").json())["status"]
                in ("completed", "failed")
                and e
            ),
            timeout=60,
            what="the worker to finish the export",
        )
        waited = time.monotonic() - started
        assert done["status"] == "completed", done
        assert done["schema_version"] == "inloop.dpo.v1" and done["rows"] >= 1

        with api.stream("GET", f"/api/v1/exports/{export_id}/download") as download:
            assert download.status_code == 200
            digest = hashlib.sha256()
            body = b""
            for chunk in download.iter_bytes():
                digest.update(chunk)
                body += chunk
            header = download.headers["Repr-Digest"]
    assert digest.hexdigest() == done["sha256"]
    assert header == f"sha-256=:{base64.b64encode(digest.digest()).decode()}:"
    lines = [json.loads(line) for line in body.decode().splitlines()]
    mine = [line for line in lines if line["review_request_id"] == created["id"]]
    assert [(m["chosen"], m["rejected"], m["source"]) for m in mine] == [
        (CORRECTED, "The tenant may terminate the lease at any time.", "correction")
    ]
    assert mine[0]["prompt"] == "Summarize the termination clause."

    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as client:
        target = tmp_path / "dpo.jsonl"
        assert client.exports.download(export_id, target) == done["sha256"]
        assert target.read_bytes() == body
        assert client.exports.get(export_id).status == "completed"
    print(f"export finished {waited:.2f} s after it was created")
