"""Instructions per API request, counted by valgrind: a measure that does not move with the
machine's load (wall-clock figures here move by half between runs), for comparing two versions
of the code.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/api_instructions.py [--requests 200] [bare create get ...]

Starts daphne (set up as bench/api.py sets it up, on its own database `inloop_bench_instr`)
under `valgrind --tool=callgrind` (all threads), and per scenario: 30 requests to warm up, then
the counters are zeroed (`callgrind_control -z`), --requests sequential requests with one
keep-alive client, and the counters dumped (`callgrind_control -d`). Prints millions of
instructions per request. Needs valgrind (Debian's package); about a minute per scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api as bench

bench.BENCH_DB = "inloop_bench_instr"

SCENARIOS = ("bare", "create", "get", "list", "batch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Checked below: argparse checks what `nargs="*"` leaves (a list) against `choices` as one value.
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: bare create get)"
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    database_url = bench.postgres_url()
    if not any((Path(p) / "valgrind").exists() for p in os.environ["PATH"].split(":")):
        sys.exit("valgrind is not installed (apt-get install valgrind).")
    env, key = bench.prepare_inloop(database_url)
    port = bench.free_port(args.port)
    out = Path(tempfile.mkdtemp(prefix="inloop-callgrind-"))
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}/callgrind.out.%p",
            *bench.daphne_command(port),
        ],
        env=env,
        cwd=bench.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bench.wait_http(port, "/bench/bare_view", server, timeout=300)
        print(f"\nInstructions per request (daphne under callgrind, {args.requests} requests each)")
        for name in args.scenarios or SCENARIOS[:3]:
            print(f"{name:<8}{count(server.pid, port, key, name, args.requests, out):>10.2f} M")
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        bench.drop_database(database_url)


def count(pid: int, port: int, key: str, name: str, requests: int, out: Path) -> float:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    calls = {
        "bare": lambda n: bench.request(conn, "GET", "/bench/bare_view", {}),
        "create": lambda n: bench.request(
            conn, "POST", "/api/v1/review-requests", auth, bench.payload(n)
        ),
        "batch": lambda n: bench.request(
            conn,
            "POST",
            "/api/v1/review-requests/batch",
            auth,
            {"requests": [bench.payload(n * 100 + i) for i in range(100)]},
        ),
        "list": lambda n: bench.request(conn, "GET", "/api/v1/review-requests?limit=100", auth),
    }
    if name == "get":
        _status, body = calls["create"](0)
        one = json.loads(body)["id"]
        calls["get"] = lambda n: bench.request(conn, "GET", f"/api/v1/review-requests/{one}", auth)
    call = calls[name]
    for n in range(30):
        status, body = call(n)
        assert status in (200, 201), (name, status, body[:300])
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    for n in range(requests):
        call(1000 + n)
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    conn.close()
    time.sleep(1)
    newest = max(out.glob("callgrind.out.*"), key=lambda p: p.stat().st_mtime)
    for line in newest.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) / requests / 1e6
    raise RuntimeError(f"no totals in {newest}")


if __name__ == "__main__":
    main()
