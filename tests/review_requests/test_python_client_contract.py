"""The Python client (clients/python) cannot drift from the server: every schema of the OpenAPI
document that Django builds has a pydantic model in the client with the same fields, types and
required fields; every operation is a client method that calls exactly that method and path (or
is listed as browser-session only); the result, review, annotation and webhook objects, which
the document leaves open, match what the server's own code makes."""

from __future__ import annotations

import os
import re
import typing

import httpx
import inloop
import pytest
from inloop import models

from inloop_site.api import api
from review_requests import results
from review_requests.webhooks import EVENT_TYPES

# Server schema name -> the client's model.
MODELS: dict[str, type] = {
    "AcceptOut": models.OfferAccepted,
    "AssignmentOut": models.Assignment,
    "BalanceOut": models.Balance,
    "BatchIn": models.BatchCreate,
    "BatchOut": models.ReviewRequestBatch,
    "CandidateIn": models.Candidate,
    "ContentIn": models.Content,
    "DeclineOut": models.OfferDeclined,
    "ErrorDetail": models.ErrorDetail,
    "ErrorOut": models.ErrorBody,
    "ExpertRefOut": models.ExpertRef,
    "ExportFiltersIn": models.ExportFilters,
    "ExportIn": models.ExportCreate,
    "ExportListOut": models.ExportPage,
    "ExportOut": models.Export,
    "ExportProgressOut": models.ExportProgress,
    "OfferListOut": models.OfferList,
    "OfferOut": models.Offer,
    "OfferRequestOut": models.OfferRequest,
    "ReviewRequestIn": models.ReviewRequestCreate,
    "ReviewRequestListOut": models.ReviewRequestPage,
    "ReviewRequestOut": models.ReviewRequest,
    "RubricItemIn": models.RubricItem,
    "SpecializationList": models.SpecializationList,
    "SpecializationOut": models.Specialization,
    "OversightOut": models.Oversight,
    "MetaCondition": models.MetaCondition,
    "When": models.When,
    "ReviewParams": models.ReviewParams,
    "Rule": models.Rule,
    "PolicyIn": models.PolicyCreate,
    "PolicyVersionIn": models.PolicyVersionCreate,
    "PolicyVersionOut": models.PolicyVersion,
    "PolicyOut": models.Policy,
    "PolicyListOut": models.PolicyList,
    "OversightSettingsIn": models.OversightSettingsUpdate,
    "OversightSettingsOut": models.OversightSettings,
    "ShareOut": models.Share,
    "CountsOut": models.OversightCounts,
    "WeekOut": models.OversightWeek,
    "RuleOut": models.OversightRuleFigures,
    "StatsOut": models.OversightStats,
    "SimulateIn": models.SimulationRequest,
    "OutcomesOut": models.SimulatedOutcomes,
    "RuleMatchOut": models.SimulatedRule,
    "CostBasisOut": models.CostBasis,
    "SimulationOut": models.Simulation,
    "EvidenceOut": models.Evidence,
    "EntryOut": models.EvidenceEntry,
    "AgreementOut": models.Agreement,
    "SpecializationAgreementOut": models.SpecializationAgreement,
    "MonthAgreementOut": models.MonthAgreement,
    "GoldenItemOut": models.GoldenItem,
    "GoldenItemListOut": models.GoldenItemPage,
    "GoldenMarkIn": models.GoldenMark,
}
# Query-parameter schemas: keywords or methods of the client, not models (tests below).
QUERY_SCHEMAS = {
    "ListFilters",
    "EvidenceQuery",
    "Period",
    "AgreementQuery",
    "ExportListFilters",
    "GoldenItemFilters",
}
SCHEMA_OF_MODEL = {model.__name__: name for name, model in MODELS.items()}

