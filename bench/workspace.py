"""Workspace broadcast benchmark: N sockets against ONE daphne process (Redis channel layer,
PostgreSQL), chat frames at a fixed total rate, latency from send to receipt at every watcher.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop_bench \
    REDIS_URL=redis://127.0.0.1:6379/9 \
    .venv/bin/python bench/workspace.py --sockets 100 500 1000 --rate 100 --seconds 20

Several servers in one run, in alternating rounds (each round runs every server once, in
turn, at each socket count, so that the machine's load falls on all of them alike):

    .venv/bin/python bench/workspace.py --sockets 500 1000 --repeat 3 \
        --server core=:channels_redis.core.RedisChannelLayer \
        --server pubsub=:channels_redis.pubsub.RedisPubSubChannelLayer \
        --server main=/work/main

`--server LABEL=[TREE][:BACKEND]`: daphne runs from TREE (a checkout; its own .venv if it has
one; default this one) with its settings, and with BACKEND as the channel layer if given (the
same CONFIG, less the keys that layer does not take).

The sockets are grouped into workspaces of --group (default 5: the assigned expert and four
company watchers). Expert sockets send `chat.message` frames round-robin so that the total is
--rate frames/s; each frame is one database transaction (row lock, seq, event row) and one
group broadcast. Every socket of the workspace (the sender included) must receive every event
once, in seq order: the report counts dropped and reordered deliveries.

The database named by DATABASE_URL is migrated and filled by this script: use a scratch one.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tree import asgi_application, settings_module

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    """Production settings (DEBUG off: no per-query logging in daphne), shared with the daphne
    this script starts so its session cookies verify there."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module(ROOT))
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-workspace-not-a-secret-0123456789-abcdefghijklmnop")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def prepare(sockets: int, group: int) -> list[dict]:
    """Migrate, then make one funded company, sockets/group assignments (each with its own
    expert) and group-1 company watchers. Returns one dict per workspace with session cookies."""
    from decimal import Decimal

    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client

    from billing import services as billing_services
    from experts.models import ExpertProfile, Specialization
    from marketplace import services
    from marketplace.models import Membership, Organization, User
    from review_requests.models import Assignment, ReviewRequest

    call_command("migrate", verbosity=0)
    workspaces = sockets // group
    owner, _ = User.objects.get_or_create(
        email="bench-owner@inloop.test", defaults={"account_type": "company"}
    )
    organization = Organization.objects.filter(memberships__user=owner).first()
    if organization is None:
        organization = services.organization_create(owner=owner, name="Bench AI")
    billing_services.credit_grant(
        organization=organization, amount_cents=workspaces * 100_000, reason="bench"
    )
    watchers = [owner]
    for n in range(1, group - 1):
        user, created = User.objects.get_or_create(
            email=f"bench-watcher{n}@inloop.test", defaults={"account_type": "company"}
        )
        if created:
            Membership.objects.create(organization=organization, user=user, role="member")
        watchers.append(user)
    specialization = Specialization.objects.get(slug="medicine.radiology")

    def cookie(user) -> str:
        client = Client()
        client.force_login(user)
        return (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )

    watcher_cookies = [cookie(u) for u in watchers]
    result = []
    for n in range(workspaces):
        expert, _ = User.objects.get_or_create(
            email=f"bench-expert{n}@inloop.test", defaults={"account_type": "expert"}
        )
        profile, _ = ExpertProfile.objects.get_or_create(
            user=expert, defaults={"display_name": f"Bench expert {n}", "hourly_rate_cents": 6000}
        )
        review_request = ReviewRequest.objects.create(
            organization=organization,
            title=f"Bench {n}",
            specialization=specialization,
            content_type="text",
            content={"type": "text", "body": "Benchmark output text."},
            max_hours=Decimal("1"),
            status="in_review",
        )
        assignment = Assignment(
            review_request=review_request, expert=profile, rate_cents=6000, max_seconds=3600
        )
        assignment.hold_ref = f"assignment:{assignment.pk}"
        with transaction.atomic():
            assignment.save(force_insert=True)
            billing_services.hold_place(
                organization=organization, ref=assignment.hold_ref, amount_cents=7200
            )
        result.append(
            {"id": str(assignment.pk), "expert": cookie(expert), "watchers": watcher_cookies}
        )
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), to see whether daphne is the bottleneck."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """The one-minute load average: on a shared machine the figures mean little without it."""
    return Path("/proc/loadavg").read_text().split()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """One daphne to measure: `LABEL=[TREE][:BACKEND]` on the command line."""

    label: str
    tree: Path = ROOT
    backend: str = ""

    @classmethod
    def parse(cls, text: str) -> Server:
        label, sep, rest = text.partition("=")
        if not sep or not label:
            raise argparse.ArgumentTypeError(f"expected LABEL=[TREE][:BACKEND], got {text!r}")
        tree, _, backend = rest.partition(":")
        path = Path(tree).resolve() if tree else ROOT
        if not (path / "manage.py").exists():
            raise argparse.ArgumentTypeError(f"{path} is not a checkout (no manage.py)")
        return cls(label=label, tree=path, backend=backend)

    def python(self) -> str:
        own = self.tree / ".venv" / "bin" / "python"
        return str(own) if own.exists() else sys.executable


# Written next to the run's daphne log and put first on its PYTHONPATH: the tree's own settings
# with another channel layer. Only the CONFIG keys the layer's constructor takes are passed on.
BACKEND_SETTINGS = """\
import importlib, inspect, os

