"""A worker killed mid-task loses nothing: its task goes back to the queue when its heartbeat
stops (marketplace/worker_lease.py) and the surviving worker runs it; a webhook it was sending
is delivered once more, with the same id and body, and not again. On SQLite with the embedded
Valkey in the default pass, and on PostgreSQL + Redis in the second."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.system.flows import create_request, paused, task_rows

LEASE_SECONDS = 8  # short, so the test waits seconds for the lease to run out, not a minute


class SlowReceiver:
    """Records each webhook request as it arrives, then holds the first one's answer for
    `hold` seconds (the worker that sent it is busy with it meanwhile)."""

    def __init__(self, hold: float):
        self.hold = hold
        self.requests: list[tuple[float, dict, bytes]] = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.condition:
                    receiver.requests.append((time.monotonic(), dict(self.headers), body))
                    first = len(receiver.requests) == 1
                    receiver.condition.notify_all()
                if first:
                    time.sleep(receiver.hold)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender died meanwhile

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> list[tuple[float, dict, bytes]]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} deliveries, wanted {count}")
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_whose_worker_is_killed_mid_delivery_is_delivered_by_the_other(system_factory):
    system = system_factory(worker=2, extra_env={"WORKER_LEASE_SECONDS": str(LEASE_SECONDS)})
    receiver = SlowReceiver(hold=8)
    try:
        with paused(system, "worker.2"):
            created = create_request(system, callback_url=receiver.url)
            with system.api() as client:
                assert client.post(f"/api/v1/review-requests/{created['id']}/cancel").is_success
            first = receiver.wait(1, timeout=30)[0]
            # worker.1 is inside the task, waiting for the answer: it dies there.
            system.kill("worker.1")
        deliveries = receiver.wait(2, timeout=120)
        # The killed worker's task is handed back once its lease runs out, and worker.2 runs it.
        rows = wait_for_rows(system, "webhook_deliver", timeout=LEASE_SECONDS * 6)
        time.sleep(3)
        deliveries = list(receiver.requests)
    finally:
        receiver.close()
    bodies = [json.loads(body) for _, _, body in deliveries]
    assert first[2] == deliveries[1][2], "the same event is never two different bodies"
    assert [b["type"] for b in bodies] == ["review_request.cancelled"] * 2
    assert len({b["id"] for b in bodies}) == 1
    assert len(deliveries) == 2, "delivered once more, then not again"
    assert [row["status"] for row in rows] == ["SUCCESSFUL"] * len(rows), rows
    handed_back = [row for row in rows if len(row["worker_ids"]) == 2]
    assert len(handed_back) == 1, rows
    killed, survivor = handed_back[0]["worker_ids"]
    assert killed != survivor
    # The webhook's own retry (if it ran) was the survivor's too: nothing runs on a dead worker.
    assert all(row["worker_ids"][-1] == survivor for row in rows)


def wait_for_rows(system, task_name: str, *, timeout: float) -> list[dict]:
    """The task's rows once none is READY or RUNNING any more (or the last look, at timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = task_rows(system, task_name)
        settled = all(row["status"] not in ("READY", "RUNNING") for row in rows)
        if settled or time.monotonic() > deadline:
            return rows
        time.sleep(1)
