"""API benchmark: daphne serving the project on PostgreSQL (psycopg pool) and Redis, measured
with keep-alive HTTP clients, next to a bare Django JSON view on the same server (the ceiling)
and Label Studio with the same payloads (installed into its own virtualenv outside the project
on first use).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/api.py [--duration 10] [--label-studio /tmp/ls-venv]

The database named in DATABASE_URL is never touched: the run creates (and drops at the end) its
own database `inloop_bench_api` (or $BENCH_API_DB) on the same server. Scenarios, each for --duration seconds:
bare view (1 and 8 clients), single create (1 and 8 clients), batch create of 100, list a page
of 100, get one; the bare view and the single create alternate in --rounds rounds (default 5),
so both see the same machine. Server CPU per request is the daphne process's utime+stime from
/proc/<pid>/stat over the scenario divided by the requests served (PostgreSQL's and Redis's own
CPU are not included). Matching is enqueued per create (a task row) but no worker runs, so the
numbers are the API's own cost.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tree import asgi_application, settings_module

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# BENCH_API_DB: another name, so that two people benchmarking on one server (each with their
# own DATABASE_URL) do not drop each other's bench database.
BENCH_DB = os.environ.get("BENCH_API_DB", "inloop_bench_api")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def payload(n: int) -> dict:
    """One review request; the same data goes to Label Studio as a task."""
    return {
        "title": f"Radiology report summary, case {n}",
        "specialization": "medicine.radiology",
        "content": {
            "type": "text",
            "body": (
                "Findings: The lungs are clear without focal consolidation, effusion or "
                "pneumothorax. Heart size is normal. No acute osseous abnormality. "
            )
            * 4,
        },
        "prompt": "Summarize the chest X-ray report for the patient in plain language.",
        "model": "acme-med-7b",
        "max_hours": 1,
        "reviewers": 1,
        "metadata": {"case": n, "pipeline": "bench"},
    }


# Processes ----------------------------------------------------------------------------------


def free_port(preferred: int = 0) -> int:
    """`preferred` if given (engineers sharing a machine each own a port range), else any."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", preferred))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str]:
    # After the ")" the fields restart at index 0 = state (field 3): ppid is 4, utime 14, stime 15.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its descendants (a server may fork workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, IndexError):
            fields = _stat(current)
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        todo.extend(children.get(current, []))
    return total


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def recreate_database(database_url: str, name: str = BENCH_DB) -> str:
    import psycopg

    parts = urlsplit(database_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def analyze(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def drop_database(database_url: str, name: str = BENCH_DB) -> None:
    import psycopg

    parts = urlsplit(database_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SEED = """
from billing.services import credit_grant
from marketplace import services
from marketplace.models import User
user = User.objects.create_user(email="bench@example.test", password="x-Long-password-1", account_type="company")
org = services.organization_create(owner=user, name="Bench AI")
credit_grant(organization=org, amount_cents=10**12, reason="bench")
_, raw = services.api_key_create_for_seed(organization=org, name="bench")
print(raw)
"""


# Measuring ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    clients: int
    requests: int
    items: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms_per_request: float | None
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def item_rate(self) -> float:
        return self.items / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q / 100 * len(data)))]

    def row(self) -> dict:
        return {
            "scenario": self.name,
            "clients": self.clients,
            "requests": self.requests,
            "req_per_s": round(self.rate, 1),
            "items_per_s": round(self.item_rate, 1),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            "server_cpu_ms_per_req": (
                round(self.cpu_ms_per_request, 2) if self.cpu_ms_per_request is not None else None
            ),
            "errors": self.errors,
        }


def merge(parts: list[Result]) -> Result:
    """One result from rounds of the same scenario."""
    requests = sum(p.requests for p in parts)
    cpu = [p.cpu_ms_per_request * p.requests for p in parts if p.cpu_ms_per_request is not None]
    return Result(
        name=parts[0].name,
        clients=parts[0].clients,
        requests=requests,
        items=sum(p.items for p in parts),
        seconds=sum(p.seconds for p in parts),
        latencies_ms=[ms for p in parts for ms in p.latencies_ms],
        cpu_ms_per_request=sum(cpu) / requests if cpu and requests else None,
        errors=sum(p.errors for p in parts),
    )


