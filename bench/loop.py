"""The loop of one review, timed on the running processes (a benchmark, not a test).

    .venv/bin/python bench/loop.py --requests 50
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop_live \\
        REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/loop.py --requests 50

Starts the Procfile's processes as the system tests do (`tests.system.conftest.run_system`: a
fresh SQLite file, or with DATABASE_URL a PostgreSQL database of its own, created and dropped,
and with REDIS_URL a key prefix of its own), then, one request at a time:

- **offer**: from the `201` of `POST /api/v1/review-requests` (the company's pipeline) to the
  `offer` notification on the `/ws/notifications/` socket of an expert it was offered to
  (every expert of the request's specialization holds one, logged in over HTTP);
- **webhook**: that expert accepts (`POST /api/v1/offers/{id}/accept`), opens the workspace
  (`/ws/assignments/{id}/`), sets a verdict, and sends `submit`; from that frame to the
  signed `review_request.completed` POST at a receiver on 127.0.0.1 (its signature checked
  with the organization's webhook secret).

Each leg goes through the worker: matching makes the offers, the webhook is delivered by a
task. Prints p50, p95 and max of each leg, the load average before and after, and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.system.conftest import System, run_system  # noqa: E402


class Receiver:
    """Records when each signed `review_request.completed` arrived, by request id."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.arrived: dict[str, float] = {}
        self.bad_signatures = 0
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.record(arrived, body, self.headers.get("Inloop-Signature", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, arrived: float, body: bytes, header: str) -> None:
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        signed = f"{parts.get('t', '')}.".encode() + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        event = json.loads(body)
        with self.condition:
            if not hmac.compare_digest(expected, parts.get("v1", "")):
                self.bad_signatures += 1
            elif event["type"] == "review_request.completed":
                self.arrived.setdefault(event["data"]["id"], arrived)
            self.condition.notify_all()

    def wait_for(self, request_id: str, timeout: float) -> float:
        with self.condition:
            if not self.condition.wait_for(lambda: request_id in self.arrived, timeout):
                raise TimeoutError(f"no signed completed webhook for {request_id}")
            return self.arrived[request_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Expert:
    """A logged-in expert with a notification socket read from the moment it opens."""

    def __init__(self, system: System, seed: dict) -> None:
        self.system = system
        self.seed = seed
        self.client = system.login(seed["email"], seed["password"])
        self.socket = None
        self.offers: dict[str, float] = {}  # notification title -> arrival
        self.arrival = asyncio.Event()

    async def listen(self) -> None:
        self.socket = await websockets.connect(
            self.system.ws_url + "/ws/notifications/",
            additional_headers=self.system.ws_headers(self.client),
        )
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            arrived = time.monotonic()
            frame = json.loads(raw)
            if frame.get("type") == "notification" and frame["notification"]["kind"] == "offer":
                self.offers.setdefault(frame["notification"]["title"], arrived)
                self.arrival.set()


def _specialization_and_experts(seed: dict) -> tuple[str, list[dict]]:
    """A specialization of an expert on call around the clock, held by as few as possible."""
    holders = {
        spec: [e for e in seed["experts"] if spec in e["specializations"]]
        for expert in seed["experts"]
        if expert["always_available"]
        for spec in expert["specializations"]
    }
    return min(holders.items(), key=lambda item: len(item[1]))


async def _first_offer(experts: list[Expert], title: str, timeout: float) -> tuple[Expert, float]:
    deadline = time.monotonic() + timeout
    while True:
        arrivals = [(e.offers[title], e) for e in experts if title in e.offers]
        if arrivals:
            arrived, expert = min(arrivals, key=lambda item: item[0])
            return expert, arrived
        for expert in experts:
            expert.arrival.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no offer for {title!r}")
        waits = [asyncio.create_task(e.arrival.wait()) for e in experts]
        await asyncio.wait(waits, timeout=min(remaining, 1), return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()


def _accept(system: System, expert: Expert, request_id: str) -> str:
    offers = expert.client.get("/api/v1/me/offers").json()["data"]
    offer = next(o for o in offers if o["review_request"]["id"] == request_id)
    response = expert.client.post(
        f"/api/v1/offers/{offer['id']}/accept", headers=system.csrf_headers(expert.client)
    )
    response.raise_for_status()
    return response.json()["assignment_id"]


async def _recv_until(socket, accept, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if frame.get("type") == "error":
            raise RuntimeError(f"workspace refused a frame: {frame}")
        if accept(frame):
            return frame


async def _submit(system: System, expert: Expert, assignment_id: str) -> tuple[float, float]:
    """Sets a verdict and submits; returns when the submit frame was sent and when its
    `submitted` event came back (daphne's own part of the leg)."""
    async with websockets.connect(
        f"{system.ws_url}/ws/assignments/{assignment_id}/",
        additional_headers=system.ws_headers(expert.client),
    ) as socket:
        await _recv_until(socket, lambda f: f["type"] == "snapshot")
        await socket.send(json.dumps({"type": "draft.update", "verdict": "approved"}))
        await _recv_until(
            socket, lambda f: f["type"] == "event" and f["event"]["kind"] == "draft.updated"
        )
        sent = time.monotonic()
        await socket.send(json.dumps({"type": "submit"}))
        await _recv_until(
            socket, lambda f: f["type"] == "event" and f["event"]["kind"] == "submitted"
        )
        return sent, time.monotonic()


async def _one(
    system: System, experts, specialization, receiver, index: int
) -> tuple[float, float]:
    title = f"Loop {index} {time.time()}"
    with system.api() as api:
        created = await asyncio.to_thread(
            api.post,
            "/api/v1/review-requests",
            json={
                "title": title,
                "specialization": specialization,
                "content": {"type": "text", "body": "The capital of Australia is Sydney."},
                "max_hours": 0.25,
                "callback_url": receiver.url,
            },
        )
        answered = time.monotonic()
    if created.status_code != 201:
        raise RuntimeError(f"create answered {created.status_code}: {created.text}")
    request_id = created.json()["id"]
    expert, offered = await _first_offer(experts, f"New offer: {title}", timeout=30)
    assignment_id = await asyncio.to_thread(_accept, system, expert, request_id)
    sent, submitted = await _submit(system, expert, assignment_id)
    delivered = await asyncio.to_thread(receiver.wait_for, request_id, 30)
    return offered - answered, delivered - sent, submitted - sent


def _summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)

    def rank(q: float) -> float:
        return ms[min(len(ms) - 1, max(0, round(q * len(ms) + 0.5) - 1))]

    return (
        f"{name:<8} n={len(ms)}  p50 {rank(0.50):7.1f} ms  p95 {rank(0.95):7.1f} ms  "
        f"max {ms[-1]:7.1f} ms"
    )


async def _run(system: System, requests: int, warmup: int) -> dict[str, list[float]]:
    specialization, seeds = _specialization_and_experts(system.seed)
    experts = [Expert(system, seed) for seed in seeds]
    for expert in experts:
        await expert.listen()
    receiver = Receiver(system.seed["company"]["webhook_secret"])
    legs: dict[str, list[float]] = {"offer": [], "webhook": [], "submit": []}
    try:
        for index in range(warmup + requests):
            offer, webhook, submit = await _one(system, experts, specialization, receiver, index)
            if index >= warmup:
                legs["offer"].append(offer)
                legs["webhook"].append(webhook)
                legs["submit"].append(submit)
    finally:
        receiver.close()
        for expert in experts:
            await expert.socket.close()
            expert.client.close()
    if receiver.bad_signatures:
        raise RuntimeError(f"{receiver.bad_signatures} webhooks with a bad signature")
    print(f"specialization {specialization}, {len(experts)} experts listening")
    return legs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first")
    args = parser.parse_args()
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")
    mode = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    mode += " + Redis (REDIS_URL)" if os.environ.get("REDIS_URL") else " + embedded Valkey"
    with (
        tempfile.TemporaryDirectory(prefix="inloop-loop-") as workdir,
        run_system(Path(workdir)) as system,
    ):
        load_before = os.getloadavg()
        legs = asyncio.run(_run(system, args.requests, args.warmup))
        load_after = os.getloadavg()
    print(f"mode: {mode}; {args.warmup} warm-up requests not counted")
    print(_summary("offer", legs["offer"]))
    print(_summary("webhook", legs["webhook"]))
    print(_summary("(submit", legs["submit"]) + "  of it: the frame to its `submitted` event)")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*load_before))
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*load_after))
    shown = [f"{k}={os.environ[k]}" for k in ("DATABASE_URL", "REDIS_URL") if os.environ.get(k)]
    print("command:", " ".join([*shown, sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