ITEM = {
    "title": "t",
    "specialization": "law.contracts",
    "content": {"type": "text", "body": "x"},
    "max_hours": 1,
}
RULE = {"name": "all", "outcome": "review"}
# Every operation a company's API key can call -> how the client calls it.
OPERATIONS = {
    ("get", "/api/v1/specializations"): lambda c: c.specializations(),
    ("get", "/api/v1/balance"): lambda c: c.balance(),
    ("post", "/api/v1/review-requests"): lambda c: c.review_requests.create(**ITEM),
    ("post", "/api/v1/review-requests/batch"): lambda c: c.review_requests.batch([ITEM]),
    ("get", "/api/v1/review-requests"): lambda c: next(iter(c.review_requests.list())),
    ("get", "/api/v1/review-requests/{review_request_id}"): lambda c: c.review_requests.get("x"),
    ("post", "/api/v1/review-requests/{review_request_id}/cancel"): lambda c: (
        c.review_requests.cancel("x")
    ),
    ("get", "/api/v1/oversight-policies"): lambda c: c.oversight_policies.list(),
    ("post", "/api/v1/oversight-policies"): lambda c: c.oversight_policies.create("p", [RULE]),
    ("get", "/api/v1/oversight-policies/{name}"): lambda c: c.oversight_policies.get("p"),
    ("put", "/api/v1/oversight-policies/{name}"): lambda c: c.oversight_policies.update(
        "p", [RULE]
    ),
    ("post", "/api/v1/oversight-policies/{name}/default"): lambda c: (
        c.oversight_policies.set_default("p")
    ),
    ("get", "/api/v1/oversight-settings"): lambda c: c.oversight_settings(),
    ("put", "/api/v1/oversight-settings"): lambda c: c.oversight_settings_update(
        auto_approved_webhook=True
    ),
    ("get", "/api/v1/oversight-policies/{name}/stats"): lambda c: c.oversight_policies.stats("p"),
    ("post", "/api/v1/oversight-policies/{name}/simulate"): lambda c: c.oversight_policies.simulate(
        "p", [RULE]
    ),
    ("post", "/api/v1/exports"): lambda c: c.exports.create("dpo"),
    ("get", "/api/v1/exports"): lambda c: next(iter(c.exports.list())),
    ("get", "/api/v1/exports/{export_id}"): lambda c: c.exports.get("x"),
    ("get", "/api/v1/exports/{export_id}/download"): lambda c: c.exports.download("x", os.devnull),
    ("get", "/api/v1/review-requests/{review_request_id}/evidence"): lambda c: (
        c.review_requests.evidence("x")
    ),
    ("get", "/api/v1/agreement"): lambda c: c.agreement(),
    ("get", "/api/v1/golden-items"): lambda c: next(iter(c.golden_items.list())),
    ("post", "/api/v1/review-requests/{review_request_id}/golden"): lambda c: (
        c.review_requests.mark_golden("x")
    ),
}
EVIDENCE = {
    "schema_name": "inloop.evidence.export",
    "schema_version": 1,
    "exported_at": "2026-12-07T10:00:00+00:00",
    "organization": {},
    "scope": {},
    "hash_rule": "",
    "chain_head": {},
    "latest_anchor": None,
    "entries": [],
}
# The evidence endpoint's `format` -> the client method that asks for it, and the query it sends.
EVIDENCE_FORMATS = {
    "json": (lambda c: c.review_requests.evidence("x"), {}),
    "pdf": (lambda c: c.review_requests.evidence_pdf("x"), {"format": "pdf"}),
}
# Experts use these from their browser session; an API key cannot call them.
SESSION_ONLY = {
    ("get", "/api/v1/me/offers"),
    ("post", "/api/v1/offers/{offer_id}/accept"),
    ("post", "/api/v1/offers/{offer_id}/decline"),
}


@pytest.fixture(scope="module")
def document() -> dict:
    return api.get_openapi_schema()


