"""Scaled out as the README says: PostgreSQL, Redis, two daphnes and two workers. What one
process does reaches the others; a worker killed mid-task loses nothing; two payout runs at
once pay nobody twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.system.conftest import ROOT, run_system
from tests.system.flows import (
    company_member,
    connect,
    create_request,
    events,
    is_event,
    on_call_expert,
    recv_json,
    recv_until,
    take_assignment,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    """Two daphnes, two workers. Earnings are available at once and any amount is paid out,
    so the payout race needs only a few seconds of billed time."""
    with run_system(
        tmp_path_factory.mktemp("scaled"),
        counts={"web": 2, "worker": 2},
        extra_env={"DISPUTE_WINDOW_HOURS": "0", "PAYOUT_MINIMUM_CENTS": "1"},
    ) as instance:
        yield instance


@contextmanager
def paused(system, name: str):
    """SIGSTOP one process group (it claims nothing meanwhile), SIGCONT on the way out."""
    os.killpg(system.processes[name].pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(system.processes[name].pid, signal.SIGCONT)


def run(coroutine, timeout: float = 90):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_a_request_created_through_one_daphne_is_read_through_the_other(scaled):
    first, second = scaled.urls
    with scaled.api(url=first) as one:
        created = one.post(
            "/api/v1/review-requests",
            json={
                "title": "Across processes",
                "specialization": "law.contracts",
                "content": {"type": "text", "body": "Clause 4."},
                "max_hours": 0.5,
            },
        ).json()
    with scaled.api(url=second) as other:
        fetched = other.get(f"/api/v1/review-requests/{created['id']}")
        listed = other.get("/api/v1/review-requests", params={"limit": 100}).json()["data"]
    assert fetched.status_code == 200
    assert fetched.json()["title"] == "Across processes"
    assert created["id"] in [rr["id"] for rr in listed]


def test_workspace_events_sent_to_one_daphne_arrive_in_order_on_the_other(scaled):
    assignment_id, expert, _ = take_assignment(scaled, "software.python")
    member_login = company_member(scaled)
    member = scaled.login(member_login["email"], member_login["password"], url=scaled.urls[1])
    path = f"/ws/assignments/{assignment_id}/"
    web1, web2 = scaled.ws_urls()
    count = 30

    async def scenario():
        async with (
            connect(scaled, path, expert, url=web1) as on_one,
            connect(scaled, path, member, url=web2) as on_two,
        ):
            start = (await recv_json(on_one))["seq"]
            await recv_json(on_two)
            for index in range(count):
                await on_one.send(json.dumps({"type": "chat.message", "body": f"e{index}"}))
            _, seen_on_two = await recv_until(
                on_two, lambda f: f.get("type") == "event" and f["event"]["body"] == f"e{count - 1}"
            )
            await on_two.send(json.dumps({"type": "chat.message", "body": "from two"}))
            back, _ = await recv_until(on_one, _body("from two"))
            return start, events(seen_on_two), back

    start, arrived, back = run(scenario())
    assert [frame["seq"] for frame in arrived] == list(range(start + 1, start + count + 1))
    assert [frame["event"]["body"] for frame in arrived] == [f"e{i}" for i in range(count)]
    assert back["seq"] == start + count + 1
    expert.close()
    member.close()


def _body(text: str):
    return lambda frame: frame.get("type") == "event" and frame["event"].get("body") == text


def test_an_offer_made_by_either_worker_reaches_sockets_on_both_daphnes(scaled):
    expert = on_call_expert(scaled, "safety.bio_risk")
    client = scaled.login(expert["email"], expert["password"])

    def offer_titled(title):
        return lambda f: f["type"] == "notification" and f["notification"]["title"] == title

    async def scenario():
        web1, web2 = scaled.ws_urls()
        async with (
            connect(scaled, "/ws/notifications/", client, url=web1) as one,
            connect(scaled, "/ws/notifications/", client, url=web2) as two,
        ):
            arrived = {}
            for working, idle in (("worker.1", "worker.2"), ("worker.2", "worker.1")):
                title = f"Made by {working}"
                with paused(scaled, idle):
                    await asyncio.to_thread(
                        create_request, scaled, specialization="safety.bio_risk", title=title
                    )
                    for name, socket in (("web.1", one), ("web.2", two)):
                        await recv_until(socket, offer_titled(f"New offer: {title}"), timeout=15)
                        arrived[(working, name)] = True
            return arrived

    arrived = run(scenario())
    assert set(arrived) == {(w, d) for w in ("worker.1", "worker.2") for d in ("web.1", "web.2")}
    client.close()


# A worker killed mid-task ------------------------------------------------------------------


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


def _task_rows(system, task_name: str) -> list[dict]:
    """The django_tasks_db rows of one task (status, workers), read with a management command."""
    code = (
        "import json; from django_tasks_db.models import DBTaskResult; "
        f"print(json.dumps([dict(status=r.status, worker_ids=r.worker_ids) for r in "
        f"DBTaskResult.objects.filter(task_path__endswith={task_name!r}).order_by('enqueued_at')]))"
    )
    return json.loads(scaled_shell(system, code))


def scaled_shell(system, code: str) -> str:
    return system.manage("shell", "-c", code).strip().splitlines()[-1]


def test_a_webhook_whose_worker_is_killed_mid_delivery_is_delivered_by_the_other(system_factory):
    system = system_factory(worker=2)
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
        time.sleep(3)
        deliveries = list(receiver.requests)
        rows = _task_rows(system, "webhook_deliver")
    finally:
        receiver.close()
    bodies = [json.loads(body) for _, _, body in deliveries]
    assert first[2] == deliveries[1][2], "the same event is never two different bodies"
    assert [b["type"] for b in bodies] == ["review_request.cancelled"] * 2
    assert len({b["id"] for b in bodies}) == 1
    assert len(deliveries) == 2, "delivered once more, then not again"
    # The delivery is recovered by the webhook's own retry (the attempt is parked before the
    # send; webhooks_retry_due enqueues a new task), run by the surviving worker. The killed
    # worker's own row stays RUNNING: django_tasks_db 0.13 never re-runs a task whose worker
    # died, so work without a recovery of its own (like this retry) would be lost.
    done = [row for row in rows if row["status"] == "SUCCESSFUL"]
    assert len(done) == 1, rows
    killed = [row for row in rows if row["status"] == "RUNNING"]
    assert all(not set(done[0]["worker_ids"]) & set(row["worker_ids"]) for row in killed)


def test_two_payout_runs_at_once_pay_each_expert_once(scaled):
    experts = []
    for specialization in ("finance.tax", "engineering.civil"):
        assignment_id, client, _ = take_assignment(scaled, specialization)
        experts.append(on_call_expert(scaled, specialization)["email"])

        async def review(assignment_id=assignment_id, client=client):
            async with connect(scaled, f"/ws/assignments/{assignment_id}/", client) as socket:
                await recv_json(socket)
                await socket.send(json.dumps({"type": "heartbeat"}))
                await asyncio.sleep(5)
                await socket.send(json.dumps({"type": "heartbeat"}))
                await socket.send(json.dumps({"type": "draft.update", "verdict": "approved"}))
                await socket.send(json.dumps({"type": "submit"}))
                await recv_until(socket, is_event("submitted"))

        run(review())
        client.close()

    runs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_payouts"],
            cwd=ROOT,
            env=scaled.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    payouts = json.loads(
        scaled_shell(
            scaled,
            "import json; from billing.models import Payout; print(json.dumps(list("
            "Payout.objects.values('user__email', 'amount_cents', 'status'))))",
        )
    )
    by_expert = {email: [p for p in payouts if p["user__email"] == email] for email in experts}
    assert all(len(paid) == 1 for paid in by_expert.values()), (by_expert, outputs)
    assert all(paid[0]["amount_cents"] > 0 for paid in by_expert.values())
    # Without Stripe keys the money moves in the ledger and the payout waits for Stripe.
    assert {p["status"] for p in payouts} == {"awaiting_stripe"}
    assert "payouts created" in scaled.manage("run_payouts")
    assert len(json.loads(scaled_shell(scaled, PAYOUT_COUNT))) == len(payouts), "a rerun pays none"
    scaled.manage("ledger_check")


PAYOUT_COUNT = (
    "import json; from billing.models import Payout; "
    "print(json.dumps(list(Payout.objects.values_list('pk', flat=True))))"
)