Call = Callable[[http.client.HTTPConnection, int], int]


def run_scenario(
    *,
    name: str,
    port: int,
    pid: int | None,
    call: Call,
    clients: int,
    duration: float,
    items_per_request: int = 1,
    expect: tuple[int, ...] = (200, 201),
) -> Result:
    stop = time.monotonic() + duration
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(10**9))

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            with lock:
                n = next(counter)
            started = time.perf_counter()
            try:
                status = call(conn, n)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                bad += 1
                continue
            mine.append((time.perf_counter() - started) * 1000)
            if status not in expect:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    cpu_before = cpu_seconds(pid) if pid else None
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu = None
    if pid and latencies:
        cpu = (cpu_seconds(pid) - cpu_before) * 1000 / len(latencies)
    return Result(
        name=name,
        clients=clients,
        requests=len(latencies),
        items=len(latencies) * items_per_request,
        seconds=elapsed,
        latencies_ms=latencies,
        cpu_ms_per_request=cpu,
        errors=errors,
    )


def request(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict, body=None
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def print_table(results: list[Result], title: str) -> None:
    print(f"\n{title}")
    header = (
        f"{'scenario':<34}{'clients':>8}{'req/s':>9}{'items/s':>10}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'cpu ms/req':>12}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        cpu = f"{r.cpu_ms_per_request:.2f}" if r.cpu_ms_per_request is not None else "n/a"
        print(
            f"{r.name:<34}{r.clients:>8}{r.rate:>9.1f}{r.item_rate:>10.1f}"
            f"{r.pct(50):>9.2f}{r.pct(95):>9.2f}{r.pct(99):>9.2f}{cpu:>12}{r.errors:>8}"
        )


# Inloop ------------------------------------------------------------------------------------


def daphne_command(port: int, root: Path = ROOT) -> list[str]:
    return [PYTHON, "-m", *f"daphne -b 127.0.0.1 -p {port} {asgi_application(root)}".split()]


def prepare_inloop(database_url: str, tree: Path = ROOT, name: str = BENCH_DB) -> tuple[dict, str]:
    """A fresh bench database, migrated and seeded by `tree`'s own code: daphne's environment
    and the raw API key."""
    bench_url = recreate_database(database_url, name)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module(tree),
        "DATABASE_URL": bench_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "API_RATE_LIMIT_PER_MINUTE": "100000000",
        "INLOOP_BENCH": "1",
        "LOG_LEVEL": "WARNING",
    }
    manage = [PYTHON, str(tree / "manage.py")]
    print(f"migrating {name} ...", flush=True)
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=tree)
    subprocess.run([*manage, "createcachetable"], env=env, check=True, cwd=tree)
    key = (
        subprocess.run(
            [*manage, "shell", "-c", SEED],
            env=env,
            check=True,
            cwd=tree,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return env, key


def postgres_url() -> str:
    """DATABASE_URL, which must name PostgreSQL (the benchmarks create their own database on that
    server); exits with a message otherwise."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (the benchmark creates its own database there).")
    return database_url


def bench_inloop(args) -> list[Result]:
    database_url = postgres_url()
    env, key = prepare_inloop(database_url)
    bench_url = env["DATABASE_URL"]
    port = free_port(args.port)
    server = subprocess.Popen(
        daphne_command(port),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[Result] = []
    try:
        wait_http(port, "/bench/bare_view", server)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def bare(conn, n):
            return request(conn, "GET", "/bench/bare_view", {})[0]

        def create(conn, n):
            return request(conn, "POST", "/api/v1/review-requests", auth, payload(n))[0]

        def batch(conn, n):
            items = [payload(n * 100 + i) for i in range(100)]
            return request(
                conn, "POST", "/api/v1/review-requests/batch", auth, {"requests": items}
            )[0]

        def list_page(conn, n):
            return request(conn, "GET", "/api/v1/review-requests?limit=100", auth)[0]

        # Warm up (imports, pool, caches) and make sure everything answers as expected.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for n in range(30):
            assert create(conn, n) == 201, "create failed"
            assert bare(conn, n) == 200
        _status, body = request(conn, "GET", "/api/v1/review-requests?limit=1", auth)
        one_id = json.loads(body)["data"][0]["id"]
        conn.close()

        def get_one(conn, n):
            return request(conn, "GET", f"/api/v1/review-requests/{one_id}", auth)[0]

        d = args.duration
        pid = server.pid
        # The ceiling and the single create alternate in short rounds, so that a change in the
        # machine's load during the run hits both alike (their ratio is the target).
        for clients in (1, 8):
            rounds: dict[str, list[Result]] = {"bare JSON view (ceiling)": [], "create one": []}
            for _ in range(args.rounds):
                for name, call in (("bare JSON view (ceiling)", bare), ("create one", create)):
                    rounds[name].append(
                        run_scenario(
                            name=name,
                            port=port,
                            pid=pid,
                            call=call,
                            clients=clients,
                            duration=d / args.rounds,
                        )
                    )
            results.extend(merge(parts) for parts in rounds.values())
        results.append(
            run_scenario(
                name="batch create (100 per request)",
                port=port,
                pid=pid,
                call=batch,
                clients=1,
                duration=d,
                items_per_request=100,
            )
        )
        # The writes above added tens of thousands of rows to a fresh database; PostgreSQL's
        # autovacuum would analyze them within a minute or so (it is off on some machines, and
        # the planner then sorts the whole organization instead of walking rr_org_created).
        analyze(bench_url)
        results.append(
            run_scenario(
                name="list a page of 100", port=port, pid=pid, call=list_page, clients=1, duration=d
            )
        )
        results.append(
            run_scenario(name="get one", port=port, pid=pid, call=get_one, clients=1, duration=d)
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                drop_database(database_url)
    return results


def _start_daphne(port: int, env: dict, tree: Path) -> subprocess.Popen:
    # `python -m daphne` from `tree`: its packages come first on sys.path.
    return subprocess.Popen(
        daphne_command(port, tree),
        env={**env, "DJANGO_SETTINGS_MODULE": settings_module(tree)},
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def bench_compare(args) -> list[Result]:
    """This tree and `--compare-with` (another checkout), each migrated and seeded by its own code
    into a database of its own on one PostgreSQL server and served by its own daphne, measured in
    alternating rounds: bare view, create one and get one, with 1 and 8 clients, so a change in
    the machine's load hits both trees alike."""
    database_url = postgres_url()
    trees = {"this": ROOT, "other": Path(args.compare_with).resolve()}
    names = {"this": BENCH_DB, "other": BENCH_DB + "_other"}
    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    keys: dict[str, str] = {}
    one_ids: dict[str, str] = {}
    results: list[Result] = []
    try:
        for index, (label, tree) in enumerate(trees.items()):
            env, keys[label] = prepare_inloop(database_url, tree, names[label])
            port = free_port(args.port + index if args.port else 0)
            servers[label] = (port, _start_daphne(port, env, tree))
            wait_http(port, "/bench/bare_view", servers[label][1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            auth = _auth(keys[label])
            for n in range(30):
                request(conn, "POST", "/api/v1/review-requests", auth, payload(n))
            _status, body = request(conn, "GET", "/api/v1/review-requests?limit=1", auth)
            one_ids[label] = json.loads(body)["data"][0]["id"]
            conn.close()
        calls = {label: _compare_calls(_auth(keys[label]), one_ids[label]) for label in trees}
        for label, (port, _server) in servers.items():  # warm each tree's daphne
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for n in range(20):
                for call in calls[label].values():
                    call(warm, n)
            warm.close()
        for clients in (1, 8):
            rounds: dict[str, list[Result]] = {}
            for _ in range(args.rounds):
                for label, (port, server) in servers.items():
                    for name, call in calls[label].items():
                        rounds.setdefault(f"{label}: {name}", []).append(
                            run_scenario(
                                name=f"{label}: {name}",
                                port=port,
                                pid=server.pid,
                                call=call,
                                clients=clients,
                                duration=args.duration / args.rounds,
                            )
                        )
            results.extend(merge(parts) for parts in rounds.values())
    finally:
        for _port, server in servers.values():
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep_db:
            for name in names.values():
                with contextlib.suppress(Exception):
                    drop_database(database_url, name)
    return results


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _compare_calls(auth: dict[str, str], one_id: str) -> dict[str, Call]:
    return {
        "bare JSON view": lambda c, n: request(c, "GET", "/bench/bare_view", {})[0],
        "create one": lambda c, n: request(c, "POST", "/api/v1/review-requests", auth, payload(n))[
            0
        ],
        "get one": lambda c, n: request(c, "GET", f"/api/v1/review-requests/{one_id}", auth)[0],
    }


# Label Studio --------------------------------------------------------------------------------


LABEL_STUDIO = "label-studio==1.23.2"
# Label Studio 1.23.2 asks for sentry-sdk>=2.16 and passes it options that sentry-sdk 3.0 (December
# 2026) no longer takes: `label-studio start` exits with "Unknown option 'send_default_pii'".
LABEL_STUDIO_PINS = ("sentry-sdk<3",)


def install_label_studio(venv: Path) -> str:
    """Install Label Studio into its own virtualenv outside the project (a few minutes, once);
    an empty string when it worked, else what went wrong."""
    print(f"installing {LABEL_STUDIO} into {venv} (once; a few minutes) ...", flush=True)
    for step in (
        ["python3", "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", LABEL_STUDIO, *LABEL_STUDIO_PINS],
    ):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            return f"Label Studio could not be installed in {venv}: {' '.join(step)}: {tail}"
    return ""


def bench_label_studio(args) -> tuple[list[Result], str]:
    """Label Studio's own `label-studio start` (SQLite, analytics off) from a throwaway venv."""
    venv = Path(args.label_studio)
    exe = venv / "bin" / "label-studio"
    if not exe.exists():
        problem = install_label_studio(venv)
        if problem:
            return [], problem
    home = Path(tempfile.mkdtemp(prefix="ls-bench-"))
    port = free_port(args.port + 1 if args.port else 0)
    token = "benchtoken0123456789abcdef0123456789abcd"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")
    }
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(home),
            "COLLECT_ANALYTICS": "false",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "false",
            "LOG_LEVEL": "ERROR",
            "DEBUG": "false",
        }
    )
    server = subprocess.Popen(
        [
            str(exe),
            "start",
            "--no-browser",
            "--port",
            str(port),
            "--internal-host",
            "127.0.0.1",
            "--username",
            "bench@example.test",
            "--password",
            "x-Long-password-1",
            "--user-token",
            token,
            "--data-dir",
            str(home),
        ],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[Result] = []
    try:
        try:
            wait_http(port, "/health", server, timeout=300)
        except (OSError, RuntimeError) as exc:
            return [], f"Label Studio did not start: {exc}"
        # Label Studio 1.2x disables legacy tokens for new organizations; switch them on as its
        # organization settings page would (the bench then authenticates with that token).
        import sqlite3

        with contextlib.closing(sqlite3.connect(home / "label_studio.sqlite3")) as db:
            db.execute("UPDATE jwt_auth_jwtsettings SET legacy_api_tokens_enabled = 1")
            db.commit()
        auth = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        status, body = request(
            conn,
            "POST",
            "/api/projects",
            auth,
            {
                "title": "bench",
                "label_config": (
                    '<View><Text name="text" value="$body"/>'
                    '<Choices name="verdict" toName="text">'
                    '<Choice value="approved"/><Choice value="rejected"/></Choices></View>'
                ),
            },
        )
        if status not in (200, 201):
            return [], f"Label Studio refused the project ({status}): {body[:200]!r}"
        project = json.loads(body)["id"]
        conn.close()

        def task(n: int) -> dict:
            p = payload(n)
            return {"title": p["title"], "body": p["content"]["body"], "meta": p["metadata"]}

        def create(conn, n):
            return request(conn, "POST", "/api/tasks", auth, {"project": project, "data": task(n)})[
                0
            ]

        def bulk(conn, n):
            tasks = [{"data": task(n * 100 + i)} for i in range(100)]
            return request(conn, "POST", f"/api/projects/{project}/import", auth, tasks)[0]

        def list_page(conn, n):
            return request(conn, "GET", f"/api/tasks?project={project}&page_size=100", auth)[0]

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for n in range(5):
            status = create(conn, n)
            if status not in (200, 201):
                return [], f"Label Studio refused a task ({status})"
        conn.close()
        # The CPU of the process tree that serves requests: label-studio start runs one process.
        pid = server.pid
        d = args.duration
        for clients in (1, 8):
            results.append(
                run_scenario(
                    name="LS create one task",
                    port=port,
                    pid=pid,
                    call=create,
                    clients=clients,
                    duration=d,
                )
            )
        results.append(
            run_scenario(
                name="LS bulk import (100 per request)",
                port=port,
                pid=pid,
                call=bulk,
                clients=1,
                duration=d,
                items_per_request=100,
            )
        )
        results.append(
            run_scenario(
                name="LS list a page of 100",
                port=port,
                pid=pid,
                call=list_page,
                clients=1,
                duration=d,
            )
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(home, ignore_errors=True)
    return results, ""


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument(
        "--label-studio",
        default="/tmp/ls-venv",
        help="virtualenv for Label Studio, installed there if missing ('' to skip)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port for daphne (Label Studio gets the next one); default: any free port",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="the bare view and the single create alternate in this many rounds per client count",
    )
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    parser.add_argument(
        "--compare-with",
        default="",
        metavar="PATH",
        help="another checkout of the project: serve it from a second daphne and measure both "
        "trees in alternating rounds (bare view, create one, get one); nothing else runs",
    )
    args = parser.parse_args()

    if args.compare_with:
        both = bench_compare(args)
        print_table(both, f"this tree vs {args.compare_with}, alternating rounds, load {_load()}")
        by_name = {(r.name, r.clients): r for r in both}
        for clients in (1, 8):
            for label in ("this", "other"):
                bare = by_name.get((f"{label}: bare JSON view", clients))
                create = by_name.get((f"{label}: create one", clients))
                if bare and create and bare.rate:
                    print(
                        f"{label}: create / bare view, {clients} client(s): "
                        f"{100 * create.rate / bare.rate:.0f}%"
                    )
        if args.json:
            Path(args.json).write_text(json.dumps({"compare": [r.row() for r in both]}, indent=2))
        return

    ours = bench_inloop(args)
    print_table(ours, "Inloop (daphne, 1 process, PostgreSQL with psycopg pool, Redis)")
    bare = {r.clients: r for r in ours if r.name.startswith("bare")}
    create = {r.clients: r for r in ours if r.name == "create one"}
    for clients in (1, 8):
        if clients in bare and clients in create:
            share = 100 * create[clients].rate / bare[clients].rate
            print(f"create / bare view, {clients} client(s): {share:.0f}%")

    theirs: list[Result] = []
    note = "skipped (--label-studio '')"
    if args.label_studio:
        theirs, note = bench_label_studio(args)
    if theirs:
        print_table(theirs, "Label Studio (label-studio start, SQLite, analytics off)")
        ours_batch = next(r for r in ours if r.name.startswith("batch"))
        ls_bulk = next((r for r in theirs if "bulk" in r.name), None)
        if ls_bulk and ls_bulk.item_rate:
            print(
                f"batch create vs Label Studio bulk import: "
                f"{ours_batch.item_rate / ls_bulk.item_rate:.1f}x items/s"
            )
    else:
        print(f"\nLabel Studio: {note}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "inloop": [r.row() for r in ours],
                    "label_studio": [r.row() for r in theirs],
                    "label_studio_note": note,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
