"""Routing benchmark (issue #17): batches of 100 requests with mixed confidences through a
10-rule oversight policy, against the plain batch create, on one daphne process with PostgreSQL,
in alternating rounds so both see the same machine; and the latency of a single routed create
against the plain one.

    flock /tmp/inloop-bench.lock env DATABASE_URL=postgres://postgres@127.0.0.1:5432/inloop \\
        REDIS_URL=redis://127.0.0.1:6379/9 BENCH_API_DB=inloop_bench_routing \\
        .venv/bin/python bench/routing.py [--duration 20] [--rounds 5] [--port 0]

Like bench/api.py (whose daphne start, seeding and measuring it reuses), the run creates its own
database ($BENCH_API_DB on DATABASE_URL's server) and drops it at the end. The policy is created
through the API; plain creates name no policy (the organization has no default, so they cost
what they did before policies). No worker runs: matching is enqueued (a task row per create)
for the items that are reviewed, never run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("BENCH_API_DB", "inloop_bench_routing")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import (
    ROOT,
    Result,
    daphne_command,
    drop_database,
    free_port,
    merge,
    payload,
    postgres_url,
    prepare_inloop,
    print_table,
    request,
    run_scenario,
    wait_http,
)

POLICY = "routing"
# Ten rules, the deciding ones last: most items walk most of the list, as in a real policy.
RULES = [
    {"name": "legal", "when": {"specialization": "law"}, "outcome": "review"},
    {"name": "old model", "when": {"model": "acme-med-1b"}, "outcome": "review"},
    {
        "name": "vip",
        "when": {"metadata": [{"field": "tier", "op": "in", "value": ["vip", "gold"]}]},
        "outcome": "review",
    },
    {
        "name": "flagged",
        "when": {"metadata": [{"field": "flagged", "op": "exists"}]},
        "outcome": "review",
    },
    {
        "name": "large claims",
        "when": {"metadata": [{"field": "amount", "op": "gt", "value": 100_000}]},
        "outcome": "review",
    },
    {
        "name": "cardiology",
        "when": {"specialization": "medicine.cardiology", "confidence_lt": 0.99},
        "outcome": "review",
    },
    {"name": "spot checks", "when": {"sample": 0.02}, "outcome": "review"},
    {
        "name": "doubtful",
        "when": {"confidence_lt": 0.6},
        "outcome": "review",
        "review": {"reviewers": 2},
    },
    {"name": "confident", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"},
    {"name": "middle", "when": {"confidence_gte": 0.6}, "outcome": "sample", "audit_rate": 0.1},
]


def confidence(n: int) -> float:
    """A spread over 0-1 weighted to the confident end, as a model's output is: about 15%
    below 0.6, 25% in 0.6-0.9 and 60% at or above 0.9."""
    step = (n * 7919) % 100
    if step < 15:
        return round(0.2 + step * 0.02, 3)
    if step < 40:
        return round(0.6 + (step - 15) * 0.012, 3)
    return round(0.9 + (step - 40) * 0.00165, 3)


def routed(n: int) -> dict:
    return {**payload(n), "confidence": confidence(n), "policy": POLICY}


def _policy_create(port: int, auth: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    status, body = request(
        conn, "POST", "/api/v1/oversight-policies", auth, {"name": POLICY, "rules": RULES}
    )
    conn.close()
    if status != 201:
        raise SystemExit(f"creating the policy answered {status}: {body[:500]!r}")


def _outcomes(port: int, auth: dict) -> dict[str, int]:
    """What one routed batch decided, by status (a check that the routing runs)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    items = [routed(10**8 + i) for i in range(100)]
    status, body = request(conn, "POST", "/api/v1/review-requests/batch", auth, {"requests": items})
    conn.close()
    assert status == 201, body[:500]
    counts: dict[str, int] = {}
    for item in json.loads(body)["data"]:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


def bench(args) -> tuple[list[Result], dict[str, int]]:
    database_url = postgres_url()
    env, key = prepare_inloop(database_url)
    port = free_port(args.port)
    server = subprocess.Popen(
        daphne_command(port),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    path = "/api/v1/review-requests"

    def one(make):
        return lambda conn, n: request(conn, "POST", path, auth, make(n))[0]

    def hundred(make):
        def call(conn, n):
            items = [make(n * 100 + i) for i in range(100)]
            return request(conn, "POST", f"{path}/batch", auth, {"requests": items})[0]

        return call

    scenarios = {
        "batch of 100, plain": (hundred(payload), 100),
        "batch of 100, routed (10 rules)": (hundred(routed), 100),
        "create one, plain": (one(payload), 1),
        "create one, routed (10 rules)": (one(routed), 1),
    }
    try:
        wait_http(port, "/bench/bare_view", server)
        _policy_create(port, auth)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for n in range(20):  # warm up: imports, the pool, the taxonomy and policy copies
            for call, _items in scenarios.values():
                assert call(conn, 10**7 + n) == 201, "create failed"
        conn.close()
        outcomes = _outcomes(port, auth)
        rounds: dict[str, list[Result]] = {name: [] for name in scenarios}
        for _ in range(args.rounds):
            for name, (call, items) in scenarios.items():
                rounds[name].append(
                    run_scenario(
                        name=name,
                        port=port,
                        pid=server.pid,
                        call=call,
                        clients=1,
                        duration=args.duration / args.rounds,
                        items_per_request=items,
                    )
                )
        return [merge(parts) for parts in rounds.values()], outcomes
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--port", type=int, default=0, help="port for daphne; default: any")
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    args = parser.parse_args()

    load_before = os.getloadavg()
    results, outcomes = bench(args)
    load_after = os.getloadavg()
    load = f"load {load_before[0]:.2f} -> {load_after[0]:.2f} (1 min), {os.cpu_count()} CPUs"
    print_table(results, f"Routing (daphne, 1 process, PostgreSQL), alternating rounds, {load}")
    by_name = {r.name: r for r in results}
    plain_batch = by_name["batch of 100, plain"]
    routed_batch = by_name["batch of 100, routed (10 rules)"]
    plain_one = by_name["create one, plain"]
    routed_one = by_name["create one, routed (10 rules)"]
    share = {status: f"{100 * count / 100:.0f}%" for status, count in sorted(outcomes.items())}
    print(f"\none routed batch decided: {share}")
    print(
        f"routed batch: {routed_batch.item_rate:.0f} items/s, "
        f"{routed_batch.item_rate / plain_batch.item_rate:.2f}x the plain batch "
        f"({plain_batch.item_rate:.0f} items/s); target 5,000 items/s and 1.5x"
    )
    print(
        f"single create p99: routed {routed_one.pct(99):.2f} ms, plain {plain_one.pct(99):.2f} ms "
        f"({routed_one.pct(99) / plain_one.pct(99):.2f}x; target at most 2x)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"routing": [r.row() for r in results], "outcomes": outcomes}, indent=2)
        )


if __name__ == "__main__":
    main()
