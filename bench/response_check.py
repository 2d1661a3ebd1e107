"""What ninja's response validation costs for a page of 100 review requests (the list
endpoint's largest answer), with the output schemas as plain pydantic models (what
review_requests/schemas.py uses) and as their ninja.Schema twins (the same fields).

    .venv/bin/python bench/response_check.py [--rounds 7] [--calls 100]

One NinjaAPI with three GET operations returning the same pre-built page: without a response
schema (the baseline: ninja only renders the JSON), with the pydantic models, and with the
Schema twins. Each is called through ninja's own TestClient (the operation's real path:
validate, dump, render); the rounds alternate the three, and each figure is the median over the
rounds of (milliseconds per call - the baseline's), i.e. the validation and dump alone. No
database and no server: the page is built in memory in the contract's shape, and is checked
against ReviewRequestListOut before anything is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inloop_site.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from ninja import NinjaAPI, Schema  # noqa: E402
from ninja.testing import TestClient  # noqa: E402
from pydantic import BaseModel, ConfigDict, create_model  # noqa: E402

from review_requests.schemas import ReviewRequestListOut  # noqa: E402

PAGE = 100


class _OpenSchema(Schema):
    model_config = ConfigDict(extra="allow")


def schema_twin(model: type[BaseModel], made: dict) -> type[Schema]:
    """`model` with the same fields (nested models twinned too) on ninja.Schema."""
    if model not in made:
        base = _OpenSchema if model.model_config.get("extra") == "allow" else Schema
        fields = {
            name: (_twin_type(info.annotation, made), info)
            for name, info in model.model_fields.items()
        }
        made[model] = create_model(model.__name__ + "Schema", __base__=base, **fields)
    return made[model]


def _twin_type(annotation, made: dict):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return schema_twin(annotation, made)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return list[_twin_type(args[0], made)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_twin_type(arg, made) for arg in args)]  # noqa: UP007
    return annotation


def page_of_requests() -> dict:
    def assignment(n: int, k: int) -> dict:
        return {
            "id": f"a-{n}-{k}",
            "status": "submitted" if k == 0 else "in_progress",
            "expert": {"id": f"e-{k}", "display_name": f"Dr. Expert {k}"},
            "rate_cents": 9_000,
            "billed_seconds": 1_200,
            "max_seconds": 7_200,
            "cost_cents": 3_300,
            "accepted_at": "2026-12-01T10:00:00+00:00",
            "submitted_at": "2026-12-01T11:00:00+00:00" if k == 0 else None,
        }

    def review_request(n: int) -> dict:
        return {
            "id": f"rr-{n}",
            "status": "in_review",
            "title": f"Radiology report summary, case {n}",
            "specialization": "medicine.radiology",
            "created_at": "2026-12-01T09:00:00+00:00",
            "updated_at": "2026-12-01T11:00:00+00:00",
            "completed_at": None,
            "deadline": None,
            "reviewers": 2,
            "max_hours": 2.0,
            "max_hourly_rate_cents": 15_000,
            "waiting_for_funds": False,
            "metadata": {"case": str(n), "pipeline": "nightly"},
            "assignments": [assignment(n, 0), assignment(n, 1)],
            "cost_cents": 3_300,
            "currency": "usd",
            "result": None,
        }

    return {"data": [review_request(n) for n in range(PAGE)], "next_cursor": "abc"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100, help="calls per variant per round")
    args = parser.parse_args()

    page = page_of_requests()
    ReviewRequestListOut.model_validate(page)  # the page is what the endpoint sends
    twin = schema_twin(ReviewRequestListOut, {})

    api = NinjaAPI(urls_namespace="bench_response_check")

    @api.get("/none")
    def without_schema(request):
        return page

    @api.get("/pydantic", response=ReviewRequestListOut)
    def with_pydantic(request):
        return page

    @api.get("/schema", response=twin)
    def with_ninja_schema(request):
        return page

    client = TestClient(api)
    variants = ("/none", "/pydantic", "/schema")
    for path in variants:  # warm up, and check that all three send the same JSON
        assert client.get(path).json() == client.get("/none").json(), path
    per_call: dict[str, list[float]] = {path: [] for path in variants}
    for _ in range(args.rounds):
        for path in variants:
            started = time.perf_counter()
            for _ in range(args.calls):
                client.get(path)
            per_call[path].append((time.perf_counter() - started) * 1000 / args.calls)
    baseline = per_call["/none"]

    def extra_ms(path: str) -> float:
        return statistics.median(t - b for t, b in zip(per_call[path], baseline, strict=True))

    load = os.getloadavg()[0]
    print(f"page of {PAGE} review requests (2 assignments each); load average {load:.2f}")
    print(f"  render only (no response schema): {statistics.median(baseline):6.2f} ms per call")
    print(f"  validation + dump, pydantic BaseModel: {extra_ms('/pydantic'):6.2f} ms")
    print(f"  validation + dump, ninja.Schema:       {extra_ms('/schema'):6.2f} ms")


if __name__ == "__main__":
    main()