def _shape(schema: dict, *, client: bool):
    """A field's type, reduced to what both sides must agree on (no titles, formats or limits).
    A client model that the document has no schema for (the result, typed by the client where
    the server documents an open object) counts as an object."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if client:
            return ("ref", SCHEMA_OF_MODEL[name]) if name in SCHEMA_OF_MODEL else "object"
        return ("ref", name)
    if len(schema.get("allOf", ())) == 1:
        # ninja wraps a reference that has a default in a one-item allOf.
        return _shape(schema["allOf"][0], client=client)
    if "anyOf" in schema:
        return ("anyOf", frozenset(_shape(s, client=client) for s in schema["anyOf"]))
    if "enum" in schema:
        return ("enum", frozenset(schema["enum"]))
    kind = schema.get("type")
    if kind == "array":
        return ("array", _shape(schema.get("items", {}), client=client))
    return kind or "any"


def _fields(schema: dict, *, client: bool) -> dict:
    return {
        name: _shape(field, client=client) for name, field in schema.get("properties", {}).items()
    }


def test_every_schema_of_the_document_has_a_client_model(document):
    schemas = set(document["components"]["schemas"])
    assert schemas - QUERY_SCHEMAS == set(MODELS), "add a model to clients/python/.../models.py"


@pytest.mark.parametrize("schema_name", sorted(MODELS))
def test_the_client_model_has_the_schemas_fields_types_and_required(document, schema_name):
    server = document["components"]["schemas"][schema_name]
    client = MODELS[schema_name].model_json_schema()
    assert _fields(client, client=True) == _fields(server, client=False)
    assert set(client.get("required", [])) == set(server.get("required", []))


def test_the_list_filters_are_the_list_methods_keywords(document):
    filters = document["components"]["schemas"]["ListFilters"]["properties"]
    with inloop.Inloop(api_key="k", base_url="http://t") as client:
        hints = typing.get_type_hints(type(client.review_requests).list)
    assert set(filters) == set(hints) - {"return"}
    assert filters["limit"]["maximum"] == 100  # the client's default page size


def test_the_golden_items_filters_are_the_list_methods_keywords(document):
    filters = document["components"]["schemas"]["GoldenItemFilters"]["properties"]
    with inloop.Inloop(api_key="k", base_url="http://t") as client:
        hints = typing.get_type_hints(type(client.golden_items).list)
    assert set(filters) == set(hints) - {"return"}
    assert filters["limit"]["maximum"] == 100  # the client's default page size


def test_each_evidence_format_is_a_client_method(document):
    formats = document["components"]["schemas"]["EvidenceQuery"]["properties"]["format"]["enum"]
    assert set(formats) == set(EVIDENCE_FORMATS)
    for fmt, (call, params) in EVIDENCE_FORMATS.items():
        sent: list[httpx.Request] = []

        def handler(request, sent=sent, fmt=fmt):
            sent.append(request)
            return httpx.Response(200, json=EVIDENCE) if fmt == "json" else httpx.Response(200)

        with inloop.Inloop(
            api_key="k", base_url="http://t", transport=httpx.MockTransport(handler)
        ) as client:
            call(client)
        [request] = sent
        assert dict(request.url.params) == params, fmt


def test_every_operation_is_a_client_method_calling_that_path(document):
    operations = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert operations == set(OPERATIONS) | SESSION_ONLY

    class Stop(Exception):
        pass

    for (method, template), call in OPERATIONS.items():
        sent: list[httpx.Request] = []

        def handler(request, sent=sent):
            sent.append(request)
            raise Stop

        client = inloop.Inloop(
            api_key="k", base_url="http://t", transport=httpx.MockTransport(handler)
        )
        with pytest.raises(Stop):
            call(client)
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
        [request] = sent
        assert request.method.lower() == method and re.match(pattern, request.url.path), template


def test_result_review_and_annotation_models_match_the_consensus_the_server_computes():
    annotation = {"start": 0, "end": 4, "quote": "The ", "comment": "c", "severity": "minor"}
    reviews = [
        {
            "assignment_id": f"a{n}",
            "verdict": verdict,
            "corrected_output": "fixed",
            "summary": "s",
            "scores": {"accuracy": 4},
            "annotations": [annotation],
            "submitted_at": f"2026-12-03T10:0{n}:00+00:00",
        }
        for n, verdict in enumerate(["corrected", "corrected", "approved"])
    ]
    for made in (results.consensus(reviews[:1]), results.consensus(reviews)):
        assert set(made) == set(models.Result.model_fields)
        assert set(made["reviews"][0]) == set(models.Review.model_fields)
        assert set(made["annotations"][0]) <= set(models.Annotation.model_fields)
        parsed = models.Result.model_validate(made)
        assert parsed.model_dump(exclude_unset=True) == made  # nothing left as an extra


def test_webhook_event_model_matches_the_events_the_server_sends():
    assert set(typing.get_args(models.WebhookEventType)) == set(EVENT_TYPES.values())
    assert set(models.WebhookEvent.model_fields) == {"id", "type", "created", "data"}
