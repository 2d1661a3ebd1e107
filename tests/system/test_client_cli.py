"""The `inloop` command line against the running processes, run as a pipeline engineer runs it:
the console script in a subprocess, configured by INLOOP_API_KEY / INLOOP_BASE_URL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import inloop
import standardwebhooks

INLOOP = str(Path(sys.executable).with_name("inloop"))


def _run(system, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INLOOP_")}
    env.update(
        INLOOP_API_KEY=system.seed["company"]["api_key"],
        INLOOP_BASE_URL=system.url,
        INLOOP_CONFIG=str(config) if config else "",
    )
    return subprocess.run(
        [INLOOP, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _write_items(path: Path, tag: str, count: int, *, bad_line: int | None = None) -> None:
    lines = []
    for n in range(1, count + 1):
        item = {
            "title": f"Clause {n}",
            "content": f"The tenant may terminate at any time ({n}).",
            "metadata": {"tag": tag, "line": n},
        }
        if n == bad_line:
            item["specialization"] = "law.no-such-field"  # valid JSON, refused by the server
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n")


def _created(system, tag: str) -> list:
    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as client:
        return [rr for rr in client.review_requests.list() if rr.metadata.get("tag") == tag]


def test_submit_is_resumable_and_a_rerun_creates_nothing_twice(system, tmp_path):
    tag = uuid.uuid4().hex
    items = tmp_path / "items.jsonl"
    args = ("submit", str(items), "--specialization", "law.contracts", "--max-hours", "0.5")

    # Line 201 is refused by the server: batches 1-100 and 101-200 are in, the third is not.
    _write_items(items, tag, 250, bad_line=201)
    first = _run(system, *args)
    assert first.returncode == 1, first.stderr
    assert "items.jsonl:201: 422 validation_error" in first.stderr
    assert "200/250" in first.stderr  # the progress bar (one line per update off a terminal)
    assert len(_created(system, tag)) == 200

    # Fixed and run again: only the 50 lines not yet sent go out.
    _write_items(items, tag, 250)
    second = _run(system, *args)
    assert second.returncode == 0, second.stderr
    assert "200 line(s) already sent" in second.stderr and "50/50" in second.stderr
    created = _created(system, tag)
    assert sorted(rr.metadata["line"] for rr in created) == list(range(1, 251))
    assert {rr.specialization for rr in created} == {"law.contracts"}
    assert {rr.max_hours for rr in created} == {0.5}

    # A third run sends nothing; even without its state file the batches' idempotency keys
    # (derived from the lines) make the server replay instead of creating again.
    third = _run(system, *args)
    assert third.returncode == 0 and "250 line(s) already sent" in third.stderr
    (tmp_path / "items.jsonl.inloop-state.jsonl").unlink()
    fourth = _run(system, *args)
    assert fourth.returncode == 0, fourth.stderr
    assert len(_created(system, tag)) == 250


def test_a_bad_line_refuses_the_file_before_anything_is_sent(system, tmp_path):
    tag = uuid.uuid4().hex
    items = tmp_path / "items.jsonl"
    _write_items(items, tag, 3)
    items.write_text(items.read_text() + '{"title": "no content"}\n')
    result = _run(
        system, "submit", str(items), "--specialization", "law.contracts", "--max-hours", "0.5"
    )
    assert result.returncode == 2
    assert "items.jsonl:4: content: Field required" in result.stderr
    assert _created(system, tag) == []


def test_status_results_and_export(system, tmp_path):
    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as client:
        rr = client.review_requests.create(
            title="Status check",
            specialization="law.contracts",
            content={"type": "text", "body": "Clause."},
            max_hours=0.5,
        )
    one = _run(system, "status", rr.id)
    assert one.returncode == 0 and rr.id in one.stdout and "queued" in one.stdout
    overview = _run(system, "status", "--limit", "5")
    assert overview.returncode == 0 and overview.stdout.startswith("balance: ")

    # Nothing is completed in this instance (no expert reviewed): no results, exit 0.
    results = _run(system, "results", "--since", "1d")
    assert results.returncode == 0 and results.stdout == ""
    assert "0 result(s)" in results.stderr

    # A dataset export of nothing reviewed: the worker writes an empty file, the CLI downloads
    # it and checks its SHA-256 (e3b0c442... is the digest of no bytes).
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "pairs.jsonl"
        export = _run(system, "export", "dpo", "--out", str(out), "--timeout", "60")
        assert export.returncode == 0, export.stderr
        assert "0 line(s)" in export.stdout and out.read_bytes() == b""
        assert hashlib.sha256(b"").hexdigest() in export.stdout

    wrong = subprocess.run(
        [INLOOP, "status"],
        env={**os.environ, "INLOOP_API_KEY": "inl_wrong", "INLOOP_BASE_URL": system.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode == 1 and "401 unauthorized" in wrong.stderr


def test_webhook_listen_forwards_signed_changes(system, webhook_receiver):
    secret = system.seed["company"]["webhook_secret"]
    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as client:
        rr = client.review_requests.create(
            title="Listen",
            specialization="law.contracts",
            content={"type": "text", "body": "Clause."},
            max_hours=0.5,
        )
        listener = subprocess.Popen(
            [
                INLOOP,
                "webhook",
                "listen",
                "--forward-to",
                webhook_receiver.url,
                "--secret",
                secret,
                "--interval",
                "0.5",
                "--max-polls",
                "40",
                "--max-pages",
                "1",
            ],
            env={
                **os.environ,
                "INLOOP_API_KEY": system.seed["company"]["api_key"],
                "INLOOP_BASE_URL": system.url,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Once the listener has its starting point, the cancel is a change it forwards.
            assert "watching" in listener.stderr.readline()
            time.sleep(1.5)
            client.review_requests.cancel(rr.id)
            [(headers, body)] = webhook_receiver.wait(1, timeout=30)
        finally:
            listener.kill()
            listener.wait(timeout=10)
    event = inloop.webhooks.verify(body, headers["Inloop-Signature"], secret)
    assert event.type == "review_request.cancelled" and event.data.id == rr.id
    assert standardwebhooks.Webhook(secret).verify(body, headers)["id"] == event.id