_base = importlib.import_module(os.environ["BENCH_BASE_SETTINGS"])
globals().update({k: v for k, v in vars(_base).items() if k.isupper()})
_module, _, _name = os.environ["BENCH_CHANNEL_LAYER"].rpartition(".")
_layer = getattr(importlib.import_module(_module), _name)
_accepts = inspect.signature(_layer).parameters
_config = CHANNEL_LAYERS["default"].get("CONFIG", {})
if not any(p.kind is p.VAR_KEYWORD for p in _accepts.values()):
    _config = {k: v for k, v in _config.items() if k in _accepts}
CHANNEL_LAYERS = {"default": {"BACKEND": os.environ["BENCH_CHANNEL_LAYER"], "CONFIG": _config}}

if os.environ.get("BENCH_GC_LOG"):  # --gc-log: each full collection's pause, in daphne's log
    import gc, sys, time

    _started = []

    def _full_collections(phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            _started[:] = [time.perf_counter()]
        elif _started:
            pause = (time.perf_counter() - _started[0]) * 1000
            sys.stderr.write(f"bench-gc full collection {pause:.1f} ms\\n")

    gc.callbacks.append(_full_collections)
"""


def start_daphne(server: Server, port: int, log, settings_dir: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings_module(server.tree)  # an older tree: marketplace.*
    if server.backend:
        (settings_dir / "bench_layer_settings.py").write_text(BACKEND_SETTINGS)
        env["BENCH_BASE_SETTINGS"] = env["DJANGO_SETTINGS_MODULE"]
        env["BENCH_CHANNEL_LAYER"] = server.backend
        env["DJANGO_SETTINGS_MODULE"] = "bench_layer_settings"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(settings_dir), str(server.tree), env.get("PYTHONPATH")) if p
        )
    process = subprocess.Popen(
        [server.python(), "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         asgi_application(server.tree)],
        cwd=server.tree, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("daphne did not start") from None
            time.sleep(0.2)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)
    received: int = 0
    reordered: int = 0
    errors: list[str] = field(default_factory=list)


async def run_load(
    workspaces: list[dict], port: int, rate: float, seconds: float, server_cpu
) -> dict:
    """`server_cpu()` reads daphne's CPU seconds: sampled around the frames only, so the
    handshakes do not count."""
    import aiohttp

    stats = Stats()
    origin = f"http://127.0.0.1:{port}"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def open_socket(assignment_id: str, cookie: str):
            ws = await session.ws_connect(
                f"ws://127.0.0.1:{port}/ws/assignments/{assignment_id}/",
                headers={"Cookie": cookie, "Origin": origin},
                max_msg_size=0,
            )
            while True:
                frame = await ws.receive_json()
                if frame["type"] == "snapshot":
                    return ws, frame["seq"]

        async def reader(ws, last_seq: int):
            try:
                await read(ws, last_seq)
            except (aiohttp.ClientError, ConnectionError) as exc:
                stats.errors.append(f"socket lost: {type(exc).__name__}")
            if ws.close_code is not None and ws.close_code != 1000:
                stats.errors.append(f"closed by the server with {ws.close_code}")

        async def read(ws, last_seq: int):
            nonlocal_last = last_seq
            async for message in ws:
                # Stamped before parsing: the client's own JSON work is not the server's latency.
                now = time.perf_counter()
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = message.json()
                if frame["type"] == "error":
                    stats.errors.append(frame["code"])
                if frame["type"] != "event":
                    continue
                if frame["seq"] != nonlocal_last + 1:
                    stats.reordered += 1
                nonlocal_last = frame["seq"]
                sent_at = stats.sent.get(frame["event"].get("body", ""))
                if sent_at is not None:
                    stats.latencies.append(now - sent_at)
                    stats.received += 1

        t0 = time.perf_counter()
        senders, sockets, readers = [], [], []
        opening = []
        for w in workspaces:
            opening.append(open_socket(w["id"], w["expert"]))
            opening.extend(open_socket(w["id"], c) for c in w["watchers"])
        per_workspace = 1 + len(workspaces[0]["watchers"])
        # Open in batches, like users arriving, so the handshake storm stays realistic. Each
        # socket is read from the moment it is open, as a browser does: a socket nobody reads
        # answers no ping, and daphne drops it (1006) 30 s after the first unanswered ping. With
        # 1,000 sockets on a busy machine the handshakes took over 20 s, and sockets opened
        # first were dropped while the frames were being sent.
        for start in range(0, len(opening), 50):
            for ws, seq in await asyncio.gather(*opening[start : start + 50]):
                if len(sockets) % per_workspace == 0:
                    senders.append(ws)
                sockets.append(ws)
                readers.append(asyncio.create_task(reader(ws, seq)))
        connect_seconds = time.perf_counter() - t0
        await asyncio.sleep(2)  # presence settles

        total = int(rate * seconds)
        interval = 1.0 / rate
        client_cpu_before = time.process_time()
        server_cpu_before = server_cpu()
        start = time.perf_counter()
        for n in range(total):
            target = start + n * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = f"bench-{n}"
            stats.sent[body] = time.perf_counter()
            try:
                await senders[n % len(senders)].send_json({"type": "chat.message", "body": body})
            except (aiohttp.ClientError, ConnectionError) as exc:
                # A socket the server closed: counted (its frames show up as dropped), not fatal.
                stats.errors.append(f"send failed: {type(exc).__name__}")
        send_seconds = time.perf_counter() - start
        expected = total * per_workspace
        deadline = time.perf_counter() + 15
        while stats.received < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        client_cpu = time.process_time() - client_cpu_before
        server_cpu_used = server_cpu() - server_cpu_before
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()

    lat = sorted(stats.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "sockets": len(sockets),
        "workspaces": len(workspaces),
        "connect_s": round(connect_seconds, 1),
        "frames": total,
        "frames_per_s": round(total / send_seconds, 1),
        "deliveries": stats.received,
        "expected": expected,
        "dropped": expected - stats.received,
        "reordered": stats.reordered,
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "p99_ms": round(pct(0.99), 1),
        "max_ms": round(lat[-1] * 1000, 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
        "errors": sorted(set(stats.errors)),
        "client_cpu_s": round(client_cpu, 1),
        "daphne_cpu_s": round(server_cpu_used, 1),
        "daphne_ms_per_frame": round(server_cpu_used / total * 1000, 2) if total else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--group", type=int, default=5, help="sockets per workspace")
    parser.add_argument("--rate", type=float, default=100, help="frames per second in total")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=0, help="daphne's port (default: any free)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each socket count")
    parser.add_argument("--log", default="/tmp/bench-workspace-daphne.log", help="daphne's log")
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="log each full garbage collection of a BACKEND server's daphne (and count them)",
    )
    parser.add_argument(
        "--server",
        type=Server.parse,
        action="append",
        metavar="LABEL=[TREE][:BACKEND]",
        help="a daphne to measure (repeatable; alternating rounds); default: this tree as is",
    )
    args = parser.parse_args()
    servers = args.server or [Server(label="this")]
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        sys.exit("Set DATABASE_URL (PostgreSQL, a scratch database) and REDIS_URL.")
    setup_django()
    print(
        "server  sockets workspaces frames/s deliveries dropped reordered"
        "  p50   p95   p99   max (ms)"
    )
    settings_dir = Path(tempfile.mkdtemp(prefix="bench-workspace-"))
    for _ in range(args.repeat):
        for sockets in args.sockets:
            workspaces = prepare(sockets, args.group)
            for server in servers:
                run_one(server, workspaces, args, settings_dir)


def run_one(server: Server, workspaces: list[dict], args, settings_dir: Path) -> None:
    load_before = load_average()
    port = args.port or free_port()
    if args.gc_log:
        os.environ["BENCH_GC_LOG"] = "1"
    log = open(args.log, "a")  # noqa: SIM115 - closed below
    log_start = log.tell()
    daphne = start_daphne(server, port, log, settings_dir)
    try:
        r = asyncio.run(
            run_load(
                workspaces,
                port,
                args.rate,
                args.seconds,
                functools.partial(cpu_seconds, daphne.pid),
            )
        )
    finally:
        daphne.terminate()
        try:
            daphne.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daphne.kill()
        log.close()
    pauses = ""
    if args.gc_log and server.backend:
        with open(args.log) as written:
            written.seek(log_start)
            ms = [float(line.split()[3]) for line in written if line.startswith("bench-gc full")]
        pauses = f"; full GCs {len(ms)}" + (f" (max {max(ms):.0f} ms)" if ms else "")
    print(
        f"{server.label:<7} {r['sockets']:>7} {r['workspaces']:>10} {r['frames_per_s']:>8} "
        f"{r['deliveries']:>10} {r['dropped']:>7} {r['reordered']:>9} "
        f"{r['p50_ms']!s:>5} {r['p95_ms']!s:>5} {r['p99_ms']!s:>5} {r['max_ms']!s:>5}"
        f"   connect {r['connect_s']} s; while sending: daphne CPU {r['daphne_cpu_s']} s "
        f"({r['daphne_ms_per_frame']} ms/frame), client CPU {r['client_cpu_s']} s; "
        f"load {load_before} -> {load_average()}{pauses}"
        f"{'  errors ' + ','.join(r['errors']) if r['errors'] else ''}",
        flush=True,
    )


if __name__ == "__main__":
    main()
